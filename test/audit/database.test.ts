/**
 * The database copy of the audit trail (audit_log) is checked row by row against the journal.
 * Uses embedded PGlite under <dataDir>/db, where `verify` finds it, with the schema the node's
 * migrations create; rows are written here so this test does not depend on the projector's progress.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/engine/journal.js';
import { actorIdOf } from '../../src/audit/records.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { pruneAuditLog } from '../../src/storage/audit-prune.js';
import { migrate } from '../../src/storage/migrate.js';
import { openPglite, openPostgres } from '../../src/storage/sql-client.js';
import { tempDir } from '../helpers.js';
import { findFrame, fixCrc, rewrite, writeAuditedJournal, type WrittenJournal } from './helpers.js';

/** The schema as the node has it: every migration, audit_log's append-only trigger included. */
async function migratedPglite(dir: string): Promise<void> {
  const db = await openPglite(dir);
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
}

/** json or jsonb alike: the edit an insider would make to a row's payload. */
const EDIT_PAYLOAD = `UPDATE audit_log SET payload = jsonb_set(payload::jsonb, '{type}', '"timer"')::json WHERE seq = $1`;

let root: { dir: string; cleanup: () => void };
let base: WrittenJournal;
let n = 0;
const TARGET = 137;

/** What the projector does: one row per journal record, in the monthly partition of its time. */
async function project(db: { query(text: string, params: unknown[]): Promise<unknown> }, journalDir: string, toSeq?: number): Promise<void> {
  let prev: Buffer = Buffer.alloc(32);
  const entries = [...Journal.read(journalDir, toSeq !== undefined ? { toSeq } : {})];
  if (entries.length > 0) {
    await db.query(`SELECT bulwark_ensure_audit_partitions(to_timestamp($1::bigint::numeric / 1000000000), to_timestamp($2::bigint::numeric / 1000000000))`, [
      entries[0]!.ts.toString(),
      entries[entries.length - 1]!.ts.toString(),
    ]);
  }
  for (const e of entries) {
    await db.query(
      `INSERT INTO audit_log (seq, ts_ns, ts, kind, type, actor_id, payload, prev_hash, hash)
       VALUES ($1, $2::bigint, to_timestamp($2::bigint::numeric / 1000000000), $3, $4, $5, $6, $7, $8)`,
      [e.seq, e.ts.toString(), e.kind, e.payload.type, actorIdOf(e.payload), JSON.stringify(e.payload), prev, e.hash],
    );
    prev = e.hash;
  }
}

function copy(): string {
  const d = path.join(root.dir, `case-${++n}`);
  fs.cpSync(path.join(root.dir, 'base'), d, { recursive: true });
  return d;
}

/** Opens the case's database as an insider with owner rights would, to change it behind the triggers. */
async function tamper(dataDir: string, sql: string, params: unknown[] = []): Promise<void> {
  const db = await PGlite.create(path.join(dataDir, 'db'));
  await db.exec('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
  await db.query(sql, params);
  await db.exec('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
  await db.close();
}

beforeAll(async () => {
  root = tempDir('bulwark-audit-db-');
  base = await writeAuditedJournal(path.join(root.dir, 'base'), { records: 300, checkpointEvery: 100 });
  await migratedPglite(path.join(base.dataDir, 'db'));
  const db = await PGlite.create(path.join(base.dataDir, 'db'));
  await project(db, path.join(base.dataDir, 'journal'));
  await db.close();
});

afterAll(() => root.cleanup());

describe('audit_log against the journal', () => {
  it('an intact table verifies, every row compared', async () => {
    const r = await verifyAudit({ dataDir: base.dataDir, env: {} });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.database).not.toBeNull();
    expect(r.database!.compared).toBe(base.lastSeq);
    expect(r.database!.rows).toBe(base.lastSeq);
  });

  it('the table itself refuses UPDATE, DELETE and TRUNCATE', async () => {
    const d = copy();
    const db = await PGlite.create(path.join(d, 'db'));
    await expect(db.query(`UPDATE audit_log SET type = 'x' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM audit_log WHERE seq = 1')).rejects.toThrow(/append-only/);
    await expect(db.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    await db.close();
  });

  it('an edited row (payload) is named by its seq', async () => {
    const d = copy();
    await tamper(d, EDIT_PAYLOAD, [TARGET]);
    const r = await verifyAudit({ dataDir: d, env: {} });
    expect(r.ok).toBe(false);
    expect(r.firstBadSeq).toBe(TARGET);
    expect(r.problems[0]!.area).toBe('database');
    expect(r.problems[0]!.message).toMatch(/payload differs/);
  });

  it('an edited actor, time or hash is named by its seq', async () => {
    const d = copy();
    await tamper(d, `UPDATE audit_log SET actor_id = 'someone-else' WHERE seq = $1`, [TARGET]);
    await tamper(d, `UPDATE audit_log SET ts = ts + interval '1 second' WHERE seq = $1`, [TARGET + 5]);
    await tamper(d, `UPDATE audit_log SET hash = decode(repeat('00', 32), 'hex') WHERE seq = $1`, [TARGET + 9]);
    const r = await verifyAudit({ dataDir: d, env: {} });
    expect(r.firstBadSeq).toBe(TARGET);
    expect(r.problems.map((p) => p.seq)).toEqual([TARGET, TARGET + 5, TARGET + 9]);
  });

  it('with the chain checked on a thread of its own, the verdict is the same (an edited row; then also a forged journal record, so the pass and the comparison start over)', async () => {
    const d = copy();
    await tamper(d, EDIT_PAYLOAD, [TARGET]);
    const strip = (r: Awaited<ReturnType<typeof verifyAudit>>) => ({ ...r, elapsedMs: 0 });
    const here = await verifyAudit({ dataDir: d, env: {}, chainOnThread: false });
    expect(here.firstBadSeq).toBe(TARGET);
    expect(strip(await verifyAudit({ dataDir: d, env: {}, chainOnThread: true }))).toEqual(strip(here));
    // a careful forger: one byte of a later record changed and its CRC recomputed
    const { file, frame } = findFrame(path.join(d, 'journal'), TARGET + 40);
    const buf = fs.readFileSync(file);
    buf[frame.offset + frame.length - 3] ^= 0x01;
    fixCrc(buf, frame.offset);
    rewrite(file, buf);
    const forged = await verifyAudit({ dataDir: d, env: {}, chainOnThread: false });
    expect(forged.firstBadSeq).toBe(TARGET);
    expect(forged.problems.some((x) => x.area === 'journal' && x.seq === TARGET + 40)).toBe(true);
    expect(forged.database!.compared).toBe(TARGET + 39);
    expect(strip(await verifyAudit({ dataDir: d, env: {}, chainOnThread: true }))).toEqual(strip(forged));
  });

  it('a deleted row in the middle is named by its seq', async () => {
    const d = copy();
    await tamper(d, 'DELETE FROM audit_log WHERE seq = $1', [TARGET]);
    const r = await verifyAudit({ dataDir: d, env: {} });
    expect(r.firstBadSeq).toBe(TARGET);
  });

  it('a row the journal does not have is named by its seq', async () => {
    const d = copy();
    const extra = base.lastSeq + 1;
    await tamper(
      d,
      `INSERT INTO audit_log (seq, ts_ns, ts, kind, type, actor_id, payload, prev_hash, hash)
       SELECT $1, ts_ns + 1, ts, kind, type, actor_id, payload, hash, hash FROM audit_log WHERE seq = $2`,
      [extra, base.lastSeq],
    );
    const r = await verifyAudit({ dataDir: d, env: {} });
    expect(r.firstBadSeq).toBe(extra);
  });

  it('a projector that is behind is not a failure (the newest rows are simply not there yet)', async () => {
    const d = path.join(root.dir, 'lagging');
    fs.cpSync(path.join(root.dir, 'base'), d, { recursive: true });
    fs.rmSync(path.join(d, 'db'), { recursive: true, force: true });
    await migratedPglite(path.join(d, 'db'));
    const db = await PGlite.create(path.join(d, 'db'));
    await project(db, path.join(d, 'journal'), 200);
    await db.close();
    const r = await verifyAudit({ dataDir: d, env: {} });
    expect(r.ok).toBe(true);
    expect(r.database!.compared).toBe(200);
    expect(r.notes.some((x) => /behind the journal/.test(x))).toBe(true);
  });
});

describe('audit_log pruned by whole monthly partitions', () => {
  it('verifies after the oldest month, archived and past two years, was dropped: rows start above seq 1', async () => {
    const dataDir = path.join(root.dir, 'pruned');
    // one record a millisecond from 23:59:59.900 on 31 December 2023: seq 1-99 fall in December
    const noteAt = 200;
    const w = await writeAuditedJournal(dataDir, {
      records: 300,
      checkpointEvery: 100,
      clockStart: BigInt(Date.parse('2023-12-31T23:59:59.900Z')) * 1_000_000n,
      payload: (i) =>
        i === noteAt
          ? { kind: 'input', payload: { type: 'system.note', event: 'audit.archived', detail: { objects: [], bytes: 0, retainUntil: 'x', archivedThroughSeq: 150 } } }
          : { kind: 'input', payload: { type: 'timer' } },
    });
    const note = [...Journal.read(path.join(dataDir, 'journal'))].find((e) => e.payload.event === 'audit.archived')!;
    await migratedPglite(path.join(dataDir, 'db'));
    const db = await openPglite(path.join(dataDir, 'db'));
    try {
      await project(db, path.join(dataDir, 'journal'));
      // what the projector records from that note (test/storage/audit-retention.test.ts runs the real one)
      await db.query(`UPDATE audit_archive_state SET archived_seq = 150, source_seq = $1`, [note.seq]);
      expect(await pruneAuditLog(db, 2)).toEqual([{ partition: 'audit_log_p202312', month: '2023-12-01', minSeq: 1, maxSeq: 99 }]);
    } finally {
      await db.close();
    }
    const r = await verifyAudit({ dataDir, env: {} });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.database).toMatchObject({ minSeq: 100, maxSeq: w.lastSeq, compared: w.lastSeq - 99 });
    expect(r.notes).toContain('database rows start at seq 100 (older rows pruned or not projected)');
  });
});

// PostgreSQL, when a server is configured (CI; DATABASE_URL), in a throwaway schema.
const PG_URL = process.env.DATABASE_URL;
describe.skipIf(!PG_URL)(`audit_log on PostgreSQL${PG_URL ? '' : ' — skipped: DATABASE_URL is not set'}`, () => {
  const schema = `bulwark_audit_test_${Date.now().toString(36)}`;
  let url = '';
  let admin: import('pg').Client;

  beforeAll(async () => {
    const pg = (await import('pg')).default;
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`SET search_path = ${schema}`);
    const u = new URL(PG_URL!);
    u.searchParams.set('options', `-c search_path=${schema}`);
    url = u.toString();
    const db = await openPostgres(url, 'bulwark-audit-test');
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
    await project(admin, path.join(base.dataDir, 'journal'));
  });

  afterAll(async () => {
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin?.end();
  });

  it('an intact table verifies; an edited row is named by its seq', async () => {
    const dataDir = path.join(root.dir, 'pg');
    fs.cpSync(path.join(root.dir, 'base', 'journal'), path.join(dataDir, 'journal'), { recursive: true });
    fs.cpSync(path.join(root.dir, 'base', 'audit'), path.join(dataDir, 'audit'), { recursive: true });
    const ok = await verifyAudit({ dataDir, env: { DATABASE_URL: url } });
    expect(ok.problems).toEqual([]);
    expect(ok.database!.compared).toBe(base.lastSeq);
    await expect(admin.query(`UPDATE audit_log SET type = 'x' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await admin.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
    await admin.query(EDIT_PAYLOAD, [TARGET]);
    await admin.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
    const bad = await verifyAudit({ dataDir, env: { DATABASE_URL: url } });
    expect(bad.firstBadSeq).toBe(TARGET);
    expect(bad.database!.target).toMatch(/^PostgreSQL/);
  });
});
