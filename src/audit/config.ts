/**
 * The `audit` section of the node configuration. Every field has a default, so a configuration
 * without the section validates; the WORM archive is off until `archive` is given.
 */
import { z } from 'zod';

/**
 * S3 storage classes an archived object may be written in. GLACIER (Flexible Retrieval) and
 * DEEP_ARCHIVE objects, and INTELLIGENT_TIERING ones that moved to its archive tiers, must be
 * restored before they can be read (`bulwark audit verify --from-archive --restore`); the others
 * read at once. Object Lock applies to every class.
 */
export const S3_STORAGE_CLASSES = ['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE'] as const;
export type S3StorageClass = (typeof S3_STORAGE_CLASSES)[number];
const storageClass = z.enum(S3_STORAGE_CLASSES);

export const archiveConfigSchema = z
  .object({
    /** S3-compatible endpoint; absent means AWS S3 itself (from region). */
    endpoint: z.string().url().optional(),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 characters a-z 0-9 . -)'),
    region: z.string().min(1).default('us-east-1'),
    /** Key prefix, e.g. "bulwark/prod-1/"; a trailing slash is added when missing. */
    prefix: z.string().max(512).default(''),
    /** Object Lock COMPLIANCE retention from the moment of upload (SEC 17a-4(f): 6 years). */
    retentionYears: z.number().int().min(1).max(100).default(6),
    forcePathStyle: z.boolean().default(false),
    /** How often sealed segments and new checkpoints are uploaded. */
    intervalSeconds: z.number().int().min(5).max(86_400).default(300),
    /**
     * Storage class of the sealed journal segments: S3 Glacier Deep Archive by default (the
     * requirements' backup tier: the bulk of the record, read only by an examination, after a
     * restore of up to 48 hours). An S3-compatible server without archive tiers (MinIO) needs
     * STANDARD here.
     */
    segmentStorageClass: storageClass.default('DEEP_ARCHIVE'),
    /**
     * Storage class of the signed checkpoints and public keys: small, and what an examiner reads
     * first (the signed roots the restored segments must reproduce), so readable at once.
     */
    checkpointStorageClass: storageClass.default('STANDARD'),
  })
  .strict();

export const auditConfigSchema = z
  .object({
    checkpoint: z
      .object({
        /** A signed checkpoint after this many new records... */
        everyRecords: z.number().int().min(1).max(100_000_000).default(100_000),
        /** ...or after this many seconds with new records, whichever comes first. */
        everySeconds: z.number().int().min(1).max(86_400).default(60),
      })
      .strict()
      .default({ everyRecords: 100_000, everySeconds: 60 }),
    /**
     * PEM (PKCS#8) Ed25519 private key that signs checkpoints. Also settable as
     * BULWARK_AUDIT_KEY_FILE, or the PEM itself in BULWARK_AUDIT_KEY. In dev, when none is given,
     * one is generated under <dataDir>/audit/ on first start; other environments refuse to start.
     */
    keyFile: z.string().min(1).optional(),
    archive: archiveConfigSchema.optional(),
  })
  .strict();

export type AuditConfig = z.infer<typeof auditConfigSchema>;
export type ArchiveConfig = z.infer<typeof archiveConfigSchema>;

export const AUDIT_DEFAULTS: AuditConfig = { checkpoint: { everyRecords: 100_000, everySeconds: 60 } };
