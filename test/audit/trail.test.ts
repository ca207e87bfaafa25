/**
 * The live trail: restarts continue the tree from the stored subtrees, a damaged cache or a torn
 * checkpoints file is repaired and the repair journaled, a journal that no longer matches its last
 * signed checkpoint is reported at start, checkpoints never cover records that are not durable,
 * and the signing key and configuration behave as documented.
 */
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditTrail, type AuditHost } from '../../src/audit/trail.js';
import { AuditKeyError, loadSigningKey } from '../../src/audit/keys.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { ManualClock } from '../../src/core/time.js';
import { Journal, nodeJournalIo, type JournalIo, type JournalPayload } from '../../src/engine/journal.js';
import { ConfigError, loadConfig } from '../../src/ops/config.js';
import { tempDir } from '../helpers.js';
import { writeAuditedJournal } from './helpers.js';

let root: { dir: string; cleanup: () => void };
beforeAll(() => {
  root = tempDir('bulwark-audit-trail-');
});
afterAll(() => root.cleanup());

const notesIn = (dataDir: string, event: string) =>
  [...Journal.read(path.join(dataDir, 'journal'))].filter((e) => e.kind === 'input' && e.payload.type === 'system.note' && e.payload.event === event);

describe('restarts', () => {
  it('a restarted trail continues the same tree from its stored subtrees', async () => {
    const dataDir = path.join(root.dir, 'restart');
    const first = await writeAuditedJournal(dataDir, { records: 1000, checkpointEvery: 300, tree: 'worker' });
    await writeAuditedJournal(dataDir, { records: 700, checkpointEvery: 300, clockStart: 1_796_000_000_000_000_000n, tree: 'worker' });
    const r = await verifyAudit({ dataDir, database: 'none' });
    expect(r.problems).toEqual([]);
    expect(r.warnings.filter((w) => /cache/.test(w))).toEqual([]);
    expect(r.checkpoints.latest!.treeSize).toBeGreaterThan(first.lastSeq + 700);
    expect(notesIn(dataDir, 'audit.treeRebuilt')).toEqual([]);
    expect(notesIn(dataDir, 'audit.key').length).toBe(2);
  });

  it('a damaged subtree cache is rebuilt from the journal at start, and the rebuild is journaled', async () => {
    const dataDir = path.join(root.dir, 'cache');
    await writeAuditedJournal(dataDir, { records: 900, checkpointEvery: 300 });
    const l8 = path.join(dataDir, 'audit', 'tree', 'L08.bin');
    const buf = fs.readFileSync(l8);
    buf[5] ^= 0xff;
    fs.writeFileSync(l8, buf);
    expect((await verifyAudit({ dataDir, database: 'none' })).warnings.some((w) => /cache/.test(w))).toBe(true);
    await writeAuditedJournal(dataDir, { records: 50, checkpointEvery: 300, clockStart: 1_796_000_000_000_000_000n });
    expect(notesIn(dataDir, 'audit.treeRebuilt').length).toBe(1);
    const r = await verifyAudit({ dataDir, database: 'none' });
    expect(r.problems).toEqual([]);
    expect(r.warnings.filter((w) => /cache/.test(w))).toEqual([]);
  });

  it('a torn checkpoints.jsonl is cut back at start and the repair is journaled', async () => {
    const dataDir = path.join(root.dir, 'torn-cp');
    await writeAuditedJournal(dataDir, { records: 300, checkpointEvery: 100 });
    fs.appendFileSync(path.join(dataDir, 'audit', 'checkpoints.jsonl'), '{"version":1,"ori');
    await writeAuditedJournal(dataDir, { records: 10, checkpointEvery: 100, clockStart: 1_796_000_000_000_000_000n });
    expect(notesIn(dataDir, 'audit.checkpoints.repaired').length).toBe(1);
    expect((await verifyAudit({ dataDir, database: 'none' })).ok).toBe(true);
  });

  it('a journal rewritten behind the node\'s back is reported at the next start', async () => {
    const dataDir = path.join(root.dir, 'rewritten');
    await writeAuditedJournal(dataDir, { records: 300, checkpointEvery: 100 });
    const jdir = path.join(dataDir, 'journal');
    const records = [...Journal.read(jdir)];
    fs.rmSync(jdir, { recursive: true });
    const j = await Journal.open(jdir, { fsync: false });
    for (const e of records) j.append(e.kind, e.seq, e.ts, e.seq === 50 ? { ...e.payload, forged: 1 } : e.payload);
    await j.close();
    await writeAuditedJournal(dataDir, { records: 10, checkpointEvery: 100, clockStart: 1_796_000_000_000_000_000n });
    const mismatch = notesIn(dataDir, 'audit.checkpointMismatch');
    expect(mismatch.length).toBe(1);
    const r = await verifyAudit({ dataDir, database: 'none' });
    expect(r.ok).toBe(false);
    expect(r.warnings.some((w) => /did not match its last checkpoint/.test(w))).toBe(true);
  });
});

describe('checkpoints cover durable records only', () => {
  it('while an fsync is held back, a checkpoint stops at the durable seq', async () => {
    const dataDir = path.join(root.dir, 'durable');
    let release: (() => void) | null = null;
    let hold = false;
    const io: JournalIo = {
      writev: nodeJournalIo.writev,
      fdatasync: async (fd) => {
        if (hold) await new Promise<void>((r) => (release = r));
        return nodeJournalIo.fdatasync(fd);
      },
    };
    const journal = await Journal.open(path.join(dataDir, 'journal'), { io });
    const clock = new ManualClock();
    const listeners: ((s: number) => void)[] = [];
    let seq = 0;
    const append = (p: JournalPayload) => {
      journal.append('input', ++seq, clock.now(), p);
      for (const l of listeners) l(seq);
      return seq;
    };
    const host: AuditHost = {
      journal,
      onAppend: (l) => listeners.push(l),
      note: (event, detail) => {
        const s = append({ type: 'system.note', event, detail });
        return { seq: s, lastSeq: s };
      },
      now: () => clock.now(),
      log: () => {},
    };
    const trail = await AuditTrail.open(host, { dataDir, origin: 't', environment: 'dev', tree: 'inline', config: { checkpoint: { everyRecords: 1_000_000, everySeconds: 3600 } } });
    trail.start();
    for (let i = 0; i < 100; i++) append({ type: 'timer' });
    await journal.flush();
    const durable = journal.durableSeq;
    hold = true;
    for (let i = 0; i < 100; i++) append({ type: 'timer' });
    await new Promise((r) => setTimeout(r, 20)); // the flush loop is now waiting in fdatasync
    const cp = await trail.checkpoint();
    expect(cp!.treeSize).toBe(durable);
    expect(journal.durableSeq).toBe(durable);
    hold = false;
    (release as (() => void) | null)?.();
    await trail.close();
    await journal.close();
    expect((await verifyAudit({ dataDir, database: 'none' })).ok).toBe(true);
  });
});

describe('signing key', () => {
  it('dev generates one key on first start (mode 0600) and keeps using it', async () => {
    const dataDir = path.join(root.dir, 'keys-dev');
    const a = loadSigningKey({ dataDir, environment: 'dev', env: {}, create: true });
    const b = loadSigningKey({ dataDir, environment: 'dev', env: {}, create: true });
    expect(b.keyId).toBe(a.keyId);
    expect(fs.statSync(path.join(dataDir, 'audit', 'signing-key.pem')).mode & 0o777).toBe(0o600);
    expect(() => loadSigningKey({ dataDir: path.join(root.dir, 'keys-none'), environment: 'dev', env: {}, create: false })).toThrow(AuditKeyError);
  });

  it('other environments refuse to run without a configured key, and take one from a file or the environment', () => {
    const dataDir = path.join(root.dir, 'keys-prod');
    expect(() => loadSigningKey({ dataDir, environment: 'prod', env: {}, create: true })).toThrow(/prod environment needs a checkpoint signing key/);
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const file = path.join(root.dir, 'prod-key.pem');
    fs.writeFileSync(file, pem, { mode: 0o600 });
    const fromFile = loadSigningKey({ dataDir, environment: 'prod', keyFile: file, env: {} });
    const fromEnv = loadSigningKey({ dataDir, environment: 'prod', env: { BULWARK_AUDIT_KEY: pem } });
    const fromEnvFile = loadSigningKey({ dataDir, environment: 'prod', env: { BULWARK_AUDIT_KEY_FILE: file } });
    expect(fromEnv.keyId).toBe(fromFile.keyId);
    expect(fromEnvFile.keyId).toBe(fromFile.keyId);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => loadSigningKey({ dataDir, environment: 'prod', env: { BULWARK_AUDIT_KEY: rsa } })).toThrow(/must be Ed25519/);
    expect(fs.existsSync(path.join(dataDir, 'audit', 'signing-key.pem'))).toBe(false);
  });
});

describe('configuration', () => {
  it('a configuration without an audit section validates with the defaults; archive is off', () => {
    const cfg = loadConfig({ env: {} });
    expect(cfg.audit.checkpoint).toEqual({ everyRecords: 100_000, everySeconds: 60 });
    expect(cfg.audit.archive).toBeUndefined();
  });

  it('an archive section gets its defaults (6 years COMPLIANCE retention) and bad values are named', () => {
    const cfg = loadConfig({ env: {}, overrides: { audit: { archive: { bucket: 'worm-audit', endpoint: 'http://127.0.0.1:9000' } } } });
    expect(cfg.audit.archive).toMatchObject({ bucket: 'worm-audit', retentionYears: 6, region: 'us-east-1', forcePathStyle: false, prefix: '', segmentStorageClass: 'DEEP_ARCHIVE', checkpointStorageClass: 'STANDARD' });
    expect(() => loadConfig({ env: {}, overrides: { audit: { archive: { bucket: 'worm-audit', segmentStorageClass: 'GLACIER_DEEP' } } } })).toThrow(/audit\.archive\.segmentStorageClass.*DEEP_ARCHIVE/);
    expect(() => loadConfig({ env: {}, overrides: { audit: { archive: { bucket: 'Bad_Bucket' } } } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, overrides: { audit: { archive: { bucket: 'Bad_Bucket' } } } })).toThrow(/audit\.archive\.bucket/);
    expect(() => loadConfig({ env: {}, overrides: { audit: { checkpoint: { everyRecords: 0 } } } })).toThrow(/audit\.checkpoint\.everyRecords/);
  });
});

describe('process-level failures', () => {
  it('an uncaught exception or unhandled rejection is journaled before the node is stopped and the process exits 1', async () => {
    const { processAuditHandlers } = await import('../../src/audit/hooks.js');
    const submitted: unknown[] = [];
    const exits: number[] = [];
    let stops = 0;
    const node = {
      submitQuiet: (i: unknown) => submitted.push(i),
      stop: async () => {
        stops++;
      },
    };
    const h = processAuditHandlers(node, { log: () => {}, exit: (c) => exits.push(c) });
    h.onException(new TypeError('boom'));
    h.onRejection('late rejection');
    await new Promise((r) => setTimeout(r, 10));
    expect(submitted).toMatchObject([
      { type: 'system.note', event: 'process.uncaughtException', detail: { name: 'TypeError', message: 'boom' } },
      { type: 'system.note', event: 'process.unhandledRejection', detail: { value: 'late rejection' } },
    ]);
    expect(stops).toBe(1);
    expect(exits).toEqual([1]);
  });
});
