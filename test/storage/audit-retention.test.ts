/**
 * audit_log kept two years in the database, pruned by dropping whole monthly partitions, never by
 * DELETE (migration 5): the migration keeps existing rows and their chain; every partition refuses
 * UPDATE, DELETE and TRUNCATE, also when named directly; the projector writes audit_log into
 * monthly partitions and projects the WORM archive's mark from `audit.archived` notes; pruning
 * drops only what is both old enough and archived, leaves the rows a contiguous suffix, and the
 * journal comparison (`verify`) still passes; every prune, the node's and `bulwark db
 * prune-audit`'s, is reported to the node to journal (`database.auditPruned`), and the projected
 * note marks it journaled (migration 6). PGlite always, PostgreSQL when DATABASE_URL is set.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { AuditLogComparer } from '../../src/audit/db.js';
import { Journal, type JournalKind, type JournalPayload } from '../../src/engine/journal.js';
import { pruneAuditLog } from '../../src/storage/audit-prune.js';
import { NodeDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';
import { MIGRATIONS } from '../../src/storage/migrations.js';
import type { SqlClient } from '../../src/storage/sql-client.js';
import { createTarget, describeDrivers, type Target } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function target(kind: Target['kind']): Promise<{ t: Target; db: SqlClient }> {
  const t = await createTarget(kind);
  cleanups.push(() => t.cleanup());
  const db = await t.open();
  cleanups.push(() => db.close());
  return { t, db };
}

/**
 * A connection for the length of `fn` only: with PGlite the projector's worker and the test cannot
 * have the database open at the same time.
 */
async function withDb<T>(t: Target, fn: (db: SqlClient) => Promise<T>): Promise<T> {
  const db = await t.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function projectTarget(kind: Target['kind']): Promise<Target> {
  const t = await createTarget(kind);
  cleanups.push(() => t.cleanup());
  return t;
}

const ns = (iso: string): bigint => BigInt(Date.parse(iso)) * 1_000_000n;
const NOW_NS = BigInt(Date.now()) * 1_000_000n;

interface Row {
  seq: number;
  ts: bigint;
  payload?: JournalPayload;
}

/** Inserts rows as the projector would (prev_hash = the previous row's hash); returns the last hash. */
async function insertRows(db: SqlClient, rows: readonly Row[], prev: Buffer = Buffer.alloc(32)): Promise<Buffer> {
  for (const r of rows) {
    const hash = createHash('sha256').update(`record ${r.seq}`).digest();
    const payload = r.payload ?? { type: 'timer' };
    await db.query(
      `INSERT INTO audit_log (seq, ts_ns, ts, kind, type, actor_id, payload, prev_hash, hash)
       VALUES ($1, $2::bigint, to_timestamp($2::bigint::numeric / 1000000000), 'input', $3, NULL, $4, $5, $6)`,
      [r.seq, r.ts.toString(), payload.type, JSON.stringify(payload), prev, hash],
    );
    prev = hash;
  }
  return prev;
}

function rowsAt(fromSeq: number, count: number, iso: string): Row[] {
  return Array.from({ length: count }, (_, i) => ({ seq: fromSeq + i, ts: ns(iso) + BigInt(i) * 1_000_000n }));
}

const archivedNote = (through: number): JournalPayload => ({
  type: 'system.note',
  event: 'audit.archived',
  detail: { objects: ['journal/00000000000000000001.seg'], bytes: 1024, retainUntil: '2032-11-28T12:00:00.000Z', archivedThroughSeq: through },
});

async function partitions(db: SqlClient): Promise<string[]> {
  const r = await db.query<{ relname: string }>(
    `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_log'::regclass ORDER BY 1`,
  );
  return r.rows.map((x) => x.relname);
}

async function one(db: SqlClient, sql: string, params: unknown[] = []): Promise<string | null> {
  const r = await db.query<{ v: string | null }>(sql, params);
  return r.rows[0]?.v ?? null;
}

const SNAPSHOT = `SELECT seq::text AS seq, ts_ns::text AS ts_ns, (extract(epoch from ts) * 1000000)::bigint::text AS ts_us, kind, type, actor_id,
                         payload::text AS payload, encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash
                    FROM audit_log ORDER BY audit_log.seq`;
const BROKEN_LINKS = `SELECT count(*)::text AS v FROM (SELECT prev_hash, lag(hash) OVER (ORDER BY seq) AS prior FROM audit_log) x WHERE prior IS NOT NULL AND prior <> prev_hash`;

/** UPDATE, DELETE (of rows and of none) and TRUNCATE on `table` are all refused. */
async function expectRefused(db: SqlClient, table: string): Promise<void> {
  await expect(db.query(`UPDATE ${table} SET type = 'forged'`)).rejects.toThrow(/append-only: UPDATE refused/);
  await expect(db.query(`DELETE FROM ${table}`)).rejects.toThrow(/append-only: DELETE refused/);
  await expect(db.query(`DELETE FROM ${table} WHERE seq = -1`)).rejects.toThrow(/append-only: DELETE refused/);
  await expect(db.query(`TRUNCATE ${table}`)).rejects.toThrow(/append-only: TRUNCATE refused/);
}

/** Journal records at chosen times: what the node would have journaled over two and more years. */
function append(journal: Journal, records: readonly { ts: bigint; kind?: JournalKind; payload?: JournalPayload }[]): void {
  let seq = journal.lastSeq;
  for (const r of records) journal.append(r.kind ?? 'input', ++seq, r.ts, r.payload ?? { type: 'timer' });
}

function timers(count: number, iso: string | bigint): { ts: bigint }[] {
  const t0 = typeof iso === 'bigint' ? iso : ns(iso);
  return Array.from({ length: count }, (_, i) => ({ ts: t0 + BigInt(i) * 1_000_000n }));
}

type Note = { event: string; detail: Record<string, unknown> };

async function project(
  t: Target,
  journal: Journal,
  log?: (level: string, msg: string, data?: Record<string, unknown>) => void,
  onNote?: (event: string, detail: Record<string, unknown>) => void,
): Promise<void> {
  await journal.flush();
  const db = NodeDatabase.start(t.settings, journal, log, onNote);
  try {
    await db.whenProjected(journal.lastSeq);
  } finally {
    await db.stop();
  }
}

/** The database part of `bulwark audit verify`: every row against the journal. */
async function compareWithJournal(db: SqlClient, journalDir: string): Promise<Awaited<ReturnType<AuditLogComparer['finish']>>> {
  const cmp = new AuditLogComparer(db, 'test');
  expect(await cmp.init()).toBe(true);
  let prev: Buffer = Buffer.alloc(32);
  let last = 0;
  for (const e of Journal.read(journalDir)) {
    await cmp.check(e, prev);
    prev = e.hash;
    last = e.seq;
  }
  return cmp.finish(last);
}

describeDrivers('audit_log partitions and pruning', (kind) => {
  it('migration 5 partitions an existing audit_log by month, keeping every row and the hash chain', async () => {
    const { db } = await target(kind);
    expect(await migrate(db, MIGRATIONS.filter((m) => m.version <= 4))).toEqual([1, 2, 3, 4]);
    await insertRows(db, [...rowsAt(1, 5, '2023-12-10T08:00:00Z'), ...rowsAt(6, 5, '2024-01-31T23:59:59Z'), ...rowsAt(11, 5, '2024-02-15T00:00:00Z'), ...rowsAt(16, 5, new Date().toISOString())]);
    const before = (await db.query(SNAPSHOT)).rows;
    expect(before).toHaveLength(20);

    expect(await migrate(db, MIGRATIONS.filter((m) => m.version <= 5))).toEqual([5]);
    expect((await db.query(SNAPSHOT)).rows).toEqual(before);
    expect(await one(db, BROKEN_LINKS)).toBe('0');
    expect(await one(db, `SELECT relkind::text AS v FROM pg_class WHERE oid = 'audit_log'::regclass`)).toBe('p');
    expect(await one(db, `SELECT pg_get_constraintdef(oid) AS v FROM pg_constraint WHERE conrelid = 'audit_log'::regclass AND contype = 'p'`)).toBe('PRIMARY KEY (seq, ts)');
    const indexes = (await db.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'audit_log' AND schemaname = current_schema() ORDER BY 1`)).rows;
    expect(indexes.map((i) => i.indexname)).toEqual(['audit_log_actor_ts_idx', 'audit_log_pkey', 'audit_log_ts_brin']);
    // the months the rows need (UTC: the last second of 31 January is January's), and the months around now
    const now = new Date();
    const month = (offset: number): string => {
      const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
      return `audit_log_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
    };
    const parts = await partitions(db);
    expect(parts).toEqual(expect.arrayContaining(['audit_log_p202312', 'audit_log_p202401', 'audit_log_p202402', month(-1), month(0), month(3)]));
    // each row sits in the partition of its month
    const placed = await db.query<{ seq: string; part: string }>(`SELECT seq::text AS seq, tableoid::regclass::text AS part FROM audit_log WHERE seq IN (1, 6, 11) ORDER BY audit_log.seq`);
    expect(placed.rows).toEqual([
      { seq: '1', part: 'audit_log_p202312' },
      { seq: '6', part: 'audit_log_p202401' },
      { seq: '11', part: 'audit_log_p202402' },
    ]);
    // the privileges stay revoked from PUBLIC on the table and its partitions
    const acl = await one(
      db,
      `SELECT count(*)::text AS v FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
        WHERE (c.oid = 'audit_log'::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'audit_log'::regclass))
          AND a.grantee = 0 AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')`,
    );
    expect(acl).toBe('0');
  });

  it('refuses UPDATE, DELETE and TRUNCATE on the partitioned table and on each partition named directly', async () => {
    const { db } = await target(kind);
    await migrate(db);
    await db.query(`SELECT bulwark_ensure_audit_partitions('2024-01-05T00:00:00Z', '2024-01-05T00:00:00Z')`);
    await insertRows(db, rowsAt(1, 3, '2024-01-05T00:00:00Z'));
    await expectRefused(db, 'audit_log');
    await expectRefused(db, 'audit_log_p202401');
    // a partition created on demand later (as for the projector's batches) is guarded from birth
    expect(await one(db, `SELECT bulwark_ensure_audit_partitions('2031-06-01T00:00:00Z', '2031-07-31T00:00:00Z')::text AS v`)).toBe('2');
    await expectRefused(db, 'audit_log_p203107');
    // one attached by hand, bypassing the function, is guarded at the next call
    await db.exec(`CREATE TABLE audit_log_p209901 PARTITION OF audit_log FOR VALUES FROM ('2099-01-01 00:00:00+00') TO ('2099-02-01 00:00:00+00')`);
    await db.query(`DELETE FROM audit_log_p209901`);
    await db.query(`SELECT bulwark_ensure_audit_partitions(now(), now())`);
    await expectRefused(db, 'audit_log_p209901');
    expect(await one(db, 'SELECT count(*)::text AS v FROM audit_log')).toBe('3');
    // the functions that change audit_log's partitions are not for PUBLIC, and run as their owner, in this schema only
    const fns = await db.query<{ proname: string; prosecdef: boolean; public_exec: boolean; config: string | null }>(
      `SELECT p.proname, p.prosecdef, array_to_string(p.proconfig, ',') AS config,
              EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_exec
         FROM pg_proc p WHERE p.proname IN ('bulwark_prune_audit_log', 'bulwark_ensure_audit_partitions') AND p.pronamespace = current_schema()::regnamespace ORDER BY 1`,
    );
    const schema = await one(db, 'SELECT current_schema() AS v');
    expect(fns.rows).toEqual([
      { proname: 'bulwark_ensure_audit_partitions', prosecdef: true, public_exec: false, config: `search_path=${schema}, pg_temp` },
      { proname: 'bulwark_prune_audit_log', prosecdef: true, public_exec: false, config: `search_path=${schema}, pg_temp` },
    ]);
  });

  it('the projector fills monthly partitions, records the archive mark, and pruning drops only what is old and archived; verify still passes', async () => {
    const t = await projectTarget(kind);
    const journal = await Journal.open(path.join(t.dataDir, 'journal'), { fsync: false });
    cleanups.push(() => journal.close());
    // seq 1-40 December 2023, 41-80 January 2024, 81-120 February 2024 (all past two years), 121-129 now
    append(journal, [...timers(40, '2023-12-10T00:00:00Z'), ...timers(40, '2024-01-10T00:00:00Z'), ...timers(40, '2024-02-10T00:00:00Z'), ...timers(9, NOW_NS)]);
    await project(t, journal);
    await withDb(t, async (db) => {
      expect(await partitions(db)).toEqual(expect.arrayContaining(['audit_log_p202312', 'audit_log_p202401', 'audit_log_p202402']));
      expect(await one(db, 'SELECT count(*)::text AS v FROM audit_log')).toBe('129');
      expect(await one(db, BROKEN_LINKS)).toBe('0');
      // nothing archived yet: old enough is not enough
      expect(await pruneAuditLog(db, 2)).toEqual([]);
    });

    // the archiver confirms everything up to seq 80 (journaled as an input, then as the core's event);
    // a later note with a lower mark (another run that found less) does not lower it
    append(journal, [
      { ts: NOW_NS + 10_000_000n, payload: archivedNote(80) },
      { ts: NOW_NS + 10_000_001n, kind: 'event', payload: archivedNote(80) },
      ...timers(5, NOW_NS + 20_000_000n),
      { ts: NOW_NS + 30_000_000n, payload: archivedNote(60) },
      ...timers(5, NOW_NS + 40_000_000n),
    ]);
    await project(t, journal);
    await withDb(t, async (db) => {
      const state = await db.query<{ archived_seq: string; source_seq: string }>(`SELECT archived_seq::text AS archived_seq, source_seq::text AS source_seq FROM audit_archive_state`);
      expect(state.rows).toEqual([{ archived_seq: '80', source_seq: '130' }]);

      await expect(pruneAuditLog(db, 0)).rejects.toThrow(/at least one year/);
      // December and January go (old, and at or below the mark); February is as old but holds seq 81-120, above it
      expect(await pruneAuditLog(db, 2)).toEqual([
        { partition: 'audit_log_p202312', month: '2023-12-01', minSeq: 1, maxSeq: 40 },
        { partition: 'audit_log_p202401', month: '2024-01-01', minSeq: 41, maxSeq: 80 },
      ]);
      expect(await pruneAuditLog(db, 2)).toEqual([]);
      expect(await partitions(db)).not.toContain('audit_log_p202312');
      expect(await partitions(db)).toContain('audit_log_p202402');
      expect(await one(db, 'SELECT min(seq)::text AS v FROM audit_log')).toBe('81');
      const log = await db.query<{ partition_name: string; min_seq: string; max_seq: string; retention_years: number; archived_seq: string }>(
        `SELECT partition_name, min_seq::text AS min_seq, max_seq::text AS max_seq, retention_years, archived_seq::text AS archived_seq FROM audit_log_prunes ORDER BY id`,
      );
      expect(log.rows).toEqual([
        { partition_name: 'audit_log_p202312', min_seq: '1', max_seq: '40', retention_years: 2, archived_seq: '80' },
        { partition_name: 'audit_log_p202401', min_seq: '41', max_seq: '80', retention_years: 2, archived_seq: '80' },
      ]);
      await expect(db.query('DELETE FROM audit_log_prunes')).rejects.toThrow(/audit_log_prunes is append-only: DELETE refused/);
      await expectRefused(db, 'audit_log');
      await expectRefused(db, 'audit_log_p202402');

      // verify: the rows left match the journal, and start above seq 1
      const v = await compareWithJournal(db, journal.dir);
      expect(v.problems).toEqual([]);
      expect(v.summary).toMatchObject({ minSeq: 81, maxSeq: journal.lastSeq, compared: journal.lastSeq - 80 });
      expect(v.notes).toContain('database rows start at seq 81 (older rows pruned or not projected)');
    });

    // the projector goes on after a prune (same-journal check, chain) and its own daily prune finds nothing more
    append(journal, timers(10, NOW_NS + 50_000_000n));
    await project(t, journal);
    await withDb(t, async (db) => {
      expect(await one(db, 'SELECT count(*)::text AS v FROM audit_log')).toBe(String(journal.lastSeq - 80));
      expect(await one(db, BROKEN_LINKS)).toBe('0');
      expect((await compareWithJournal(db, journal.dir)).problems).toEqual([]);
    });
  });

  it('the node prunes at start and then daily, logs what it dropped, and has it journaled', async () => {
    const t = await projectTarget(kind);
    const journal = await Journal.open(path.join(t.dataDir, 'journal'), { fsync: false });
    cleanups.push(() => journal.close());
    append(journal, [...timers(20, '2024-03-10T00:00:00Z'), ...timers(5, NOW_NS), { ts: NOW_NS + 10_000_000n, payload: archivedNote(20) }]);
    await project(t, journal);
    expect(await withDb(t, partitions)).toContain('audit_log_p202403');
    const logs: { msg: string; data?: Record<string, unknown> }[] = [];
    const notes: Note[] = [];
    // at connect: maintenance, the daily prune among it, then the prunes not yet journaled
    await project(
      t,
      journal,
      (_level, msg, data) => logs.push({ msg, ...(data !== undefined ? { data } : {}) }),
      (event, detail) => notes.push({ event, detail }),
    );
    const pruned = logs.find((l) => /audit_log: dropped monthly partitions/.test(l.msg));
    expect(pruned?.data?.auditLogYears).toBe(2);
    // the batch that went from March 2024 to now had the months in between created (empty): those old enough go too
    const dropped = pruned?.data?.dropped as string[];
    expect(dropped[0]).toBe('audit_log_p202403 (seq 1..20)');
    expect(dropped.slice(1).every((d) => /^audit_log_p20\d{4} \(empty\)$/.test(d))).toBe(true);
    await withDb(t, async (db) => {
      expect(await partitions(db)).not.toContain('audit_log_p202403');
      expect(await one(db, 'SELECT min(seq)::text AS v FROM audit_log')).toBe('21');
    });
    // what it dropped is handed to the node to journal, in the same maintenance run, in one note
    expect(notes.map((n) => n.event)).toEqual(['database.auditPruned']);
    const prunes = notes[0]!.detail.prunes as Record<string, unknown>[];
    expect(prunes.map((p) => `${String(p.partition)} (${p.minSeq === null ? 'empty' : `seq ${String(p.minSeq)}..${String(p.maxSeq)}`})`)).toEqual(dropped);
    expect(prunes[0]).toMatchObject({ id: 1, partition: 'audit_log_p202403', month: '2024-03-01', minSeq: 1, maxSeq: 20, retentionYears: 2, archivedSeq: 20 });
  });

  it('journals prunes done while no node ran: reported once at the next start, marked journaled by the projected note', async () => {
    const t = await projectTarget(kind);
    const journal = await Journal.open(path.join(t.dataDir, 'journal'), { fsync: false });
    cleanups.push(() => journal.close());
    append(journal, [...timers(20, '2024-03-10T00:00:00Z'), ...timers(5, NOW_NS), { ts: NOW_NS + 10_000_000n, payload: archivedNote(20) }]);
    // a projector without a note callback reports nothing (and prunes nothing here: the mark comes with this batch)
    await project(t, journal);
    // node down: bulwark db prune-audit
    const dropped = await withDb(t, (db) => pruneAuditLog(db, 2));
    expect(dropped[0]).toEqual({ partition: 'audit_log_p202403', month: '2024-03-01', minSeq: 1, maxSeq: 20 });
    type PruneRow = { id: number; partition: string; month: string; minSeq: number | null; maxSeq: number | null; retentionYears: number; archivedSeq: number; prunedBy: string; ms: number };
    const recorded = await withDb(t, async (db) =>
      JSON.parse(
        (await one(
          db,
          `SELECT json_agg(json_build_object('id', id, 'partition', partition_name, 'month', to_char(month, 'YYYY-MM-DD'), 'minSeq', min_seq, 'maxSeq', max_seq,
                                             'retentionYears', retention_years, 'archivedSeq', archived_seq, 'prunedBy', pruned_by,
                                             'ms', extract(epoch from pruned_at) * 1000) ORDER BY id)::text AS v
             FROM audit_log_prunes`,
        ))!,
      ) as PruneRow[],
    );
    expect(recorded.map((r) => r.partition)).toEqual(dropped.map((d) => d.partition));

    // the node starts: the projector reports every prune not yet journaled, oldest first, in one note
    const notes: Note[] = [];
    await project(t, journal, undefined, (event, detail) => notes.push({ event, detail }));
    expect(notes).toHaveLength(1);
    expect(notes[0]!.event).toBe('database.auditPruned');
    const prunes = notes[0]!.detail.prunes as (Omit<PruneRow, 'ms'> & { prunedAt: string })[];
    expect(prunes.map(({ prunedAt: _at, ...p }) => p)).toEqual(recorded.map(({ ms: _ms, ...r }) => r));
    prunes.forEach((p, i) => {
      expect(p.prunedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(Math.abs(Date.parse(p.prunedAt) - recorded[i]!.ms)).toBeLessThan(1);
    });

    // the node journals it (as an input, echoed by the core as an event); a later note repeating
    // prune 1 and naming one this database never had changes nothing; nor does an earlier note
    // with prune 1's id but another partition (another database's prune, in a journal replayed here)
    const noteSeq = journal.lastSeq + 2;
    const pruneNote = (detail: Record<string, unknown>): JournalPayload => ({ type: 'system.note', event: 'database.auditPruned', detail });
    append(journal, [
      { ts: NOW_NS + 15_000_000n, payload: pruneNote({ prunes: [{ ...prunes[0]!, partition: 'audit_log_p199901' }] }) },
      { ts: NOW_NS + 20_000_000n, payload: pruneNote(notes[0]!.detail) },
      { ts: NOW_NS + 20_000_001n, kind: 'event', payload: pruneNote(notes[0]!.detail) },
      { ts: NOW_NS + 30_000_000n, payload: pruneNote({ prunes: [{ ...prunes[0]!, id: 1 }, { ...prunes[0]!, id: 999 }] }) },
    ]);
    await project(t, journal);
    await withDb(t, async (db) => {
      const journaled = await db.query<{ prune_id: string; seq: string }>(`SELECT prune_id::text AS prune_id, seq::text AS seq FROM audit_log_prunes_journaled ORDER BY prune_id`);
      expect(journaled.rows).toEqual(recorded.map((r) => ({ prune_id: String(r.id), seq: String(noteSeq) })));
      expect(await one(db, 'SELECT last_seq::text AS v FROM projector_state')).toBe(String(journal.lastSeq));
      await expect(db.query('DELETE FROM audit_log_prunes_journaled')).rejects.toThrow(/audit_log_prunes_journaled is append-only: DELETE refused/);
      await expect(db.query('UPDATE audit_log_prunes_journaled SET seq = 1')).rejects.toThrow(/append-only: UPDATE refused/);
      await expect(db.query('TRUNCATE audit_log_prunes_journaled')).rejects.toThrow(/append-only: TRUNCATE refused/);
    });

    // a further start: nothing left to report
    const later: Note[] = [];
    await project(t, journal, undefined, (event, detail) => later.push({ event, detail }));
    expect(later).toEqual([]);
  });

  it('keeps the rows a contiguous suffix, and refuses a mark no audit.archived row backs', async () => {
    const { db } = await target(kind);
    await migrate(db);
    await db.query(`SELECT bulwark_ensure_audit_partitions('2023-12-01T00:00:00Z', '2023-12-01T00:00:00Z') + bulwark_ensure_audit_partitions('2099-01-01T00:00:00Z', '2099-01-01T00:00:00Z')`);
    // a clock that jumped ahead for two records (seq 5-6 in January 2099), then came back
    let prev = await insertRows(db, rowsAt(1, 4, '2023-12-10T00:00:00Z'));
    prev = await insertRows(db, rowsAt(5, 2, '2099-01-10T00:00:00Z'), prev);
    prev = await insertRows(db, rowsAt(7, 4, '2023-12-20T00:00:00Z'), prev);
    await insertRows(db, [{ seq: 11, ts: NOW_NS, payload: archivedNote(10) }], prev);
    await db.query(`UPDATE audit_archive_state SET archived_seq = 10, source_seq = 11, reported_at = now()`);
    // December 2023 is old and archived, but dropping it would leave seq 5-6 with a hole below them
    expect(await pruneAuditLog(db, 2)).toEqual([]);
    expect(await one(db, 'SELECT count(*)::text AS v FROM audit_log')).toBe('11');

    // a mark without the audit.archived row that reported it (an edited audit_archive_state) is refused
    await db.query(`UPDATE audit_archive_state SET archived_seq = 10, source_seq = 12`);
    await expect(pruneAuditLog(db, 2)).rejects.toThrow(/no audit.archived record \(seq 12\) reporting it: refusing to prune/);
    await db.query(`UPDATE audit_archive_state SET archived_seq = 9, source_seq = 11`);
    await expect(pruneAuditLog(db, 2)).rejects.toThrow(/refusing to prune/);
  });
});
