/**
 * The one small SQL interface both drivers implement, in the spirit of node-postgres: query with
 * positional parameters, exec for parameterless multi-statement scripts (migrations), and a
 * transaction helper. Values come back the same way from both: int8 and numeric as strings (never
 * floats), timestamptz as Date, jsonb parsed, bytea as bytes.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import type { DatabaseSettings, DriverKind } from './settings.js';

export interface SqlResult<T> {
  rows: T[];
  /** Rows inserted/updated/deleted (or returned, for a SELECT). */
  rowCount: number;
}

export interface SqlSession {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlResult<T>>;
  /** Several statements separated by semicolons, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Bulk load: `COPY table (columns) FROM STDIN`, PostgreSQL's fastest ingest path, and PGlite's.
   * `text` is COPY's text format (tab-separated lines, \N for NULL; see copyField and
   * copy-text.ts), `binary` its binary format (see copy-binary.ts).
   */
  copyFrom(table: string, columns: readonly string[], data: Buffer, format: CopyFormat): Promise<void>;
}

export type CopyFormat = 'text' | 'binary';

/** One field of a COPY text-format line: NULL as \N; backslash, tab, newline, CR escaped. */
export function copyField(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v;
}

/** COPY's WITH clause for the format (text is the default). */
function copyOptions(format: CopyFormat): string {
  return format === 'binary' ? ' WITH (FORMAT binary)' : '';
}

export interface SqlClient extends SqlSession {
  readonly driver: DriverKind;
  transaction<T>(fn: (tx: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// PGlite
// ---------------------------------------------------------------------------------------------

/** PGlite is one process's database: a second process opening the same directory corrupts it. */
export class DatabaseLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`the embedded database ${dir} is in use by process ${pid} (a running node?); stop it or use its API`);
    this.name = 'DatabaseLockedError';
  }
}

function lockPath(dir: string): string {
  return `${dir}.lock`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A pid file next to the data directory. A lock left by a dead process is taken over; one held by
 * this process (a worker thread of it) is shared, since PGlite instances in one process are the
 * caller's to serialize.
 */
export function acquireDirLock(dir: string): () => void {
  const file = lockPath(dir);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (pid === process.pid) return () => {};
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) throw new DatabaseLockedError(dir, pid);
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`could not take the lock ${file}`);
}

const PGLITE_PARSERS = {
  // int8: the default parser returns a JS number, which is lossy past 2^53 (ts_ns is ~1.8e18)
  20: (x: string) => x,
};

interface PgliteLike {
  query<T>(sql: string, params?: unknown[], options?: { blob?: Blob }): Promise<{ rows: T[]; affectedRows?: number }>;
  exec(sql: string): Promise<unknown>;
  transaction<T>(fn: (tx: { query: PgliteLike['query']; exec: PgliteLike['exec'] }) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

function pgliteSession(db: Pick<PgliteLike, 'query' | 'exec'>): SqlSession {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<T>> {
      const r = await db.query<T>(sql, params as unknown[]);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await db.exec(sql);
    },
    async copyFrom(table: string, columns: readonly string[], data: Buffer, format: CopyFormat): Promise<void> {
      // PGlite reads COPY input from the blob passed with the query, under the name /dev/blob
      await db.query(`COPY ${table} (${columns.join(', ')}) FROM '/dev/blob'${copyOptions(format)}`, [], { blob: new Blob([data]) });
    },
  };
}

function pgliteVersion(): string {
  try {
    let d = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
    for (let i = 0; i < 4; i++, d = path.dirname(d)) {
      const pkg = path.join(d, 'package.json');
      if (fs.existsSync(pkg)) {
        const j = JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
        if (j.name === '@electric-sql/pglite' && j.version !== undefined) return j.version;
      }
    }
  } catch {
    // fall through
  }
  return 'unknown';
}

function isEmptyDir(dir: string): boolean {
  return !fs.existsSync(dir) || fs.readdirSync(dir).length === 0;
}

/**
 * PGlite's initdb costs seconds of CPU (WebAssembly). A new database starts instead as a copy of a
 * pristine cluster made once per user and PGlite version, kept in a private (0700) directory under
 * the OS temp dir. Returns whether the copy was made; on any doubt the caller just runs initdb.
 */
function seedFromTemplate(dir: string): boolean {
  if (!isEmptyDir(dir) || typeof process.getuid !== 'function') return false;
  const uid = process.getuid();
  const root = path.join(os.tmpdir(), `bulwark-pglite-${uid}`);
  const template = path.join(root, `cluster-${pgliteVersion()}`);
  try {
    const st = fs.statSync(root);
    if (st.uid !== uid || (st.mode & 0o077) !== 0) return false;
    if (!fs.existsSync(path.join(template, 'PG_VERSION')) && !fs.existsSync(path.join(template, 'base'))) return false;
    fs.cpSync(template, dir, { recursive: true });
    return true;
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
    return false;
  }
}

/** After an initdb: keep a copy of the pristine cluster (written aside, then renamed into place). */
function saveTemplate(dir: string): void {
  if (typeof process.getuid !== 'function') return;
  const uid = process.getuid();
  const root = path.join(os.tmpdir(), `bulwark-pglite-${uid}`);
  const template = path.join(root, `cluster-${pgliteVersion()}`);
  try {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    const st = fs.statSync(root);
    if (st.uid !== uid || (st.mode & 0o077) !== 0 || fs.existsSync(template)) return;
    const staging = fs.mkdtempSync(path.join(root, 'staging-'));
    fs.cpSync(dir, staging, { recursive: true });
    try {
      fs.renameSync(staging, template);
    } catch {
      fs.rmSync(staging, { recursive: true, force: true }); // another process was first
    }
  } catch {
    // a cache: never a reason to fail
  }
}

export async function openPglite(dir: string): Promise<SqlClient> {
  const release = acquireDirLock(dir);
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const fresh = isEmptyDir(dir) && !seedFromTemplate(dir);
    fs.mkdirSync(dir, { recursive: true });
    let db = (await PGlite.create(dir, { parsers: PGLITE_PARSERS })) as unknown as PgliteLike;
    if (fresh) {
      // the pristine cluster, before anything is created in it, becomes the template
      await db.close();
      saveTemplate(dir);
      db = (await PGlite.create(dir, { parsers: PGLITE_PARSERS })) as unknown as PgliteLike;
    }
    const session = pgliteSession(db);
    let closed = false;
    return {
      driver: 'pglite',
      ...session,
      transaction: (fn) => db.transaction((tx) => fn(pgliteSession(tx))),
      async close() {
        if (closed) return;
        closed = true;
        try {
          await db.close();
        } finally {
          release();
        }
      },
    };
  } catch (e) {
    release();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL (node-postgres)
// ---------------------------------------------------------------------------------------------

/**
 * Adds `-c name=value` settings to the libpq `options` a connection string may already carry. They
 * go into the URL itself: node-postgres lets the connection string's parameters override the
 * config object's, so a separate `options` field would be dropped when the URL has one.
 */
export function withServerOptions(url: string, settings: Record<string, string>): { connectionString: string; options?: string } {
  const extra = Object.entries(settings)
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ');
  if (extra === '') return { connectionString: url };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // a key=value connection string: pg parses it, and then takes `options` from the config
    return { connectionString: url, options: extra };
  }
  const existing = u.searchParams.get('options');
  u.searchParams.set('options', existing ? `${existing} ${extra}` : extra);
  return { connectionString: u.toString() };
}

/** What copyFromStdin uses of node-postgres's connection socket (a net.Socket or TLS socket). */
interface CopySocket {
  writable: boolean;
  cork(): void;
  uncork(): void;
  write(chunk: Buffer): boolean;
}

/**
 * The server reads one CopyData message into one allocation of at most 1 GB (PostgreSQL's
 * PQ_LARGE_MESSAGE_LIMIT); a batch is a few megabytes, so this only guards a misconfiguration.
 */
const MAX_COPY_DATA_BYTES = 0x3fff_ff00;

/** One CopyData message ('d', int32 length including itself, the data). */
function sendCopyData(stream: CopySocket, data: Buffer): void {
  // as node-postgres's own sends: a socket no longer writable fails the query through handleError
  if (!stream.writable) return;
  const header = Buffer.allocUnsafe(5);
  header[0] = 0x64; // 'd'
  header.writeInt32BE(data.length + 4, 1);
  stream.cork();
  stream.write(header);
  stream.write(data);
  stream.uncork();
}

/**
 * COPY FROM STDIN through node-postgres's "submittable" extension point (an object with submit()
 * given to client.query, the interface pg-copy-streams is built on): the rows go as one CopyData
 * message, then CopyDone; completion at ReadyForQuery, failure (server error or lost connection)
 * through handleError.
 *
 * The CopyData message is framed here and written to the connection's socket as its 5-byte header
 * and the rows themselves, corked into one writev, as pg-copy-streams does: through
 * sendCopyFromChunk, node-postgres would copy the whole batch into its own message buffer first,
 * several megabytes per batch for nothing.
 */
function copyFromStdin(c: pg.ClientBase, sql: string, data: Buffer): Promise<void> {
  interface CopyConnection {
    query(text: string): void;
    endCopyFrom(): void;
    stream: CopySocket;
  }
  if (data.length > MAX_COPY_DATA_BYTES) return Promise.reject(new Error(`a COPY batch of ${data.length} bytes is over the server's message limit of ${MAX_COPY_DATA_BYTES}`));
  return new Promise((resolve, reject) => {
    const submittable = {
      submit(con: CopyConnection) {
        con.query(sql);
      },
      handleCopyInResponse(con: CopyConnection) {
        if (data.length > 0) sendCopyData(con.stream, data);
        con.endCopyFrom();
      },
      handleCommandComplete() {},
      handleReadyForQuery() {
        resolve();
      },
      // Settle at once, like pg's own Query: when the connection dies there is no ReadyForQuery
      // to wait for. (On a server-side error the client still waits for it before the next query.)
      handleError(e: Error) {
        reject(e);
      },
    };
    (c as unknown as { query(s: unknown): unknown }).query(submittable);
  });
}

function pgSession(c: pg.ClientBase | pg.Pool): SqlSession {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<T>> {
      const r = await c.query(sql, params as unknown[]);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await c.query(sql);
    },
    async copyFrom(table: string, columns: readonly string[], data: Buffer, format: CopyFormat): Promise<void> {
      if (!(c instanceof pg.Client)) throw new Error('COPY needs a dedicated connection, not the pool');
      await copyFromStdin(c, `COPY ${table} (${columns.join(', ')}) FROM STDIN${copyOptions(format)}`, data);
    },
  };
}

/** One dedicated connection: the projector's transactions and the CLI. */
export async function openPostgres(url: string, applicationName: string): Promise<SqlClient> {
  const client = new pg.Client({
    ...withServerOptions(url, {}),
    application_name: applicationName,
    connectionTimeoutMillis: 5000,
    keepAlive: true,
    // a server that vanished without a word (no RST) is noticed in seconds, not the OS's hours
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle connection that the server drops emits 'error'; without a listener that would take the
  // whole worker down. The next query fails and the caller reconnects.
  let broken: Error | undefined;
  client.on('error', (e) => {
    broken = e;
  });
  await client.connect();
  const session = pgSession(client);
  let closed = false;
  const guard = () => {
    if (broken !== undefined) throw new Error(`database connection lost: ${broken.message}`);
  };
  return {
    driver: 'postgres',
    async query(sql, params) {
      guard();
      return session.query(sql, params);
    },
    async exec(sql) {
      guard();
      return session.exec(sql);
    },
    async copyFrom(table, columns, data, format) {
      guard();
      return session.copyFrom(table, columns, data, format);
    },
    async transaction(fn) {
      guard();
      await client.query('BEGIN');
      try {
        const r = await fn(session);
        await client.query('COMMIT');
        return r;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.end().catch(() => {});
    },
  };
}

/** A pool for dashboard reads; its sessions refuse writes. */
export function openPostgresReadPool(url: string, applicationName = 'bulwark-reader'): { session: SqlSession; close(): Promise<void> } {
  const pool = new pg.Pool({
    ...withServerOptions(url, { default_transaction_read_only: 'on' }),
    application_name: applicationName,
    max: 8,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5000,
    keepAlive: true,
  });
  pool.on('error', () => {
    // an idle pooled connection died; the pool replaces it on the next checkout
  });
  return { session: pgSession(pool), close: () => pool.end() };
}

export async function openSqlClient(s: DatabaseSettings): Promise<SqlClient> {
  return s.driver === 'pglite' ? openPglite(s.pgliteDir) : openPostgres(s.url!, s.applicationName);
}
