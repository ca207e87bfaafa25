/**
 * The `audit` section of the node configuration. Every field has a default, so a configuration
 * without the section validates; the WORM archive is off until `archive` is given.
 */
import { z } from 'zod';

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
