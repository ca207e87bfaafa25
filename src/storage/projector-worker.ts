/**
 * Entry point of the database worker thread: the projector and its connection live here, so that
 * decoding records, building SQL and (for PGlite, which is WebAssembly on the calling thread)
 * running the database never take time from the core's event loop. The node's thread talks to it
 * through a shared BigInt64Array (durable seq in, applied seq out) and a few messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Projector, readOnlyQuery, type ProjectorReport } from './projector.js';
import type { DatabaseSettings } from './settings.js';
import { openSqlClient, type SqlClient, type SqlSession } from './sql-client.js';

export interface ProjectorWorkerData {
  settings: DatabaseSettings;
  journalDir: string;
  shared: SharedArrayBuffer;
  /** The node journals the projector's notes (`note` messages); when false, none are sent. */
  notes: boolean;
}

/** Node thread → worker. */
export type ToWorker =
  | { type: 'stop'; targetSeq: number }
  | { type: 'abort' }
  | { type: 'query'; id: number; sql: string; params: unknown[] }
  /** Test hook: `down` makes every database call fail (an outage) until `up`; `crash` ends the thread. */
  | { type: 'fault'; mode: 'down' | 'up' | 'crash' };

/** Worker → node thread. */
export type FromWorker =
  | { type: 'report'; report: ProjectorReport }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; msg: string; data?: Record<string, unknown> }
  /** A system.note for the node to journal (`database.auditPruned`: prunes not yet journaled). */
  | { type: 'note'; event: string; detail: Record<string, unknown> }
  | { type: 'result'; id: number; rows?: Record<string, unknown>[]; error?: string };

const port = parentPort!;
const data = workerData as ProjectorWorkerData;
const post = (m: FromWorker): void => port.postMessage(m);

let outage = false;
const outageError = (): Error => new Error('database unavailable (injected outage)');

/** Wraps a client so that an injected outage fails every call, as a dead server would. */
function faultable(c: SqlClient): SqlClient {
  const guard = (s: SqlSession): SqlSession => ({
    query: (sql, params) => (outage ? Promise.reject(outageError()) : s.query(sql, params)),
    exec: (sql) => (outage ? Promise.reject(outageError()) : s.exec(sql)),
    copyFrom: (table, columns, data, format) => (outage ? Promise.reject(outageError()) : s.copyFrom(table, columns, data, format)),
  });
  return {
    driver: c.driver,
    ...guard(c),
    transaction: (fn) => (outage ? Promise.reject(outageError()) : c.transaction((tx) => fn(guard(tx)))),
    close: () => c.close(),
  };
}

const projector = new Projector({
  settings: data.settings,
  journalDir: data.journalDir,
  shared: new BigInt64Array(data.shared),
  log: (level, msg, d) => post({ type: 'log', level, msg, ...(d ? { data: d } : {}) }),
  onReport: (report) => post({ type: 'report', report }),
  ...(data.notes ? { note: (event: string, detail: Record<string, unknown>) => post({ type: 'note', event, detail }) } : {}),
  openClient: async (s) => {
    if (outage) throw outageError();
    return faultable(await openSqlClient(s));
  },
});

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'stop':
      projector.requestStop(m.targetSeq);
      return;
    case 'abort':
      projector.abort();
      return;
    case 'fault':
      if (m.mode === 'crash') process.exit(70); // in a worker: ends this thread only, like a fatal bug would
      outage = m.mode === 'down';
      return;
    case 'query': {
      const db = projector.client;
      if (db === undefined) {
        post({ type: 'result', id: m.id, error: 'database unavailable' });
        return;
      }
      readOnlyQuery(db, m.sql, m.params).then(
        (r) => post({ type: 'result', id: m.id, rows: r.rows }),
        (e: unknown) => post({ type: 'result', id: m.id, error: e instanceof Error ? e.message : String(e) }),
      );
      return;
    }
  }
});

projector.run().then(
  () => port.close(),
  (e: unknown) => {
    post({ type: 'log', level: 'error', msg: 'database projector crashed', data: { error: e instanceof Error ? (e.stack ?? e.message) : String(e) } });
    port.close();
  },
);
