/**
 * WORM archive: sealed journal segments, signed checkpoints and the public keys go to an
 * S3-compatible bucket with Object Lock in COMPLIANCE mode (SEC 17a-4(f)), each object retained
 * until upload time + retentionYears. In COMPLIANCE mode nobody, the root account included, can
 * delete or overwrite a locked object version before that date.
 *
 * Layout under the configured prefix:
 *   journal/<20-digit first seq>.seg            a sealed segment, byte for byte
 *   checkpoints/<20-digit tree size>-<ts>.json   one signed checkpoint (its checkpoints.jsonl line)
 *   keys/<keyId>.pem                             a checkpoint-signing public key
 *
 * Storage classes: segments go to `segmentStorageClass` (S3 Glacier Deep Archive by default),
 * checkpoints and keys to `checkpointStorageClass` (STANDARD). An object in an archive class must
 * be restored before it can be read: `download` says which ones are not readable yet and, when
 * asked, requests their restore (RestoreObject), so a second run some hours later reads them.
 *
 * Each run lists what is already there and uploads only what is missing, so it is idempotent and
 * resumes after a crash or an outage (a PUT either creates the whole object or nothing). An
 * object that exists with a different size is never overwritten: the run stops with an error.
 * The active (last) segment is not archived until the journal seals it.
 *
 * Each run also reports the archive's confirmed high-water mark (archivedThroughSeq): the highest
 * seq such that every journal record up to it is in a sealed segment the archive holds. The trail
 * journals it in its `audit.archived` note, and the database projects it into
 * audit_archive_state, below which (and past two years) audit_log partitions may be dropped.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { checkpointLine, readCheckpointFile } from './checkpoint.js';
import type { ArchiveConfig, S3StorageClass } from './config.js';
import { auditDir, publicKeysDir } from './keys.js';
import { CHECKPOINTS_FILE } from './paths.js';

const SEGMENT_NAME_RE = /^(\d{20})\.seg$/;

export interface ArchiveRun {
  uploaded: { key: string; bytes: number; storageClass: S3StorageClass }[];
  uploadedBytes: number;
  /** Objects found already archived. */
  present: number;
  retainUntil: string;
  /**
   * Every journal record up to this seq is in a sealed segment the archive holds after this run
   * (found there or uploaded now), from the journal's first segment on without a gap; 0 when none.
   */
  archivedThroughSeq: number;
}

/** How `download` asks for archived objects to be restored (S3 RestoreObject). */
export interface RestoreOptions {
  /** How long the restored copy stays readable. */
  days: number;
  /** Retrieval tier: Deep Archive takes up to 12 h (Standard) or 48 h (Bulk); Expedited is Glacier only. */
  tier: 'Standard' | 'Bulk' | 'Expedited';
}

export type UnreadableState = 'not restored' | 'restore in progress' | 'restore requested';

/** Objects `download` could not read because they sit in an archive tier; nothing was verified. */
export class ArchiveNotRestoredError extends Error {
  constructor(
    readonly objects: { key: string; storageClass: string; state: UnreadableState }[],
    readonly restore: RestoreOptions | undefined,
  ) {
    const count = (st: UnreadableState) => objects.filter((o) => o.state === st).length;
    const parts = (['not restored', 'restore in progress', 'restore requested'] as const).filter((st) => count(st) > 0).map((st) => `${count(st)} ${st}`);
    const first = objects.slice(0, 3).map((o) => `${o.key} (${o.storageClass})`).join(', ');
    const next =
      count('not restored') > 0
        ? 'run again with --restore to request their restore, then once more when it has completed'
        : `run again once the restore has completed (${restore?.tier === 'Bulk' ? 'up to 48 hours for Deep Archive' : 'up to 12 hours for Deep Archive'})`;
    super(`${objects.length} archived object(s) are in an archive storage class and not readable yet (${parts.join(', ')}; ${first}${objects.length > 3 ? ', ...' : ''}): ${next}`);
    this.name = 'ArchiveNotRestoredError';
  }
}

/** An object as the archive lists it. */
export interface ArchivedObject {
  size: number;
  storageClass: string;
}

/** Classes whose objects are read only after a restore (INTELLIGENT_TIERING's archive tiers show up as InvalidObjectState). */
const RESTORE_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE']);

export interface ArchiverOptions {
  /** Extra S3 client settings (credentials, request handler); tests point it at a local server. */
  clientConfig?: Partial<S3ClientConfig>;
  now?: () => Date;
}

export function normalizePrefix(prefix: string): string {
  if (prefix === '') return '';
  const p = prefix.replace(/^\/+/, '');
  return p.endsWith('/') ? p : `${p}/`;
}

/** now + years, same month/day/time UTC (29 Feb becomes 1 Mar in a non-leap year). */
export function retainUntil(now: Date, years: number): Date {
  const d = new Date(now.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d;
}

export async function createS3Client(cfg: ArchiveConfig, extra: Partial<S3ClientConfig> = {}): Promise<S3Client> {
  // Loaded on demand: the SDK is large and only archive runs need it.
  const { S3Client } = await import('@aws-sdk/client-s3');
  return new S3Client({
    region: cfg.region,
    ...(cfg.endpoint !== undefined ? { endpoint: cfg.endpoint } : {}),
    forcePathStyle: cfg.forcePathStyle,
    // We send Content-MD5 and x-amz-checksum-sha256 ourselves (Object Lock requires one of them);
    // no SDK-added CRC32 trailers, which some S3-compatible servers do not understand.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...extra,
  });
}

interface Candidate {
  key: string;
  contentType: string;
  storageClass: S3StorageClass;
  size: () => number;
  load: () => Buffer;
}

export class AuditArchiver {
  readonly bucket: string;
  readonly prefix: string;
  readonly intervalMs: number;
  private client: S3Client | undefined;

  constructor(
    private readonly cfg: ArchiveConfig,
    private readonly dataDir: string,
    private readonly opts: ArchiverOptions = {},
  ) {
    this.bucket = cfg.bucket;
    this.prefix = normalizePrefix(cfg.prefix);
    this.intervalMs = cfg.intervalSeconds * 1000;
  }

  private async s3(): Promise<S3Client> {
    this.client ??= await createS3Client(this.cfg, this.opts.clientConfig);
    return this.client;
  }

  /** The local journal's segment file names, oldest first (the last one is the active segment). */
  private segmentNames(): string[] {
    try {
      return fs.readdirSync(path.join(this.dataDir, 'journal')).filter((n) => SEGMENT_NAME_RE.test(n)).sort();
    } catch {
      return [];
    }
  }

  /**
   * The highest seq such that every record from seq 1 up to it is in a segment in `held` (keys
   * the archive holds). A segment's last seq is the next segment's first seq - 1, the next being
   * known from the archive or the local journal; a segment with no known successor (the active
   * one) counts for nothing.
   */
  private archivedThrough(held: Iterable<string>, localNames: readonly string[]): number {
    const dir = `${this.prefix}journal/`;
    const archived = new Set<number>();
    for (const key of held) {
      if (!key.startsWith(dir)) continue;
      const m = SEGMENT_NAME_RE.exec(key.slice(dir.length));
      if (m !== null) archived.add(Number(m[1]));
    }
    const firsts = new Set<number>(archived);
    for (const n of localNames) firsts.add(Number(SEGMENT_NAME_RE.exec(n)![1]));
    const sorted = [...firsts].sort((a, b) => a - b);
    let through = 0;
    if (sorted[0] !== 1) return 0;
    for (let i = 0; i + 1 < sorted.length && archived.has(sorted[i]!); i++) through = sorted[i + 1]! - 1;
    return through;
  }

  /** What should be in the archive now, by key. */
  candidates(names: readonly string[] = this.segmentNames()): Candidate[] {
    const out: Candidate[] = [];
    const journalDir = path.join(this.dataDir, 'journal');
    // Every segment but the last is sealed (read-only, never written again).
    for (const name of names.slice(0, -1)) {
      out.push({ key: `${this.prefix}journal/${name}`, contentType: 'application/octet-stream', storageClass: this.cfg.segmentStorageClass, size: () => fs.statSync(path.join(journalDir, name)).size, load: () => fs.readFileSync(path.join(journalDir, name)) });
    }
    const adir = auditDir(this.dataDir);
    for (const { checkpoint: c } of readCheckpointFile(path.join(adir, CHECKPOINTS_FILE)).checkpoints) {
      const line = Buffer.from(checkpointLine(c), 'utf8');
      out.push({
        key: `${this.prefix}checkpoints/${String(c.treeSize).padStart(20, '0')}-${c.timestamp}.json`,
        contentType: 'application/json',
        storageClass: this.cfg.checkpointStorageClass,
        size: () => line.length,
        load: () => line,
      });
    }
    let keys: string[] = [];
    try {
      keys = fs.readdirSync(publicKeysDir(this.dataDir)).filter((n) => /^[0-9a-f]{16}\.pem$/.test(n));
    } catch {
      keys = [];
    }
    for (const k of keys) {
      const file = path.join(publicKeysDir(this.dataDir), k);
      out.push({ key: `${this.prefix}keys/${k}`, contentType: 'application/x-pem-file', storageClass: this.cfg.checkpointStorageClass, size: () => fs.statSync(file).size, load: () => fs.readFileSync(file) });
    }
    return out;
  }

  /** Objects under the prefix: key -> size and storage class. */
  async list(): Promise<Map<string, ArchivedObject>> {
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const s3 = await this.s3();
    const out = new Map<string, ArchivedObject>();
    let token: string | undefined;
    do {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ...(token !== undefined ? { ContinuationToken: token } : {}) }));
      for (const o of r.Contents ?? []) if (o.Key !== undefined) out.set(o.Key, { size: o.Size ?? 0, storageClass: o.StorageClass ?? 'STANDARD' });
      token = r.IsTruncated === true ? r.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out;
  }

  /** Uploads whatever is missing. Throws on the first failure (the next run resumes). */
  async runOnce(): Promise<ArchiveRun> {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const s3 = await this.s3();
    const now = this.opts.now?.() ?? new Date();
    const until = retainUntil(now, this.cfg.retentionYears);
    const existing = await this.list();
    const names = this.segmentNames();
    const run: ArchiveRun = { uploaded: [], uploadedBytes: 0, present: 0, retainUntil: until.toISOString(), archivedThroughSeq: 0 };
    for (const c of this.candidates(names)) {
      const have = existing.get(c.key);
      if (have !== undefined) {
        const size = c.size();
        if (have.size !== size) {
          throw new Error(`archive conflict: s3://${this.bucket}/${c.key} exists with ${have.size} bytes, the local copy has ${size}; refusing to overwrite a WORM object`);
        }
        run.present++;
        continue;
      }
      const body = c.load();
      const sha = createHash('sha256').update(body).digest();
      await s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: c.key,
          Body: body,
          ContentType: c.contentType,
          ContentLength: body.length,
          StorageClass: c.storageClass,
          ContentMD5: createHash('md5').update(body).digest('base64'),
          ChecksumSHA256: sha.toString('base64'),
          ObjectLockMode: 'COMPLIANCE',
          ObjectLockRetainUntilDate: until,
          Metadata: { sha256: sha.toString('hex') },
        }),
      );
      run.uploaded.push({ key: c.key, bytes: body.length, storageClass: c.storageClass });
      run.uploadedBytes += body.length;
    }
    // only now, with every PUT acknowledged: a run that failed midway reports nothing
    run.archivedThroughSeq = this.archivedThrough([...existing.keys(), ...run.uploaded.map((u) => u.key)], names);
    return run;
  }

  /**
   * Copies the archive into `target` laid out as a data directory (journal/, audit/), checking
   * each object against the SHA-256 recorded at upload. Returns what it found.
   *
   * Objects in an archive storage class (Deep Archive, Glacier) are readable only once restored.
   * When any is not, nothing is returned: it throws ArchiveNotRestoredError naming them, after
   * requesting their restore when `opts.restore` is given (objects already being restored are
   * not asked again). Partial verification of an archive would prove nothing about the rest.
   */
  async download(target: string, opts: { restore?: RestoreOptions } = {}): Promise<{ segments: number; checkpoints: number; keys: number; mismatches: string[] }> {
    const { GetObjectCommand, HeadObjectCommand, RestoreObjectCommand } = await import('@aws-sdk/client-s3');
    const s3 = await this.s3();
    const listed = await this.list();
    const objects = [...listed.keys()].sort();
    const journalDir = path.join(target, 'journal');
    const adir = auditDir(target);
    fs.mkdirSync(journalDir, { recursive: true });
    fs.mkdirSync(publicKeysDir(target), { recursive: true });
    const lines: string[] = [];
    const result = { segments: 0, checkpoints: 0, keys: 0, mismatches: [] as string[] };
    const unreadable: { key: string; storageClass: string; state: UnreadableState }[] = [];
    /** For an object in an archive tier: whether a restored copy is readable now; when not, records why (and requests a restore when asked). */
    const readable = async (key: string, storageClass: string): Promise<boolean> => {
      const h = await s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const restore = h.Restore ?? '';
      if (/ongoing-request="false"/.test(restore)) return true;
      let state: UnreadableState = /ongoing-request="true"/.test(restore) ? 'restore in progress' : 'not restored';
      if (state === 'not restored' && opts.restore !== undefined) {
        const tiering = (h.StorageClass ?? storageClass) === 'INTELLIGENT_TIERING';
        await s3.send(
          new RestoreObjectCommand({
            Bucket: this.bucket,
            Key: key,
            // INTELLIGENT_TIERING's archive tiers restore into the object itself: no Days there
            RestoreRequest: { ...(tiering ? {} : { Days: opts.restore.days }), GlacierJobParameters: { Tier: opts.restore.tier } },
          }),
        );
        state = 'restore requested';
      }
      unreadable.push({ key, storageClass: h.StorageClass ?? storageClass, state });
      return false;
    };
    for (const key of objects) {
      const rel = key.slice(this.prefix.length);
      const m = /^(journal|checkpoints|keys)\/([^/]+)$/.exec(rel);
      if (m === null) continue;
      const storageClass = listed.get(key)!.storageClass;
      if (RESTORE_CLASSES.has(storageClass) && !(await readable(key, storageClass))) continue;
      if (unreadable.length > 0) continue; // nothing will be verified: only finding the rest that need a restore matters now
      let body: Buffer;
      let recorded: string | undefined;
      try {
        const r = await s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        body = Buffer.from(await r.Body!.transformToByteArray());
        recorded = r.Metadata?.sha256;
      } catch (e) {
        // e.g. INTELLIGENT_TIERING moved it to an archive tier; anything else is a real failure
        if ((e as { name?: string }).name === 'InvalidObjectState' && !(await readable(key, storageClass))) continue;
        throw e;
      }
      if (recorded !== undefined && createHash('sha256').update(body).digest('hex') !== recorded) {
        result.mismatches.push(`${key}: content does not match the SHA-256 recorded at upload`);
      }
      if (m[1] === 'journal' && SEGMENT_NAME_RE.test(m[2]!)) {
        fs.writeFileSync(path.join(journalDir, m[2]!), body);
        result.segments++;
      } else if (m[1] === 'checkpoints') {
        lines.push(body.toString('utf8').replace(/\n?$/, '\n'));
        result.checkpoints++;
      } else if (m[1] === 'keys') {
        fs.writeFileSync(path.join(publicKeysDir(target), m[2]!), body);
        result.keys++;
      }
    }
    if (unreadable.length > 0) throw new ArchiveNotRestoredError(unreadable, opts.restore);
    fs.writeFileSync(path.join(adir, CHECKPOINTS_FILE), lines.join(''));
    return result;
  }

  close(): void {
    this.client?.destroy();
    this.client = undefined;
  }
}
