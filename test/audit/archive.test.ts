/**
 * The WORM archive against a local S3-compatible server (s3rver on 127.0.0.1, random port),
 * behind a small HTTP front that records every request's headers and can fail chosen requests.
 *
 * s3rver does not implement Object Lock: it accepts and ignores the lock headers. What is
 * verified here is what we control: the objects arrive byte-identical, every PUT carries
 * COMPLIANCE mode, the retain-until date and the SHA-256/MD5 checksums Object Lock requires, a
 * run is idempotent and resumes after a failure without duplicating anything, an existing object
 * is never overwritten, and the archive alone verifies (and fails when an object is altered).
 * Object Lock itself is tested against moto's S3 server in archive-object-lock.test.ts.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import S3rver from 's3rver';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditArchiver, retainUntil } from '../../src/audit/archive.js';
import { archiveConfigSchema, type ArchiveConfig } from '../../src/audit/config.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { Journal } from '../../src/engine/journal.js';
import { tempDir } from '../helpers.js';
import { readFrames, runAuditCli, writeAuditedJournal, type WrittenJournal } from './helpers.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  status?: number;
}

const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const NOW = new Date('2026-11-28T12:00:00.000Z');

let root: { dir: string; cleanup: () => void };
let server: http.Server;
let endpoint: string;
const seen: Seen[] = [];
/** Requests to fail with a 500 (by method + predicate), for the resumability test. */
let failWhen: ((req: http.IncomingMessage) => boolean) | null = null;
let base: WrittenJournal;

/** As the node reads it: the schema's defaults for what is not given (storage classes among them). */
function config(prefix: string): ArchiveConfig {
  return archiveConfigSchema.parse({ endpoint, bucket: 'audit', prefix, forcePathStyle: true });
}

function archiver(dataDir: string, prefix: string): AuditArchiver {
  return new AuditArchiver(config(prefix), dataDir, { clientConfig: { credentials: CREDENTIALS }, now: () => NOW });
}

function client(): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
}

async function getObject(key: string): Promise<Buffer> {
  const r = await client().send(new GetObjectCommand({ Bucket: 'audit', Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

async function listKeys(prefix: string): Promise<string[]> {
  const r = await client().send(new ListObjectsV2Command({ Bucket: 'audit', Prefix: prefix }));
  return (r.Contents ?? []).map((c) => c.Key!).sort();
}

beforeAll(async () => {
  root = tempDir('bulwark-audit-archive-');
  const s3 = new S3rver({ silent: true, directory: path.join(root.dir, 's3'), configureBuckets: [{ name: 'audit' }] });
  await s3.configureBuckets();
  const handle = s3.callback();
  server = http.createServer((req, res) => {
    const rec: Seen = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } };
    seen.push(rec);
    res.on('finish', () => {
      rec.status = res.statusCode;
    });
    if (req.method === 'PUT') {
      if (failWhen?.(req)) {
        req.resume();
        res.writeHead(500, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>');
        return;
      }
    }
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  base = await writeAuditedJournal(path.join(root.dir, 'base'), { records: 700, segmentBytes: 12 * 1024, checkpointEvery: 150 });
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  root.cleanup();
});

describe('WORM archive (S3 Object Lock, COMPLIANCE)', () => {
  it('uploads sealed segments, checkpoints and keys byte-identical, with the Object Lock headers', async () => {
    const start = seen.length;
    const a = archiver(base.dataDir, 'firm/node-1');
    const run = await a.runOnce();
    a.close();
    const journalDir = path.join(base.dataDir, 'journal');
    const segs = readFrames(journalDir);
    const checkpoints = fs.readFileSync(path.join(base.dataDir, 'audit', 'checkpoints.jsonl'), 'utf8').trim().split('\n');
    // every segment but the active (last) one, every checkpoint, the one key
    expect(run.uploaded.length).toBe(segs.length - 1 + checkpoints.length + 1);
    expect(run.retainUntil).toBe('2032-11-28T12:00:00.000Z');
    // the confirmed mark: every record before the active segment (what the database may prune up to)
    expect(run.archivedThroughSeq).toBe(segs[segs.length - 1]!.firstSeq - 1);

    const keys = await listKeys('firm/node-1/');
    expect(keys.filter((k) => k.includes('/journal/')).length).toBe(segs.length - 1);
    for (const s of segs.slice(0, -1)) {
      const name = path.basename(s.file);
      expect((await getObject(`firm/node-1/journal/${name}`)).equals(fs.readFileSync(s.file))).toBe(true);
    }
    expect(keys).toContain(`firm/node-1/keys/${base.keyId}.pem`);
    expect((await getObject(`firm/node-1/keys/${base.keyId}.pem`)).toString()).toBe(base.publicPem);

    const puts = seen.slice(start).filter((r) => r.method === 'PUT');
    expect(puts.length).toBe(run.uploaded.length);
    for (const p of puts) {
      expect(p.status).toBe(200);
      expect(p.headers['x-amz-object-lock-mode']).toBe('COMPLIANCE');
      // segments to Glacier Deep Archive, checkpoints and keys readable at once (the defaults)
      expect(p.headers['x-amz-storage-class'], p.url).toBe(p.url.includes('/journal/') ? 'DEEP_ARCHIVE' : 'STANDARD');
      expect(new Date(String(p.headers['x-amz-object-lock-retain-until-date'])).toISOString()).toBe('2032-11-28T12:00:00.000Z');
      const key = decodeURIComponent(new URL(p.url, endpoint).pathname.replace(/^\/audit\//, ''));
      const body = await getObject(key);
      expect(p.headers['x-amz-checksum-sha256']).toBe(createHash('sha256').update(body).digest('base64'));
      expect(p.headers['content-md5']).toBe(createHash('md5').update(body).digest('base64'));
      expect(p.headers['x-amz-meta-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
      // signed, so a proxy cannot strip the lock headers without breaking the request
      expect(String(p.headers.authorization)).toMatch(/SignedHeaders=[^,]*x-amz-object-lock-mode;x-amz-object-lock-retain-until-date/);
    }
  });

  it('is idempotent: a second run uploads nothing', async () => {
    const start = seen.length;
    const a = archiver(base.dataDir, 'firm/node-1');
    const run = await a.runOnce();
    a.close();
    expect(run.uploaded).toEqual([]);
    expect(run.present).toBeGreaterThan(5);
    const segs = readFrames(path.join(base.dataDir, 'journal'));
    expect(run.archivedThroughSeq).toBe(segs[segs.length - 1]!.firstSeq - 1);
    expect(seen.slice(start).filter((r) => r.method === 'PUT')).toEqual([]);
  });

  it('resumes after a failure without duplicating or skipping anything', async () => {
    const prefix = 'resume';
    // the 4th object (the SDK retries a 500, so every attempt at it fails)
    const fourth = path.basename(readFrames(path.join(base.dataDir, 'journal'))[3]!.file);
    failWhen = (req) => (req.url ?? '').includes(`/${prefix}/journal/${fourth}`);
    const a = archiver(base.dataDir, prefix);
    await expect(a.runOnce()).rejects.toThrow();
    failWhen = null;
    const partial = await listKeys(`${prefix}/`);
    expect(partial.length).toBe(3);
    const run = await a.runOnce();
    a.close();
    const all = await listKeys(`${prefix}/`);
    expect(all.length).toBe(partial.length + run.uploaded.length);
    expect(all).toEqual(await listKeys('firm/node-1/').then((ks) => ks.map((k) => k.replace(/^firm\/node-1\//, `${prefix}/`)).sort()));
    expect(run.present).toBe(3);
    const segs = readFrames(path.join(base.dataDir, 'journal'));
    expect(run.archivedThroughSeq).toBe(segs[segs.length - 1]!.firstSeq - 1);
  });

  it('never overwrites an object that exists with other content', async () => {
    const prefix = 'conflict';
    const name = path.basename(readFrames(path.join(base.dataDir, 'journal'))[1]!.file);
    await client().send(new PutObjectCommand({ Bucket: 'audit', Key: `${prefix}/journal/${name}`, Body: Buffer.from('not the segment') }));
    const a = archiver(base.dataDir, prefix);
    await expect(a.runOnce()).rejects.toThrow(/archive conflict.*refusing to overwrite/);
    a.close();
    expect((await getObject(`${prefix}/journal/${name}`)).toString()).toBe('not the segment');
  });

  it('the live trail archives as it checkpoints and journals what it archived', async () => {
    const dataDir = path.join(root.dir, 'live');
    const a = archiver(dataDir, 'live');
    const w = await writeAuditedJournal(dataDir, { records: 400, segmentBytes: 12 * 1024, checkpointEvery: 100, archiver: a });
    const keys = await listKeys('live/');
    expect(keys.some((k) => k.startsWith('live/journal/'))).toBe(true);
    expect(keys.filter((k) => k.startsWith('live/checkpoints/')).length).toBe(w.checkpoints);
    const notes = [...Journal.read(path.join(dataDir, 'journal'))].filter((e) => e.kind === 'input' && e.payload.event === 'audit.archived');
    expect(notes.length).toBeGreaterThan(0);
    expect((notes[0]!.payload.detail as { retainUntil: string }).retainUntil).toBe(retainUntil(NOW, 6).toISOString());
    // each note carries the archive's confirmed mark: the end of a sealed segment, before the note, never going back
    const firstSeqs = readFrames(path.join(dataDir, 'journal')).map((f) => f.firstSeq);
    const marks = notes.map((n) => (n.payload.detail as { archivedThroughSeq: number }).archivedThroughSeq);
    expect(Math.max(...marks)).toBeGreaterThan(0);
    marks.forEach((m, i) => {
      expect(m).toBeLessThan(notes[i]!.seq);
      if (m > 0) expect(firstSeqs).toContain(m + 1);
      if (i > 0) expect(m).toBeGreaterThanOrEqual(marks[i - 1]!);
    });
  });
});

describe('verifying from the archive', () => {
  function configFile(prefix: string): string {
    const file = path.join(root.dir, `config-${prefix.replace(/\W/g, '_')}.yaml`);
    fs.writeFileSync(file, `audit:\n  archive:\n    endpoint: ${endpoint}\n    bucket: audit\n    prefix: ${prefix}\n    forcePathStyle: true\n`);
    return file;
  }

  it('the archive alone verifies: chain, tree, signed checkpoints (bulwark audit verify --from-archive)', async () => {
    {
      const keyFile = path.join(root.dir, 'pinned.pem');
      fs.writeFileSync(keyFile, base.publicPem);
      const r = await runAuditCli(
        ['audit', 'verify', '--from-archive', '-c', configFile('firm/node-1'), '--public-key', keyFile, '--json'],
        { ...process.env, BULWARK_DATA_DIR: path.join(root.dir, 'nowhere') },
        { AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey },
      );
      const report = JSON.parse(r.out) as Awaited<ReturnType<typeof verifyAudit>>;
      expect(report.problems).toEqual([]);
      expect(r.code).toBe(0);
      const segs = readFrames(path.join(base.dataDir, 'journal'));
      // the archive ends at the last sealed segment
      expect(report.journal.lastSeq).toBe(segs[segs.length - 1]!.firstSeq - 1);
      expect(report.checkpoints.verified).toBeGreaterThan(0);
      const beyond = fs.readFileSync(path.join(base.dataDir, 'audit', 'checkpoints.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { treeSize: number }).treeSize).filter((n) => n > report.journal.lastSeq);
      expect(report.checkpoints.uncheckable).toBe(beyond.length);
      expect(report.checkpoints.verified + report.checkpoints.uncheckable).toBe(report.checkpoints.total);
    }
  });

  it('an altered object in the archive fails verification', async () => {
    const prefix = 'tampered';
    const a = archiver(base.dataDir, prefix);
    await a.runOnce();
    // an S3 without Object Lock lets anyone with write access replace an object
    const seg = readFrames(path.join(base.dataDir, 'journal'))[2]!;
    const buf = Buffer.from(fs.readFileSync(seg.file));
    const f = seg.frames[3]!;
    buf[f.offset + f.length - 3] ^= 0x02;
    await client().send(new PutObjectCommand({ Bucket: 'audit', Key: `${prefix}/journal/${path.basename(seg.file)}`, Body: buf }));
    const target = path.join(root.dir, 'from-archive');
    const got = await a.download(target);
    a.close();
    expect(got.segments).toBeGreaterThan(2);
    const r = await verifyAudit({ dataDir: target, database: 'none', fromArchive: true });
    expect(r.ok).toBe(false);
    expect(r.firstBadSeq).toBe(f.seq);
    // keep the local copy untouched: the test altered only the archive
    expect(fs.readFileSync(seg.file).equals(buf)).toBe(false);
  });
});
