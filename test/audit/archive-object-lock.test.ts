/**
 * The WORM archive against moto's S3 server (`moto_server`, started here on 127.0.0.1 with a free
 * port), which, unlike s3rver (archive.test.ts), implements versioning and Object Lock. The real
 * AuditArchiver uploads an audited journal into a bucket created with Object Lock enabled, and
 * then, object by object, through the S3 API:
 *   - HeadObject shows the lock as stored: mode COMPLIANCE, retain-until = retainUntil(now, 6);
 *   - the object has a VersionId, and deleting that version is refused (AccessDenied), with
 *     x-amz-bypass-governance-retention too, and in a multi-object DeleteObjects; the version is
 *     still there afterwards, byte for byte;
 *   - a delete without a VersionId only hides the key behind a delete marker (S3 semantics): the
 *     locked version stays readable, and the next run archives the key again;
 *   - the archiver does not overwrite an object that exists with other content (it stops the run,
 *     as against s3rver). The server itself would accept that PUT: Object Lock protects versions,
 *     not keys, so a PUT to an existing key adds a new version on top of the locked one.
 * And into a bucket without Object Lock the run fails (the server refuses a PUT with lock headers)
 * rather than reporting the objects archived; the live trail journals `audit.archive.down`.
 *
 * What moto (5.2.1) does NOT enforce, and what must therefore still be verified on real S3 (or
 * MinIO/Ceph): PutObjectRetention may shorten a COMPLIANCE retention or switch it to GOVERNANCE
 * (S3 refuses both), and its GetObjectRetention response does not parse in the AWS SDK v3 ("XML
 * parse error"), so the stored retention is read here with HeadObject. Its credentials here are
 * any strings.
 *
 * Needs `moto_server` on PATH (CI's machine has it, from its pyenv). Without it the whole suite is
 * skipped, and its title says why.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveNotRestoredError, AuditArchiver, retainUntil } from '../../src/audit/archive.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { archiveConfigSchema, type ArchiveConfig } from '../../src/audit/config.js';
import { Journal } from '../../src/engine/journal.js';
import { tempDir } from '../helpers.js';
import { readFrames, runAuditCli, writeAuditedJournal, type WrittenJournal } from './helpers.js';

const MOTO = 'moto_server';
/** Absent (not on PATH, or its Python lacks moto): the suite is skipped, saying so. */
const motoAvailable = spawnSync(MOTO, ['--help'], { stdio: 'ignore', timeout: 30_000 }).status === 0;

const CREDENTIALS = { accessKeyId: 'moto', secretAccessKey: 'moto' };
const LOCKED = 'audit-locked';
const PLAIN = 'audit-plain';
/**
 * The archiver's clock. From the real clock (whole seconds), not a fixed date as in
 * archive.test.ts: moto compares the retain-until date with its own clock when refusing a delete,
 * so the lock must run from now.
 */
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

interface Moto {
  endpoint: string;
  stop: () => Promise<void>;
}

/** Starts moto_server on 127.0.0.1 and waits (up to 20 s) until it answers HTTP. */
async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(MOTO, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer): void => {
    output = (output + b.toString('utf8')).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let spawnError: Error | null = null;
  child.on('error', (e) => (spawnError = e));
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  // never leave it running behind the test process, whatever way that ends
  const killOnExit = (): void => {
    if (!exited()) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit);
    if (exited()) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (spawnError !== null || exited()) {
      await stop();
      throw new Error(`${MOTO} did not start (${spawnError ?? `exit code ${child.exitCode}, signal ${child.signalCode}`}); its output:\n${output}`);
    }
    try {
      const r = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      return { endpoint, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${MOTO} did not answer HTTP on ${endpoint} within 20 s; its output:\n${output}`);
    }
    await sleep(100);
  }
}

/** The S3 error a rejected promise carried (name = S3 error code, and the HTTP status). */
async function s3Error(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return { name: e.name, status: e.$metadata.httpStatusCode, message: e.message };
    throw e;
  }
  throw new Error('expected the request to be refused, it succeeded');
}

describe.skipIf(!motoAvailable)(`WORM archive against moto's S3 server (Object Lock enforced)${motoAvailable ? '' : ` — skipped: ${MOTO} is not on PATH (or does not run)`}`, () => {
  let moto: Moto;
  let s3: S3Client;
  let root: { dir: string; cleanup: () => void };
  let base: WrittenJournal;

  function archiveConfig(prefix: string, bucket = LOCKED, more: Partial<ArchiveConfig> = {}): ArchiveConfig {
    return archiveConfigSchema.parse({ endpoint: moto.endpoint, bucket, prefix, forcePathStyle: true, ...more });
  }

  /**
   * The archiver with segments in STANDARD, so that these tests can read back every version at
   * once; the default class (Deep Archive) and its restores have a test of their own.
   */
  function archiver(dataDir: string, prefix: string, bucket = LOCKED, more: Partial<ArchiveConfig> = { segmentStorageClass: 'STANDARD' }): AuditArchiver {
    return new AuditArchiver(archiveConfig(prefix, bucket, more), dataDir, { clientConfig: { credentials: CREDENTIALS }, now: () => NOW });
  }

  async function getObject(key: string, versionId?: string, bucket = LOCKED): Promise<Buffer> {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId !== undefined ? { VersionId: versionId } : {}) }));
    return Buffer.from(await r.Body!.transformToByteArray());
  }

  async function listKeys(prefix: string, bucket = LOCKED): Promise<string[]> {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (r.Contents ?? []).map((c) => c.Key!).sort();
  }

  async function versionsOf(key: string): Promise<{ versions: string[]; deleteMarkers: number }> {
    const r = await s3.send(new ListObjectVersionsCommand({ Bucket: LOCKED, Prefix: key }));
    return {
      versions: (r.Versions ?? []).filter((v) => v.Key === key).map((v) => v.VersionId!),
      deleteMarkers: (r.DeleteMarkers ?? []).filter((m) => m.Key === key).length,
    };
  }

  /** What the archiver uploads for each key: its own candidates, loaded from the data directory. */
  function localObjects(a: AuditArchiver): Map<string, Buffer> {
    return new Map(a.candidates().map((c) => [c.key, c.load()]));
  }

  beforeAll(async () => {
    moto = await startMoto();
    s3 = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    await s3.send(new CreateBucketCommand({ Bucket: LOCKED, ObjectLockEnabledForBucket: true }));
    await s3.send(new CreateBucketCommand({ Bucket: PLAIN }));
    root = tempDir('bulwark-audit-object-lock-');
    base = await writeAuditedJournal(path.join(root.dir, 'base'), { records: 700, segmentBytes: 12 * 1024, checkpointEvery: 150 });
  });

  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
    root?.cleanup();
  });

  it('every archived object is stored COMPLIANCE-locked until retainUntil(now, 6), and its version cannot be deleted', async () => {
    const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: LOCKED }));
    expect(lock.ObjectLockConfiguration?.ObjectLockEnabled).toBe('Enabled');

    const a = archiver(base.dataDir, 'firm/node-1');
    const local = localObjects(a);
    const run = await a.runOnce();
    a.close();
    const until = retainUntil(NOW, 6);
    expect(run.retainUntil).toBe(until.toISOString());
    const segs = readFrames(path.join(base.dataDir, 'journal'));
    // every sealed segment, every checkpoint, the one key: everything the archiver had to upload
    expect(run.uploaded.map((u) => u.key).sort()).toEqual([...local.keys()].sort());
    expect(run.uploaded.filter((u) => u.key.includes('/journal/')).length).toBe(segs.length - 1);
    expect(run.uploaded.filter((u) => u.key.includes('/checkpoints/')).length).toBeGreaterThan(2);
    expect(run.uploaded.map((u) => u.key)).toContain(`firm/node-1/keys/${base.keyId}.pem`);
    expect(await listKeys('firm/node-1/')).toEqual([...local.keys()].sort());

    for (const { key, bytes } of run.uploaded) {
      const want = local.get(key)!;
      expect(bytes).toBe(want.length);
      const head = await s3.send(new HeadObjectCommand({ Bucket: LOCKED, Key: key }));
      expect(head.ObjectLockMode, key).toBe('COMPLIANCE');
      expect(head.ObjectLockRetainUntilDate?.toISOString(), key).toBe(until.toISOString());
      expect(head.Metadata?.sha256, key).toBe(createHash('sha256').update(want).digest('hex'));
      const versionId = head.VersionId;
      expect(versionId, key).toMatch(/\S/);
      expect((await getObject(key, versionId)).equals(want), key).toBe(true);

      // deleting the locked version: refused, also when asking to bypass (GOVERNANCE only) ...
      const refused = await s3Error(s3.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: key, VersionId: versionId })));
      expect(refused, key).toMatchObject({ name: 'AccessDenied', status: 403 });
      const bypass = await s3Error(s3.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: key, VersionId: versionId, BypassGovernanceRetention: true })));
      expect(bypass, key).toMatchObject({ name: 'AccessDenied', status: 403 });
      // ... and in a batch delete, which reports it per object
      const batch = await s3.send(new DeleteObjectsCommand({ Bucket: LOCKED, Delete: { Objects: [{ Key: key, VersionId: versionId }] } }));
      expect(batch.Deleted ?? [], key).toEqual([]);
      expect(batch.Errors?.map((e) => e.Code), key).toEqual(['AccessDenied']);

      // still there, the same version, byte for byte, still locked
      const after = await s3.send(new HeadObjectCommand({ Bucket: LOCKED, Key: key }));
      expect(after.VersionId, key).toBe(versionId);
      expect(after.ObjectLockMode, key).toBe('COMPLIANCE');
      expect(after.ObjectLockRetainUntilDate?.toISOString(), key).toBe(until.toISOString());
      expect((await getObject(key)).equals(want), key).toBe(true);
      expect(await versionsOf(key), key).toEqual({ versions: [versionId], deleteMarkers: 0 });
    }

    // and the archive is whole: a second run finds everything present
    const again = archiver(base.dataDir, 'firm/node-1');
    const rerun = await again.runOnce();
    again.close();
    expect(rerun.uploaded).toEqual([]);
    expect(rerun.present).toBe(local.size);
    expect(rerun.archivedThroughSeq).toBe(segs[segs.length - 1]!.firstSeq - 1);
  });

  it('a delete without a VersionId only hides the key behind a delete marker: the locked version stays, and the next run archives the key again', async () => {
    const prefix = 'hidden';
    const a = archiver(base.dataDir, prefix);
    const local = localObjects(a);
    await a.runOnce();
    const key = `${prefix}/journal/${path.basename(readFrames(path.join(base.dataDir, 'journal'))[1]!.file)}`;
    const { VersionId: locked } = await s3.send(new HeadObjectCommand({ Bucket: LOCKED, Key: key }));

    // S3 allows this on a locked bucket: it adds a delete marker and removes nothing
    const del = await s3.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: key }));
    expect(del.DeleteMarker).toBe(true);
    expect(await listKeys(`${prefix}/`)).not.toContain(key);
    expect((await getObject(key, locked)).equals(local.get(key)!)).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket: LOCKED, Key: key, VersionId: locked }));
    expect(head.ObjectLockMode).toBe('COMPLIANCE');

    // the archiver lists current objects only, so it sees the key missing and uploads it again:
    // a new locked version on top of the marker, the same bytes
    const run = await a.runOnce();
    a.close();
    expect(run.uploaded.map((u) => u.key)).toEqual([key]);
    expect(run.present).toBe(local.size - 1);
    const v = await versionsOf(key);
    expect(v.versions.length).toBe(2);
    expect(v.versions).toContain(locked);
    expect(v.deleteMarkers).toBe(1);
    expect((await getObject(key)).equals(local.get(key)!)).toBe(true);
    const current = await s3.send(new HeadObjectCommand({ Bucket: LOCKED, Key: key }));
    expect(current.VersionId).not.toBe(locked);
    expect(current.ObjectLockMode).toBe('COMPLIANCE');
    expect(current.ObjectLockRetainUntilDate?.toISOString()).toBe(retainUntil(NOW, 6).toISOString());
  });

  it('never overwrites an object that exists with other content (the server alone would add a version on top)', async () => {
    const prefix = 'conflict';
    const name = path.basename(readFrames(path.join(base.dataDir, 'journal'))[1]!.file);
    const key = `${prefix}/journal/${name}`;
    const foreign = Buffer.from('not the segment');
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: LOCKED,
        Key: key,
        Body: foreign,
        ContentMD5: createHash('md5').update(foreign).digest('base64'),
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: retainUntil(NOW, 6),
      }),
    );
    // the same expectation as against s3rver: the run stops, the key keeps its one version
    const a = archiver(base.dataDir, prefix);
    await expect(a.runOnce()).rejects.toThrow(/archive conflict.*refusing to overwrite/);
    a.close();
    expect(await versionsOf(key)).toEqual({ versions: [put.VersionId], deleteMarkers: 0 });
    expect((await getObject(key)).toString()).toBe('not the segment');

    // Why the archiver must refuse: Object Lock protects versions, not keys. moto, like S3, takes a
    // PUT to the locked key as a new (current) version; the locked one stays under its VersionId.
    const segment = localObjects(archiver(base.dataDir, prefix)).get(key)!;
    const over = await s3.send(new PutObjectCommand({ Bucket: LOCKED, Key: key, Body: segment, ContentMD5: createHash('md5').update(segment).digest('base64') }));
    expect(over.VersionId).not.toBe(put.VersionId);
    expect((await getObject(key)).equals(segment)).toBe(true);
    expect((await getObject(key, put.VersionId)).toString()).toBe('not the segment');
    expect((await versionsOf(key)).versions.sort()).toEqual([put.VersionId, over.VersionId].sort());
  });

  it('segments go to Glacier Deep Archive by default: verifying from the archive names what is not restored, requests the restore when asked (exit 3 until done), and then verifies', async () => {
    const prefix = 'deep';
    const a = archiver(base.dataDir, prefix, LOCKED, {}); // the configuration's defaults
    const run = await a.runOnce();
    a.close();
    const segKeys = run.uploaded.filter((u) => u.key.includes('/journal/')).map((u) => u.key).sort();
    expect(segKeys.length).toBeGreaterThan(2);
    for (const u of run.uploaded) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: LOCKED, Key: u.key }));
      const want = u.key.includes('/journal/') ? 'DEEP_ARCHIVE' : 'STANDARD';
      expect(u.storageClass, u.key).toBe(want);
      // S3 leaves x-amz-storage-class out for STANDARD
      expect(head.StorageClass ?? 'STANDARD', u.key).toBe(want);
      expect(head.ObjectLockMode, u.key).toBe('COMPLIANCE');
    }
    // the server itself refuses to read a segment before a restore
    expect(await s3Error(s3.send(new GetObjectCommand({ Bucket: LOCKED, Key: segKeys[0]! })))).toMatchObject({ name: 'InvalidObjectState', status: 403 });

    // through the CLI, as an examiner would run it
    const configFile = path.join(root.dir, 'deep.yaml');
    fs.writeFileSync(configFile, `audit:\n  archive:\n    endpoint: ${moto.endpoint}\n    bucket: ${LOCKED}\n    prefix: ${prefix}\n    forcePathStyle: true\n`);
    const keyFile = path.join(root.dir, 'deep-pinned.pem');
    fs.writeFileSync(keyFile, base.publicPem);
    const env = { ...process.env, BULWARK_DATA_DIR: path.join(root.dir, 'nowhere') };
    const cli = (...args: string[]) =>
      runAuditCli(['audit', 'verify', '--from-archive', '-c', configFile, '--public-key', keyFile, ...args], env, { AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey });
    const restoreOf = async (key: string) => (await s3.send(new HeadObjectCommand({ Bucket: LOCKED, Key: key }))).Restore;

    // 1. no restore asked: exit 3, no verdict, every segment named as not restored, nothing requested
    const first = await cli();
    expect(first.code).toBe(3);
    expect(first.out).toBe('');
    expect(first.err).toMatch(new RegExp(`${segKeys.length} archived object\\(s\\).*${segKeys.length} not restored.*--restore`));
    for (const k of segKeys) expect(await restoreOf(k), k).toBeUndefined();

    // the same through the API: which objects, in which state
    const direct = archiver(path.join(root.dir, 'unused'), prefix, LOCKED, {});
    const err = await direct.download(path.join(root.dir, 'deep-dl-1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveNotRestoredError);
    expect((err as ArchiveNotRestoredError).objects).toEqual(segKeys.map((key) => ({ key, storageClass: 'DEEP_ARCHIVE', state: 'not restored' })));

    // 2. --restore: a RestoreObject per segment (Bulk, 2 days), still exit 3: on S3 it takes hours
    const second = await cli('--restore', '--restore-days', '2', '--restore-tier', 'bulk');
    expect(second.code).toBe(3);
    expect(second.err).toMatch(new RegExp(`${segKeys.length} restore requested.*run again once the restore has completed \\(up to 48 hours`));
    // moto completes a restore at once; S3 would say ongoing-request="true" for hours first
    for (const k of segKeys) expect(await restoreOf(k), k).toMatch(/ongoing-request="false", expiry-date=/);

    // 3. restored: the archive alone verifies, every sealed segment read back
    const third = await cli('--json');
    expect(third.code).toBe(0);
    const report = JSON.parse(third.out) as Awaited<ReturnType<typeof verifyAudit>>;
    expect(report.problems).toEqual([]);
    const segs = readFrames(path.join(base.dataDir, 'journal'));
    expect(report.journal.lastSeq).toBe(segs[segs.length - 1]!.firstSeq - 1);
    expect(third.err).toMatch(new RegExp(`downloaded ${segKeys.length} segment\\(s\\)`));
    const got = await direct.download(path.join(root.dir, 'deep-dl-2'));
    direct.close();
    expect(got.segments).toBe(segKeys.length);

    // bad flags are named and change nothing
    await expect(cli('--restore-tier', 'fastest')).rejects.toThrow(/--restore-tier must be one of Standard, Bulk, Expedited/);
    await expect(cli('--restore-days', '0')).rejects.toThrow(/--restore-days must be a positive integer/);
  });

  it('into a bucket without Object Lock the run fails (the server refuses the locked PUT): nothing is uploaded or reported archived', async () => {
    const lock = await s3Error(s3.send(new GetObjectLockConfigurationCommand({ Bucket: PLAIN })));
    expect(lock.name).toBe('ObjectLockConfigurationNotFoundError');

    // The archiver does not check the bucket's configuration: it sends the lock headers with every
    // PUT and relies on the service refusing them where there is no Object Lock. moto refuses with
    // 400 InvalidRequest ("Bucket is missing ObjectLockConfiguration"), as S3 does; the run stops
    // at the first object and reports no ArchiveRun. (A server that ignores the headers, such as
    // s3rver, would accept them and the run would succeed without any lock.)
    const a = archiver(base.dataDir, 'firm/node-1', PLAIN);
    const err = await s3Error(a.runOnce());
    a.close();
    expect(err).toMatchObject({ name: 'InvalidRequest', status: 400 });
    expect(err.message).toMatch(/object ?lock ?configuration/i);
    expect(await listKeys('', PLAIN)).toEqual([]);

    // the live trail: the failure is journaled (audit.archive.down), no audit.archived note
    const dataDir = path.join(root.dir, 'live-plain');
    const live = archiver(dataDir, 'live', PLAIN);
    await writeAuditedJournal(dataDir, { records: 400, segmentBytes: 12 * 1024, checkpointEvery: 100, archiver: live });
    const notes = [...Journal.read(path.join(dataDir, 'journal'))].filter((e) => e.kind === 'input' && e.payload.type === 'system.note');
    const events = notes.map((n) => n.payload.event);
    expect(events).toContain('audit.archive.down');
    expect(events).not.toContain('audit.archived');
    const down = notes.find((n) => n.payload.event === 'audit.archive.down')!.payload.detail as { bucket: string; error: string };
    expect(down.bucket).toBe(PLAIN);
    expect(down.error).toMatch(/object ?lock ?configuration/i);
    expect(await listKeys('', PLAIN)).toEqual([]);
  });
});
