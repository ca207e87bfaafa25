/**
 * Snapshot forms of the core's engines. Each engine's snapshot()/restore() methods (OMS, portfolio,
 * market-data cache, bars, risk, kill switch, strategy runtime) produce and consume these JSON-safe
 * shapes; the kernel assembles them into one document (kernel-snapshot.ts). Maps travel as entry
 * arrays in iteration order, so a restored engine iterates its state in the same order as the one
 * that wrote it: the core's decisions depend on that order (which open order is cancelled first,
 * which alert is raised first), and a restore must continue exactly like a replay.
 */
import type { Fill, Order } from '../../oms/order.js';
import { AppendOnlyJson, arrayFrom, fillToTuple, fillFromTuple, iterFrom, orderFromTuple, OrdersJson, type FillTuple, type OrderTuple } from './codec.js';

// ---------------------------------------------------------------- OMS

export interface OmsSnapshot {
  orders: OrderTuple[];
  /** ids of open orders, in the open map's order */
  open: string[];
  byClOrdId: [string, string][];
  clientIds: string[];
  seenExecs: string[];
  fills: FillTuple[];
  nextNo: number;
  nextReq: number;
}

export interface OmsStateView {
  orders: Map<string, Order>;
  open: Map<string, Order>;
  byClOrdId: Map<string, Order>;
  clientIds: Set<string>;
  seenExecs: Set<string>;
  fills: Fill[];
  nextNo: number;
  nextReq: number;
}

/**
 * Per-OMS serializer with the caches that make a snapshot every second affordable: its cost follows
 * what changed since the last one, not everything the OMS ever booked.
 *
 * It relies on how the OMS uses its collections (oms.ts): orders, seen execution ids and client ids
 * are only ever added; fills are appended and never change; the clOrdId index only gains keys,
 * except that a replacement's clOrdId is re-pointed from the replaced order to the new version when
 * the venue confirms — so the index is written with the values its keys first had (for that key,
 * the replaced order's id), and restore re-points those keys from the orders (every order with
 * replacesId). kernel-snapshot.test.ts pins the incremental text to a from-scratch serialization.
 */
export class OmsSnapshotWriter {
  private readonly orders = new OrdersJson();
  private readonly byClOrdId = new AppendOnlyJson<[string, Order]>(([k, o]) =>
    // the value a clOrdId key first had: for a confirmed replacement's key, the replaced order
    JSON.stringify([k, o.replacesId !== null && o.clOrdId === k ? o.replacesId : o.id]),
  );
  private readonly clientIds = new AppendOnlyJson<string>((k) => JSON.stringify(k));
  private readonly seenExecs = new AppendOnlyJson<string>((k) => JSON.stringify(k));
  private readonly fills = new AppendOnlyJson<Fill>((f) => JSON.stringify(fillToTuple(f)));

  /** The OMS snapshot as Buffers to concatenate: {"orders":[...],"open":[...],...}. */
  pieces(s: OmsStateView, late: Order[]): Buffer[] {
    const b = (t: string) => Buffer.from(t, 'utf8');
    return [
      b('{"orders":'),
      ...this.orders.pieces(s.orders, s.open, late),
      b(',"open":' + JSON.stringify([...s.open.keys()]) + ',"byClOrdId":'),
      ...this.byClOrdId.pieces(s.byClOrdId.size, (n) => iterFrom(s.byClOrdId.entries(), n)),
      b(',"clientIds":'),
      ...this.clientIds.pieces(s.clientIds.size, (n) => iterFrom(s.clientIds.values(), n)),
      b(',"seenExecs":'),
      ...this.seenExecs.pieces(s.seenExecs.size, (n) => iterFrom(s.seenExecs.values(), n)),
      b(',"fills":'),
      ...this.fills.pieces(s.fills.length, (n) => arrayFrom(s.fills, n)),
      b(`,"nextNo":${s.nextNo},"nextReq":${s.nextReq}}`),
    ];
  }
}

/** Fills the OMS's (empty) collections from a snapshot; returns the counters. */
export function restoreOmsState(snap: OmsSnapshot, into: Omit<OmsStateView, 'nextNo' | 'nextReq'>): { nextNo: number; nextReq: number } {
  into.orders.clear();
  into.open.clear();
  into.byClOrdId.clear();
  into.clientIds.clear();
  into.seenExecs.clear();
  into.fills.length = 0;
  for (const t of snap.orders) into.orders.set(t[0], orderFromTuple(t));
  for (const id of snap.open) {
    const o = into.orders.get(id);
    if (o === undefined) throw new Error(`snapshot: open order ${id} is not among the orders`);
    into.open.set(id, o);
  }
  for (const [k, v] of snap.byClOrdId) {
    const o = into.orders.get(v);
    if (o === undefined) throw new Error(`snapshot: clOrdId ${k} names order ${v}, which is not among the orders`);
    into.byClOrdId.set(k, o);
  }
  // a replacement's clOrdId points at the new version once the venue confirmed it (see OmsSnapshotWriter)
  for (const o of into.orders.values()) if (o.replacesId !== null) into.byClOrdId.set(o.clOrdId, o);
  for (const k of snap.clientIds) into.clientIds.add(k);
  for (const k of snap.seenExecs) into.seenExecs.add(k);
  for (const f of snap.fills) into.fills.push(fillFromTuple(f));
  return { nextNo: snap.nextNo, nextReq: snap.nextReq };
}

// ---------------------------------------------------------------- portfolio

export interface PortfolioSnapshot {
  /** key, account, strategyId, symbol, quantity, costBasis, realizedPnl, fees, boughtQty, soldQty */
  positions: [string, string, string | null, string, string, string, string, string, string, string][];
  /** account, currency, startingCash, cash */
  accounts: [string, string, string, string][];
  firmNet: [string, string][];
}

// ---------------------------------------------------------------- market data

export interface QuoteSnap {
  venue: string;
  symbol: string;
  bid: string | null;
  bidSize: string;
  ask: string | null;
  askSize: string;
  ts: string;
  venueTs: string;
}

export interface TradeSnap {
  venue: string;
  symbol: string;
  price: string;
  quantity: string;
  aggressor: 'buy' | 'sell';
  ts: string;
  venueTs: string;
}

export interface MarketDataSnapshot {
  quotes: [string, QuoteSnap][];
  lastTrades: [string, TradeSnap][];
  halted: [string, boolean][];
  sessionOpen: [string, boolean][];
  marks: [string, string, string][];
}

export interface BarSnap {
  venue: string;
  symbol: string;
  start: string;
  intervalNs: string;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  trades: number;
}

export interface BarsSnapshot {
  intervalNs: string;
  open: [string, BarSnap][];
  finished: BarSnap[];
}

// ---------------------------------------------------------------- kill switch

export interface KillActivationSnap {
  id: string;
  scope: { type: string; id?: string };
  actor: import('../../core/types.js').Actor;
  reason: string;
  activatedTs: string;
  status: string;
  orders: [string, string][];
  unconfirmed: number;
  massCancels: number;
  cancelsSent: number;
  retries: number;
  strategiesStopped: string[];
  completedTs: string | null;
  resetTs: string | null;
  resetBy: import('../../core/types.js').Actor[];
  approvals: import('../../core/types.js').Actor[];
  lastRetryTs: string;
}

export interface KillSwitchSnapshot {
  activations: KillActivationSnap[];
  nextId: number;
  timeoutNs: string;
  maxRetries: number;
}

// ---------------------------------------------------------------- strategies

export interface StrategySnap {
  spec: import('../kernel-config.js').StrategySpec;
  state: 'stopped' | 'running' | 'paused';
  /** why a stopped strategy is stopped (decides whether autoStart resumes it) */
  stoppedBy: 'never-started' | 'shutdown' | 'operator';
  clientSeq: number;
  rng: [number, number, number, number];
  /** the strategy's own state (Strategy.getState()) */
  own: unknown;
}
