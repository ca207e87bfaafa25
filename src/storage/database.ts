/**
 * The node's side of the database: starts the projector worker, publishes the journal's durable
 * seq to it, answers health with the projector's status and lag, and offers a DbReader for the
 * API's dashboard queries. Nothing here ever waits on the database from the core's path: the only
 * per-commit work is `onDurable` → one Atomics.store and notify on a shared BigInt64Array.
 */
import type { Worker } from 'node:worker_threads';
import type { Journal } from '../engine/journal.js';
import type { FromWorker, ProjectorWorkerData, ToWorker } from './projector-worker.js';
import { SHARED_SLOTS, SLOT_APPLIED, SLOT_DURABLE, type ProjectorReport } from './projector.js';
import { openPostgresReadPool, type SqlSession } from './sql-client.js';
import { databaseSettings, type DatabaseConfigSection, type DatabaseSettings, type DriverKind } from './settings.js';
import { spawnWorker } from './worker-spawn.js';

/** Read access for dashboards and the API. Read-only: writes are refused by the database. */
export interface DbReader {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

/**
 * The projector worker's young generation. A batch is thousands of parsed payloads and row objects
 * that live until its COPY is done: with V8's default (16 MiB semi-spaces) they survive two
 * scavenges, get promoted and are then collected by the old generation's mark-compact. Measured on
 * a 206,784-record catch-up (docs/database.md): garbage collection 1.8 s of the worker's CPU by
 * default, 0.75-1.1 s with 128 MiB. Memory cost: this much more heap for the one worker.
 */
export const PROJECTOR_YOUNG_GENERATION_MB = 128;

export class DatabaseUnavailableError extends Error {
  constructor(detail: string) {
    super(`database unavailable: ${detail}`);
    this.name = 'DatabaseUnavailableError';
  }
}

export interface DatabaseStatus {
  status: 'starting' | 'up' | 'lagging' | 'down' | 'stopped';
  driver: DriverKind;
  /** Last journal seq committed to the database. */
  lastSeq: number;
  durableSeq: number;
  /** durableSeq − lastSeq: journal records not yet in the database. */
  lag: number;
  timeseries?: string;
  error?: string;
  /** When the current outage began (ISO), while down. */
  downSince?: string;
  batches: number;
  records: number;
  rows: number;
  /** Records whose payload had an unexpected shape (kept in audit_log only). */
  malformed: number;
  workerRestarts: number;
}

export type DatabaseLog = (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;

/**
 * Journals a system.note for the database (the node: submitQuiet): `database.auditPruned` (audit_log
 * prunes the journal has not been told of yet, from the projector), `database.down` and
 * `database.up` (the database's outages).
 */
export type DatabaseNote = (event: string, detail: Record<string, unknown>) => void;

const READ_TIMEOUT_MS = 10_000;
const ABORT_GRACE_MS = 5000;

export class NodeDatabase {
  readonly reader: DbReader;
  private readonly shared: BigInt64Array;
  private worker: Worker | undefined;
  private report: ProjectorReport = { state: 'starting', lastSeq: 0, batches: 0, records: 0, rows: 0, malformed: 0 };
  private downSince: number | undefined;
  private stopping: Promise<void> | undefined;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private unsubscribe: () => void;
  private nextQueryId = 1;
  private readonly pending = new Map<number, { resolve: (rows: Record<string, unknown>[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private pool: { session: SqlSession; close(): Promise<void> } | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly settings: DatabaseSettings,
    private readonly journal: Journal,
    private readonly log: DatabaseLog,
    private readonly onNote: DatabaseNote | undefined,
  ) {
    this.shared = new BigInt64Array(new SharedArrayBuffer(SHARED_SLOTS * 8));
    Atomics.store(this.shared, SLOT_DURABLE, BigInt(journal.durableSeq));
    this.unsubscribe = journal.onDurable(this.notifyDurable);
    this.reader = settings.driver === 'postgres' ? this.poolReader() : this.workerReader();
  }

  /**
   * Starts projecting `journal` (already open) into the configured database, in a worker thread.
   * `onNote` journals the notes the projector asks for (`database.auditPruned`); without it, the
   * projector reports no prunes.
   */
  static start(settings: DatabaseSettings, journal: Journal, log: DatabaseLog = () => {}, onNote?: DatabaseNote): NodeDatabase {
    const db = new NodeDatabase(settings, journal, log, onNote);
    db.spawn();
    return db;
  }

  /**
   * The enqueue, called by the journal after each group commit: one atomic store and a notify.
   * O(1), never blocks, allocates one small bigint; the projector pulls the records itself.
   */
  readonly notifyDurable = (seq: number): void => {
    Atomics.store(this.shared, SLOT_DURABLE, BigInt(seq));
    Atomics.notify(this.shared, SLOT_DURABLE);
  };

  get lastSeq(): number {
    return Number(Atomics.load(this.shared, SLOT_APPLIED));
  }

  status(): DatabaseStatus {
    const lastSeq = this.lastSeq;
    const durableSeq = Number(Atomics.load(this.shared, SLOT_DURABLE));
    const lag = Math.max(0, durableSeq - lastSeq);
    const r = this.report;
    const status = r.state === 'up' ? (lag > this.settings.lagThreshold ? 'lagging' : 'up') : r.state;
    return {
      status,
      driver: this.settings.driver,
      lastSeq,
      durableSeq,
      lag,
      ...(r.timeseries !== undefined ? { timeseries: r.timeseries } : {}),
      ...(r.error !== undefined && r.state === 'down' ? { error: r.error } : {}),
      ...(this.downSince !== undefined ? { downSince: new Date(this.downSince).toISOString() } : {}),
      batches: r.batches,
      records: r.records,
      rows: r.rows,
      malformed: r.malformed,
      workerRestarts: this.restarts,
    };
  }

  /** Resolves once every journal record up to `seq` is in the database (tests, tools). */
  async whenProjected(seq: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lastSeq < seq) {
      if (Date.now() > deadline) throw new Error(`database did not reach seq ${seq} within ${timeoutMs} ms (at ${this.lastSeq}; ${this.report.error ?? this.report.state})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Test hook: simulate a database outage (`down`: every database call in the worker fails and
   * the connection is dropped) and its end (`up`).
   */
  injectOutage(down: boolean): void {
    this.send({ type: 'fault', mode: down ? 'down' : 'up' });
  }

  /** Test hook: the worker thread dies (as on a fatal bug); the node must restart it. */
  injectWorkerCrash(): void {
    this.send({ type: 'fault', mode: 'crash' });
  }

  /**
   * Drains to the journal's last durable record (call after the journal is closed), then stops the
   * worker. Gives up after drainTimeoutMs: what is left is applied at the next start.
   */
  stop(): Promise<void> {
    if (this.stopping === undefined) this.stopping = this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    this.unsubscribe();
    clearTimeout(this.restartTimer);
    const target = this.journal.durableSeq;
    Atomics.store(this.shared, SLOT_DURABLE, BigInt(target));
    Atomics.notify(this.shared, SLOT_DURABLE);
    const w = this.worker;
    if (w !== undefined) {
      this.send({ type: 'stop', targetSeq: target });
      const drained = await Promise.race([this.exited.then(() => true), delay(this.settings.drainTimeoutMs).then(() => false)]);
      if (!drained) {
        this.log('warn', 'database projector did not drain in time; the rest is applied at the next start', { lastSeq: this.lastSeq, target, timeoutMs: this.settings.drainTimeoutMs });
        this.send({ type: 'abort' });
        const ended = await Promise.race([this.exited.then(() => true), delay(ABORT_GRACE_MS).then(() => false)]);
        if (!ended) await w.terminate();
      }
    }
    this.failPending('the database is stopping');
    await this.pool?.close().catch(() => {});
    this.pool = undefined;
    this.report = { ...this.report, state: 'stopped' };
  }

  // --- worker --------------------------------------------------------------------------------

  private spawn(): void {
    const data: ProjectorWorkerData = { settings: this.settings, journalDir: this.journal.dir, shared: this.shared.buffer as SharedArrayBuffer, notes: this.onNote !== undefined };
    const w = spawnWorker(new URL('./projector-worker.js', import.meta.url), import.meta.url, {
      workerData: data,
      name: 'bulwark-db',
      resourceLimits: { maxYoungGenerationSizeMb: PROJECTOR_YOUNG_GENERATION_MB },
    });
    this.worker = w;
    this.exited = new Promise((resolve) => w.once('exit', () => resolve()));
    w.on('message', (m: FromWorker) => this.onMessage(m));
    w.on('error', (e) => this.log('error', 'database worker failed', { error: e.stack ?? e.message }));
    w.once('exit', (code) => {
      this.worker = undefined;
      this.failPending('the database worker exited');
      if (this.stopping !== undefined) return;
      // A crash of the worker must not stop the node: restart it; it resumes from last_seq.
      this.restarts++;
      this.setReport({ ...this.report, state: 'down', error: `database worker exited with code ${code}` });
      const backoff = Math.min(30_000, 500 * 2 ** Math.min(6, this.restarts - 1));
      this.log('error', 'database worker exited; restarting', { code, restartInMs: backoff });
      this.restartTimer = setTimeout(() => {
        if (this.stopping === undefined) this.spawn();
      }, backoff);
      this.restartTimer.unref();
    });
  }

  private send(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'report':
        this.setReport(m.report);
        return;
      case 'log':
        this.log(m.level, m.msg, m.data);
        return;
      case 'note':
        this.journalNote(m.event, m.detail);
        return;
      case 'result': {
        const p = this.pending.get(m.id);
        if (p === undefined) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.error !== undefined) p.reject(new DatabaseUnavailableError(m.error));
        else p.resolve(m.rows ?? []);
        return;
      }
    }
  }

  /**
   * Also journals the database's outages, as the node journals a venue's connection going down
   * and up: `database.down` when the projector first reports down (with the error) and
   * `database.up` when it is up again (with how long it was down). A database that is still
   * starting is neither.
   */
  private setReport(r: ProjectorReport): void {
    const since = this.downSince;
    if (r.state === 'down' && since === undefined) {
      this.downSince = Date.now();
      this.journalNote('database.down', { driver: this.settings.driver, error: r.error ?? 'unknown', fatal: r.fatal === true, lastSeq: this.lastSeq });
    }
    if (r.state === 'up' && since !== undefined) {
      this.downSince = undefined;
      this.journalNote('database.up', { driver: this.settings.driver, downForMs: Date.now() - since, lastSeq: r.lastSeq });
    }
    this.report = r;
  }

  private journalNote(event: string, detail: Record<string, unknown>): void {
    try {
      this.onNote?.(event, detail);
    } catch (e) {
      this.log('warn', 'the database could not journal a note', { event, error: e instanceof Error ? e.message : String(e) });
    }
  }

  private failPending(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new DatabaseUnavailableError(reason));
      this.pending.delete(id);
    }
  }

  // --- readers -------------------------------------------------------------------------------

  /** PGlite lives in the worker: reads are messages to it, answered between projector batches. */
  private workerReader(): DbReader {
    return {
      query: <T>(sql: string, params: readonly unknown[] = []): Promise<T[]> =>
        new Promise<T[]>((resolve, reject) => {
          if (this.worker === undefined || this.stopping !== undefined) {
            reject(new DatabaseUnavailableError('the database worker is not running'));
            return;
          }
          const id = this.nextQueryId++;
          const timer = setTimeout(() => {
            this.pending.delete(id);
            reject(new DatabaseUnavailableError(`no answer within ${READ_TIMEOUT_MS} ms`));
          }, READ_TIMEOUT_MS);
          this.pending.set(id, { resolve: resolve as (rows: Record<string, unknown>[]) => void, reject, timer });
          this.send({ type: 'query', id, sql, params: [...params] });
        }),
    };
  }

  /** PostgreSQL: a pool on the read replica when configured, else on the primary. */
  private poolReader(): DbReader {
    return {
      query: async <T>(sql: string, params: readonly unknown[] = []): Promise<T[]> => {
        if (this.stopping !== undefined) throw new DatabaseUnavailableError('the database is stopping');
        this.pool ??= openPostgresReadPool(this.settings.readUrl ?? this.settings.url!);
        try {
          return (await this.pool.session.query<T>(sql, params)).rows;
        } catch (e) {
          const code = (e as { code?: string }).code;
          // connection-level failures (no SQLSTATE, or class 08 / 57P) mean the database is down
          if (code === undefined || code.startsWith('08') || code.startsWith('57P')) throw new DatabaseUnavailableError((e as Error).message);
          throw e;
        }
      },
    };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/**
 * The node's entry point: starts projecting `journal` into the configured database, or returns
 * null when `database.enabled` is false.
 */
export function startDatabase(
  section: Partial<DatabaseConfigSection> | undefined,
  dataDir: string,
  journal: Journal,
  log: DatabaseLog = () => {},
  onNote?: DatabaseNote,
): NodeDatabase | null {
  if (section?.enabled === false) return null;
  return NodeDatabase.start(databaseSettings(section, dataDir), journal, log, onNote);
}
