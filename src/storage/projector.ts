/**
 * The projector: tails the journal and applies it to the database, batch by batch, each batch in
 * one transaction with the projector_state.last_seq it brings the database to. Runs inside the
 * database worker thread (src/storage/projector-worker.ts), never on the core's thread.
 *
 * Why tail the journal instead of keeping a queue of its own: the journal already is the bounded,
 * durable, ordered queue. The core's only "enqueue" is publishing the durable sequence number (one
 * atomic store, see database.ts); the projector pulls (last_seq, durableSeq] at its own pace with
 * a JournalTail (which keeps its place in the journal, so each round reads only the bytes appended
 * since the last one), so a slow or absent database costs the core nothing and memory stays
 * bounded by batchSize. Since last_seq commits atomically with the rows, a crash, a database outage or a
 * restart resumes exactly after the last committed record: nothing lost, nothing doubled.
 */
import { JournalTail } from '../engine/journal.js';
import { isPrivilegeError, migrate, MigrationChecksumError, MigrationPrivilegeError } from './migrate.js';
import { BatchBuilder, ProjectionState, ZERO_HASH_HEX, type PositionSeed, type ProjectionBatch } from './projection.js';
import type { DatabaseSettings } from './settings.js';
import type { SqlClient, SqlResult } from './sql-client.js';
import { openSqlClient } from './sql-client.js';
import { BatchWriter, ensurePartitionsSql, ProjectorConflictError, type EncodedBatch } from './writer.js';
import { AUDIT_PRUNED_EVENT, pruneAuditLog, unjournaledPrunes } from './audit-prune.js';

/** Slots of the BigInt64Array shared between the node's thread and the worker. */
export const SLOT_DURABLE = 0;
export const SLOT_APPLIED = 1;
export const SHARED_SLOTS = 4;

export type ProjectorState = 'starting' | 'up' | 'down' | 'stopped';

export interface ProjectorReport {
  state: ProjectorState;
  lastSeq: number;
  error?: string;
  /** The error will not go away by retrying (schema mismatch, another journal's database). */
  fatal?: boolean;
  timeseries?: string;
  batches: number;
  records: number;
  rows: number;
  malformed: number;
}

/** The database does not mirror the journal this node writes: projecting would mix two histories. */
export class JournalMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JournalMismatchError';
  }
}

export interface ProjectorOptions {
  settings: DatabaseSettings;
  journalDir: string;
  shared: BigInt64Array;
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
  onReport: (r: ProjectorReport) => void;
  /**
   * Asks the node to journal a system.note (`event`, `detail`): used for `database.auditPruned`,
   * the audit_log prunes the journal has not been told of. Without it, prunes are not reported.
   */
  note?: (event: string, detail: Record<string, unknown>) => void;
  /** For fault injection in tests; openSqlClient by default. */
  openClient?: (s: DatabaseSettings) => Promise<SqlClient>;
}

/** Atomics.waitAsync (Node 16+; typed only from lib ES2024, and this project compiles against ES2023). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: BigInt64Array, index: number, value: bigint, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
const FATAL_RETRY_MS = 30_000;
const MAINTENANCE_MS = 3_600_000;
const AUDIT_PRUNE_MS = 86_400_000;
const PUBLISH_MS = 250;
/**
 * While a batch is in flight, building the next one yields to the event loop this often, so the
 * database's reply to each statement of the in-flight transaction (a dozen: BEGIN, the COPYs, the
 * upserts, the advance, COMMIT) is read and the next statement sent within this long. Yielding
 * every 256 records (about 3 ms of building) left the backend idle a third of the time, waiting
 * on the worker between statements (2026-11-29, PostgreSQL catch-up on the 2-vCPU VM, three
 * rounds each: 7,900-9,500 orders/s against 8,900-10,000 with a yield every 8 records, and
 * 9,400-9,900 with this rule, which holds the same pace whatever the machine's speed).
 */
const YIELD_EVERY_MS = 0.1;

export class Projector {
  private db: SqlClient | undefined;
  private state: ProjectionState | undefined;
  private readonly writer = new BatchWriter();
  private applied = 0;
  private prevHash = ZERO_HASH_HEX;
  /** Positioned at applied + 1 between rounds; made anew whenever that no longer holds. */
  private tail: JournalTail | undefined;
  private stopTarget: number | undefined;
  private aborted = false;
  private wake: () => void = () => {};
  private lastMaintenance = 0;
  private lastAuditPrune = 0;
  private lastPublish = 0;
  /**
   * audit_log_prunes ids handed to `note` by this instance: not reported again every hour while
   * their note waits to be projected. A new worker reports them again (harmless: the first
   * projected note wins).
   */
  private readonly reportedPrunes = new Set<number>();
  private readonly report: ProjectorReport = { state: 'starting', lastSeq: 0, batches: 0, records: 0, rows: 0, malformed: 0 };

  constructor(private readonly o: ProjectorOptions) {}

  get lastSeq(): number {
    return this.applied;
  }

  /** Finish when everything up to targetSeq is applied (node stop: the journal is closed). */
  requestStop(targetSeq: number): void {
    this.stopTarget = targetSeq;
    this.wake();
  }

  /** Stop now, whatever is left (drain timeout). What is not applied is applied at the next start. */
  abort(): void {
    this.aborted = true;
    this.wake();
  }

  /** The connection for the read proxy (PGlite lives in this thread); undefined while down. */
  get client(): SqlClient | undefined {
    return this.report.state === 'up' ? this.db : undefined;
  }

  async run(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    for (;;) {
      if (this.aborted) break;
      if (this.stopTarget !== undefined && this.applied >= this.stopTarget) break;
      try {
        if (this.db === undefined) await this.connect();
        await this.maintain();
        const durable = Number(Atomics.load(this.o.shared, SLOT_DURABLE));
        if (durable > this.applied) {
          await this.catchUp(durable);
          backoff = MIN_BACKOFF_MS;
          continue;
        }
        if (this.stopTarget !== undefined) break;
        if (this.report.lastSeq !== this.applied) this.setReport({});
        await this.waitForWork(durable);
      } catch (e) {
        const fatal = e instanceof MigrationChecksumError || e instanceof MigrationPrivilegeError || e instanceof JournalMismatchError;
        await this.fail(e, fatal);
        // draining for a stop makes sense while the database may come back, not against a refusal
        if (fatal && this.stopTarget !== undefined) break;
        await this.sleep(fatal ? FATAL_RETRY_MS : backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
    await this.disconnect();
    this.tail?.close();
    this.tail = undefined;
    this.setReport({ state: 'stopped' });
  }

  // --- connection ----------------------------------------------------------------------------

  private async connect(): Promise<void> {
    const open = this.o.openClient ?? openSqlClient;
    const db = await open(this.o.settings);
    try {
      // The journal is the system of record: a batch lost to a database crash after its commit was
      // acknowledged is simply projected again (last_seq is lost with it), so commits need not wait
      // for the database's WAL flush. Atomicity, not durability, is what exactly-once rests on.
      if (db.driver === 'postgres') await db.query('SET synchronous_commit = off');
      await migrate(db);
      // no batch statement takes minutes: one that does is stuck, and is better failed and retried
      if (db.driver === 'postgres') await db.query(`SET statement_timeout = '120s'`);
      await this.writer.prepare(db);
      const ts = await db.query<{ value: string }>(`SELECT value FROM db_settings WHERE key = 'timeseries'`);
      const last = await db.query<{ last_seq: string }>(`SELECT last_seq FROM projector_state WHERE name = 'journal'`);
      const lastSeq = Number(last.rows[0]?.last_seq ?? 0);
      const prevHash = await this.checkSameJournal(db, lastSeq, this.tailFrom(Math.max(1, lastSeq)));
      const seeds = await db.query<PositionSeed>(
        `SELECT key, account, strategy_id, symbol, quantity::text, cost_basis::text, realized_pnl::text, unrealized_pnl::text, mark_price::text, fees::text FROM positions_current`,
      );
      this.db = db;
      this.state = ProjectionState.fromSeeds(seeds.rows);
      this.applied = lastSeq;
      this.prevHash = prevHash;
      this.writer.forgetPartitions();
      Atomics.store(this.o.shared, SLOT_APPLIED, BigInt(lastSeq));
      this.lastMaintenance = 0;
      this.lastAuditPrune = 0;
      this.setReport({ state: 'up', lastSeq, error: undefined, fatal: undefined, timeseries: ts.rows[0]?.value });
      this.o.log('info', 'database projector connected', { lastSeq, timeseries: ts.rows[0]?.value, driver: db.driver });
    } catch (e) {
      await db.close().catch(() => {});
      throw e;
    }
  }

  /** The hash of record last_seq in the database must be the journal's: same history. */
  private async checkSameJournal(db: SqlClient, lastSeq: number, tail: JournalTail): Promise<string> {
    if (lastSeq === 0) return ZERO_HASH_HEX;
    const durable = Number(Atomics.load(this.o.shared, SLOT_DURABLE));
    if (lastSeq > durable) {
      throw new JournalMismatchError(
        `the database has records up to seq ${lastSeq} but the journal only to ${durable}: it mirrors another journal, or the journal was restored from an older copy`,
      );
    }
    const r = await db.query<{ hash: string }>(`SELECT encode(hash, 'hex') AS hash FROM audit_log WHERE seq = $1`, [lastSeq]);
    const dbHash = r.rows[0]?.hash;
    let journalHash: string | undefined;
    // reading it leaves the tail at lastSeq + 1, where the first round starts
    for (const e of tail.readText(lastSeq)) journalHash = e.hash.toString('hex');
    if (dbHash === undefined || dbHash !== journalHash) {
      throw new JournalMismatchError(
        `record ${lastSeq} in the database (hash ${dbHash?.slice(0, 16) ?? 'missing'}…) is not the journal's (hash ${journalHash?.slice(0, 16) ?? 'missing'}…): the database mirrors another journal`,
      );
    }
    return dbHash;
  }

  private async disconnect(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    this.state = undefined;
    if (db !== undefined) await db.close().catch(() => {});
  }

  private async fail(e: unknown, fatal: boolean): Promise<void> {
    const message = e instanceof Error ? e.message : String(e);
    await this.disconnect();
    if (this.report.state !== 'down' || this.report.error !== message) {
      this.o.log(fatal ? 'error' : 'warn', fatal ? 'database projector refuses to run' : 'database unavailable: projector retrying', { error: message, lastSeq: this.applied });
    }
    this.setReport({ state: 'down', error: message, fatal });
  }

  // --- work ----------------------------------------------------------------------------------

  private async catchUp(durable: number): Promise<void> {
    const batchSize = this.o.settings.batchSize;
    // The tail continues where the last round stopped: only the bytes appended since are read.
    // After a failed or aborted round it has handed out records that were not committed: start
    // again from the database's last_seq.
    const tail = this.tail !== undefined && this.tail.nextSeq === this.applied + 1 ? this.tail : this.tailFrom(this.applied + 1);
    // payloads as text: the builder parses only the records it projects beyond audit_log
    const records = tail.readText(durable);
    let builder = new BatchBuilder(this.state!, this.applied + 1, this.prevHash);
    // Pipelined: while the database works on one batch, the next is built. A failure of the batch
    // in flight surfaces at the next await, and the batch being built is then thrown away.
    let inFlight: Promise<void> | undefined;
    const submit = async (batch: ProjectionBatch): Promise<void> => {
      const encoded = this.writer.encode(batch);
      if (inFlight !== undefined) await inFlight;
      inFlight = this.commit(batch, encoded);
      inFlight.catch(() => {}); // awaited below; this only marks it handled meanwhile
    };
    let lastYield = performance.now();
    for (let e = records.next(); !e.done; e = records.next()) {
      builder.addText(e.value);
      if (builder.size >= batchSize) {
        const batch = builder.finish();
        await submit(batch);
        if (this.aborted) break;
        builder = new BatchBuilder(this.state!, batch.toSeq + 1, batch.lastHashHex);
        lastYield = performance.now();
      } else if (inFlight !== undefined && performance.now() - lastYield >= YIELD_EVERY_MS) {
        await new Promise((r) => setImmediate(r)); // let the in-flight batch's replies in
        lastYield = performance.now();
      }
    }
    if (!this.aborted && builder.size > 0) await submit(builder.finish());
    if (inFlight !== undefined) await inFlight;
  }

  /** A new tail at `fromSeq` (the old one closed). */
  private tailFrom(fromSeq: number): JournalTail {
    this.tail?.close();
    this.tail = new JournalTail(this.o.journalDir, fromSeq, { verify: false });
    return this.tail;
  }

  private async commit(batch: ProjectionBatch, encoded: EncodedBatch): Promise<void> {
    const db = this.db!;
    const from = batch.fromSeq - 1;
    const rows = encoded.rows;
    try {
      await db.transaction((tx) => this.writer.write(tx, encoded, from));
    } catch (e) {
      // The P&L state already holds this batch: drop it; connect() rebuilds it from the database.
      this.state = undefined;
      if (e instanceof ProjectorConflictError) this.o.log('error', e.message);
      throw e;
    }
    this.applied = batch.toSeq;
    this.prevHash = batch.lastHashHex;
    Atomics.store(this.o.shared, SLOT_APPLIED, BigInt(batch.toSeq));
    if (batch.malformed.length > 0) {
      this.o.log('warn', 'journal records with an unexpected shape were kept in audit_log only', { count: batch.malformed.length, first: batch.malformed[0] });
    }
    this.report.batches++;
    this.report.records += batch.audit.length;
    this.report.rows += rows;
    this.report.malformed += batch.malformed.length;
    const now = Date.now();
    if (now - this.lastPublish >= PUBLISH_MS) {
      this.lastPublish = now;
      this.setReport({});
    }
  }

  /**
   * Partitions ahead and retention: at connect and then hourly; audit_log pruning at connect and
   * then daily; then, at connect and hourly, the prunes not yet journaled (this projector's own
   * and `bulwark db prune-audit`'s, also those done while no node ran) handed to the node to
   * journal. A failure here is logged and retried at the next round; it never holds up the
   * projection (batches create the partitions they need themselves; a dead connection shows at
   * the next batch anyway).
   */
  private async maintain(): Promise<void> {
    const now = Date.now();
    if (now - this.lastMaintenance < MAINTENANCE_MS) return;
    this.lastMaintenance = now;
    const db = this.db!;
    try {
      const months = this.o.settings.partitionMonthsAhead;
      await db.query(ensurePartitionsSql(`now() - interval '1 month'`, `now() + make_interval(months => $1::int)`), [months]);
      const r = await db.query<{ dropped: string[] }>(`SELECT bulwark_apply_retention($1::int) AS dropped`, [this.o.settings.retentionYears]);
      const dropped = r.rows[0]?.dropped ?? [];
      if (dropped.length > 0) {
        this.writer.forgetPartitions();
        this.o.log('info', 'retention dropped partitions', { dropped, retentionYears: this.o.settings.retentionYears });
      }
    } catch (e) {
      this.o.log('warn', 'database maintenance (partitions, retention) failed; retrying in an hour', { error: e instanceof Error ? e.message : String(e) });
    }
    if (now - this.lastAuditPrune >= AUDIT_PRUNE_MS) {
      this.lastAuditPrune = now;
      await this.pruneAudit(db);
    }
    await this.reportPrunes(db);
  }

  /** Drops the audit_log months past the retention that the WORM archive holds (never throws). */
  private async pruneAudit(db: SqlClient): Promise<void> {
    const years = this.o.settings.auditLogYears;
    try {
      const pruned = await pruneAuditLog(db, years);
      if (pruned.length > 0) {
        this.writer.forgetPartitions();
        this.o.log('info', 'audit_log: dropped monthly partitions older than the retention and already in the WORM archive', {
          auditLogYears: years,
          dropped: pruned.map((p) => `${p.partition} (${p.minSeq === null ? 'empty' : `seq ${p.minSeq}..${p.maxSeq}`})`),
        });
      }
    } catch (e) {
      if (isPrivilegeError(e)) {
        // a least-privilege role without EXECUTE on bulwark_prune_audit_log (docs/operations.md,
        // "Database roles"): pruning is the schema owner's, by bulwark db prune-audit
        this.o.log('info', 'audit_log pruning is left to the schema owner (bulwark db prune-audit): this role may not run bulwark_prune_audit_log', { auditLogYears: years });
        return;
      }
      this.o.log('warn', 'audit_log pruning failed; retrying in a day', { error: e instanceof Error ? e.message : String(e), auditLogYears: years });
    }
  }

  /**
   * The journal is the system of record, and a prune happens in the database: every
   * audit_log_prunes row without an audit_log_prunes_journaled row (and not already reported by
   * this instance) goes to the node in one `database.auditPruned` note, oldest first. Projecting
   * the note marks them journaled (src/storage/projection.ts). Never throws.
   */
  private async reportPrunes(db: SqlClient): Promise<void> {
    const note = this.o.note;
    if (note === undefined) return;
    try {
      const prunes = (await unjournaledPrunes(db)).filter((p) => !this.reportedPrunes.has(p.id));
      if (prunes.length === 0) return;
      for (const p of prunes) this.reportedPrunes.add(p.id);
      note(AUDIT_PRUNED_EVENT, { prunes });
      this.o.log('info', 'audit_log prunes not yet in the journal: the node journals them', { event: AUDIT_PRUNED_EVENT, ids: prunes.map((p) => p.id) });
    } catch (e) {
      this.o.log('warn', 'reading the audit_log prunes not yet journaled failed; retrying in an hour', { error: e instanceof Error ? e.message : String(e) });
    }
  }

  private async waitForWork(durable: number): Promise<void> {
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    const w = waitAsync(this.o.shared, SLOT_DURABLE, BigInt(durable), MAINTENANCE_MS);
    if (w.async) await Promise.race([w.value, woken]);
    this.wake = () => {};
  }

  private async sleep(ms: number): Promise<void> {
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => (timer = setTimeout(r, ms))), woken]);
    clearTimeout(timer);
    this.wake = () => {};
  }

  private setReport(patch: Partial<ProjectorReport>): void {
    Object.assign(this.report, patch);
    this.report.lastSeq = this.applied;
    this.o.onReport({ ...this.report });
  }

}

/** Runs a read-only query for the node's thread (PGlite lives in the worker). */
export async function readOnlyQuery(db: SqlClient, sql: string, params: readonly unknown[]): Promise<SqlResult<Record<string, unknown>>> {
  return db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION READ ONLY');
    return tx.query(sql, params);
  });
}
