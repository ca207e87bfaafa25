/**
 * The venue boundary. Every venue (the simulated exchange, a FIX session) speaks these messages.
 * They are plain JSON-safe objects with decimals as strings, so they can be journaled, put on a
 * ring buffer between threads, or sent over NATS without conversion.
 *
 * Semantics follow FIX 4.4: NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest,
 * OrderMassCancelRequest, OrderStatusRequest in; ExecutionReport and market data out.
 */
import type { OrderStatus, OrderType, Side, TimeInForce } from '../core/types.js';

export interface NewOrderMsg {
  type: 'new';
  clOrdId: string;
  account: string;
  symbol: string;
  side: Side;
  orderType: OrderType;
  tif: TimeInForce;
  quantity: string;
  /** required for limit orders */
  price?: string;
  /** orders with the same group never trade with each other when the venue enforces STP */
  selfTradeGroup?: string;
}

export interface CancelMsg {
  type: 'cancel';
  clOrdId: string;
  origClOrdId: string;
  symbol: string;
  side: Side;
}

export interface ReplaceMsg {
  type: 'replace';
  clOrdId: string;
  origClOrdId: string;
  symbol: string;
  side: Side;
  quantity: string;
  price?: string;
}

export interface MassCancelMsg {
  type: 'massCancel';
  requestId: string;
  /** when absent: every order this gateway's session sent */
  account?: string;
  symbol?: string;
}

export interface StatusRequestMsg {
  type: 'status';
  clOrdId: string;
  symbol: string;
}

export type VenueCommand = NewOrderMsg | CancelMsg | ReplaceMsg | MassCancelMsg | StatusRequestMsg;

export type ExecType =
  | 'new'
  | 'trade'
  | 'canceled'
  | 'replaced'
  | 'rejected'
  | 'expired'
  | 'pendingCancel'
  | 'pendingReplace'
  /** a cancel or replace request was refused; the order keeps its state */
  | 'cancelRejected'
  /** answer to a status request; no state change implied */
  | 'orderStatus';

export interface ExecutionReportMsg {
  venue: string;
  /** unique per venue; a duplicate execId is the same report delivered twice */
  execId: string;
  execType: ExecType;
  ordStatus: OrderStatus;
  clOrdId: string;
  origClOrdId?: string;
  venueOrderId?: string;
  symbol: string;
  side: Side;
  orderQty: string;
  /** this fill's quantity and price (execType 'trade'), else "0" */
  lastQty: string;
  lastPx: string;
  cumQty: string;
  leavesQty: string;
  avgPx: string;
  /** fee for this fill in the instrument currency; negative is a rebate */
  fee: string;
  liquidity?: 'maker' | 'taker';
  /** machine-readable reason for rejects: UNKNOWN_ORDER, HALTED, CLOSED, INVALID_PRICE, ... */
  reason?: string;
  text?: string;
  /** venue transaction time, epoch ns as a decimal string */
  venueTs: string;
}

/**
 * The answer to a mass cancel (FIX OrderMassCancelReport, MsgType r, with its NoAffectedOrders
 * group): one message naming every order it cancelled, instead of one execution report each. Each
 * affected order carries the execId the venue logged for its cancellation, so that reconciliation
 * against the venue's execution history finds them all seen. A refused request (the venue does not
 * offer mass cancel, or refuses this one) comes back as a cancelRejected execution report.
 */
export interface MassCancelReportMsg {
  venue: string;
  /** unique per venue, like an execId: a duplicate is the same report delivered twice */
  reportId: string;
  /** the MassCancelMsg this answers */
  requestId: string;
  account?: string;
  symbol?: string;
  affected: MassCancelAffectedOrder[];
  venueTs: string;
}

export interface MassCancelAffectedOrder {
  clOrdId: string;
  venueOrderId: string;
  execId: string;
  /** quantity the venue had filled when it cancelled the order */
  cumQty: string;
}

export interface QuoteMsg {
  type: 'quote';
  venue: string;
  symbol: string;
  feedSeq: number;
  bid?: string;
  bidSize: string;
  ask?: string;
  askSize: string;
  venueTs: string;
}

export interface TradeMsg {
  type: 'trade';
  venue: string;
  symbol: string;
  feedSeq: number;
  tradeId: string;
  price: string;
  quantity: string;
  aggressor: Side;
  venueTs: string;
}

export interface DepthSnapshotMsg {
  type: 'depthSnapshot';
  venue: string;
  symbol: string;
  feedSeq: number;
  /** [price, total size] best first */
  bids: [string, string][];
  asks: [string, string][];
  venueTs: string;
}

export interface DepthUpdateMsg {
  type: 'depthUpdate';
  venue: string;
  symbol: string;
  feedSeq: number;
  side: Side;
  price: string;
  /** new total size at the level; "0" removes it */
  size: string;
  venueTs: string;
}

export interface InstrumentStatusMsg {
  type: 'instrumentStatus';
  venue: string;
  symbol: string;
  feedSeq: number;
  halted: boolean;
  open: boolean;
  venueTs: string;
}

export type MarketDataMsg = QuoteMsg | TradeMsg | DepthSnapshotMsg | DepthUpdateMsg | InstrumentStatusMsg;

export interface VenueListener {
  onExecutionReport(r: ExecutionReportMsg): void;
  /** Venues that answer a mass cancel with one report (listeners that omit it get nothing). */
  onMassCancelReport?(r: MassCancelReportMsg): void;
  onMarketData(m: MarketDataMsg): void;
  onConnectionChange?(venue: string, up: boolean): void;
}

/** What the engine needs from any venue connection. Calls never block; answers come back through the listener. */
export interface VenueGateway {
  readonly id: string;
  readonly connected: boolean;
  /** Whether the venue offers OrderMassCancelRequest. */
  readonly supportsMassCancel: boolean;
  subscribe(listener: VenueListener): void;
  send(cmd: VenueCommand): void;
  /** Venue position per (account, symbol) as decimal strings, for reconciliation. */
  positions(account: string): Promise<Record<string, string>>;
  /** Executions for an account since a venue timestamp (ns), for reconciliation. */
  executionsSince(account: string, sinceVenueTs: bigint): Promise<ExecutionReportMsg[]>;
  /** Open orders for an account, as orderStatus reports. */
  openOrders(account: string): Promise<ExecutionReportMsg[]>;
}
