/**
 * The simulated venue's own durable state, so that it survives a crash of the process it runs in
 * (the "restart with its own state" fault): `<dir>/venue.log`, an append-only log of JSON lines.
 *
 *   {"t":"x","a":account,"r":<execution report>,"o":<the order after the change>}   one per logged report
 *   {"t":"c","c":[orderSeq,execSeq,tradeSeq,feedSeq]}                               counters, when they moved
 *   {"t":"d","id":clOrdId}                                                          a refused reuse of a clOrdId
 *   {"t":"S", ...}                                                                  compacted state (first line only)
 *
 * Every state change of a gateway (member) order is followed, in the same synchronous step, by an
 * execution report; so one record per report — carrying the report and the order's state after it
 * — is the whole history: orders, their clOrdIds, fills, the execution log and net positions. Lines
 * are buffered during a synchronous step and written with one write() in a microtask, which runs
 * before any report of that step can be delivered (deliveries are macrotasks): the venue never tells
 * the engine something it would forget in a crash. write() reaches the OS page cache, which a killed
 * process does not lose; `fsync: true` also survives a machine crash, at a disk flush per step.
 *
 * At open the log is read back, and rewritten as one compacted "S" line (atomically: temp file and
 * rename) so it does not grow without bound across restarts. House liquidity (the background
 * agents' orders) is not kept: those agents re-quote on their first tick, like market makers after a
 * real exchange restart.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseDecimal } from '../../core/fixed.js';
import type { OrderStatus, OrderType, Side, TimeInForce } from '../../core/types.js';
import type { ExecutionReportMsg } from '../venue.js';

export interface PersistedOrder {
  vid: string;
  clOrdId: string;
  clOrdIds: string[];
  account: string;
  symbol: string;
  side: Side;
  orderType: OrderType;
  tif: TimeInForce;
  qty: string;
  price: string | null;
  cumQty: string;
  notional: string;
  status: OrderStatus;
  /** book data of a resting order: its queue position and self-trade group */
  priority?: number;
  selfTradeGroup?: string;
}

export type VenueCounters = [orderSeq: number, execSeq: number, tradeSeq: number, feedSeq: number];

export interface VenueState {
  /** every gateway order still remembered, in registration order */
  orders: PersistedOrder[];
  execLog: [string, ExecutionReportMsg[]][];
  positions: [string, [string, string][]][];
  counters: VenueCounters;
  /** clOrdIds that were refused because they had been used before */
  duplicates: string[];
}

type Line =
  | { t: 'x'; a: string; r: ExecutionReportMsg; o?: PersistedOrder }
  | { t: 'c'; c: VenueCounters }
  | { t: 'd'; id: string }
  | ({ t: 'S' } & VenueState);

export class VenueStore {
  readonly path: string;
  private fd: number | undefined;
  private buf: string[] = [];
  private scheduled = false;
  private lastCounters = '';
  /** reads the venue's counters at flush time */
  counters: () => VenueCounters = () => [0, 0, 0, 0];
  bytesWritten = 0;
  writes = 0;

  constructor(
    readonly dir: string,
    private readonly fsync = false,
  ) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'venue.log');
  }

  /** Reads what the log holds (an empty state for a new venue). A torn last line is ignored. */
  load(): VenueState {
    const st = { orders: new Map<string, PersistedOrder>(), execLog: new Map<string, ExecutionReportMsg[]>(), positions: new Map<string, Map<string, bigint>>(), counters: [0, 0, 0, 0] as VenueCounters, duplicates: [] as string[] };
    if (!existsSync(this.path)) return { orders: [], execLog: [], positions: [], counters: st.counters, duplicates: [] };
    const text = readFileSync(this.path, 'utf8');
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const s = lines[i]!;
      if (s.length === 0) continue;
      let l: Line;
      try {
        l = JSON.parse(s) as Line;
      } catch (e) {
        if (i >= lines.length - 2) break; // the write a crash cut short
        throw new Error(`${this.path}: line ${i + 1} is not JSON (${(e as Error).message})`);
      }
      switch (l.t) {
        case 'S':
          for (const o of l.orders) st.orders.set(o.vid, o);
          for (const [a, rs] of l.execLog) st.execLog.set(a, [...rs]);
          for (const [a, ps] of l.positions) st.positions.set(a, new Map(ps.map(([sym, q]) => [sym, BigInt(q)])));
          st.counters = l.counters;
          st.duplicates.push(...l.duplicates);
          break;
        case 'x': {
          let log = st.execLog.get(l.a);
          if (!log) st.execLog.set(l.a, (log = []));
          log.push(l.r);
          if (l.o) {
            // re-insert so the map keeps registration order for new orders and the latest state for old ones
            st.orders.set(l.o.vid, l.o);
          }
          if (l.r.execType === 'trade') {
            let pos = st.positions.get(l.a);
            if (!pos) st.positions.set(l.a, (pos = new Map()));
            const q = parseDecimal(l.r.lastQty, 'lastQty');
            pos.set(l.r.symbol, (pos.get(l.r.symbol) ?? 0n) + (l.r.side === 'buy' ? q : -q));
          }
          break;
        }
        case 'c':
          st.counters = l.c;
          break;
        case 'd':
          st.duplicates.push(l.id);
          break;
      }
    }
    return {
      orders: [...st.orders.values()],
      execLog: [...st.execLog],
      positions: [...st.positions].map(([a, m]) => [a, [...m].map(([s, q]) => [s, q.toString()])]),
      counters: st.counters,
      duplicates: st.duplicates,
    };
  }

  /** Replaces the log with one compacted line (temp file, fsync, rename) and opens it for appending. */
  compact(state: VenueState): void {
    const tmp = this.path + '.tmp';
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, JSON.stringify({ t: 'S', ...state }) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    const dfd = openSync(this.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    this.lastCounters = JSON.stringify(state.counters);
    this.fd = openSync(this.path, 'a');
  }

  report(account: string, r: ExecutionReportMsg, o: PersistedOrder | undefined): void {
    this.push(JSON.stringify(o ? { t: 'x', a: account, r, o } : { t: 'x', a: account, r }));
  }

  duplicate(clOrdId: string): void {
    this.push(JSON.stringify({ t: 'd', id: clOrdId }));
  }

  /** Something that moves a counter happened: make sure it is written before anything is delivered. */
  touch(): void {
    if (this.scheduled || this.fd === undefined) return;
    this.scheduled = true;
    queueMicrotask(this.flush);
  }

  private push(line: string): void {
    this.buf.push(line);
    this.touch();
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.fd === undefined) return;
    const c = JSON.stringify(this.counters());
    if (c !== this.lastCounters) {
      this.buf.push(`{"t":"c","c":${c}}`);
      this.lastCounters = c;
    }
    if (this.buf.length === 0) return;
    const data = Buffer.from(this.buf.join('\n') + '\n', 'utf8');
    this.buf = [];
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off);
    if (this.fsync) fsyncSync(this.fd);
    this.bytesWritten += data.length;
    this.writes++;
  };

  close(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
