/** The order as the OMS books it, and its wire form (decimals as strings) for events, API and journal. */
import { formatDecimal, type Money, type Price, type Qty } from '../core/fixed.js';
import type { Nanos } from '../core/time.js';
import type { OrderStatus, OrderType, Side, TimeInForce } from '../core/types.js';
import { isOpen } from './order-state.js';

export interface Order {
  readonly id: string;
  /** ClOrdID sent to the venue for this order version */
  readonly clOrdId: string;
  /** the client's own id (manual orders) or the strategy's; unique per account */
  readonly clientOrderId: string;
  readonly account: string;
  readonly strategyId: string | null;
  readonly traderId: string | null;
  readonly symbol: string;
  readonly venue: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  quantity: Qty;
  price: Price | null;
  status: OrderStatus;
  filledQuantity: Qty;
  /** exact Σ(lastPx × lastQty) of this order chain, for the average fill price */
  filledNotional: Money;
  fees: Money;
  venueOrderId: string | null;
  rejectReason: string | null;
  rejectDetail: Record<string, string> | null;
  /** the order version this one replaced, and the one that replaced it */
  replacesId: string | null;
  replacedById: string | null;
  /** status to return to if a pending cancel/replace is refused */
  prevStatus: OrderStatus | null;
  pendingReplace: { orderId: string; clOrdId: string; quantity: Qty; price: Price | null } | null;
  /** a cancel was sent and is not yet confirmed: used by the kill switch and reconciliation */
  cancelRequests: number;
  /** set when the venue's state of the order is unknown (kill-switch timeout, lost connection) */
  uncertain: boolean;
  readonly createdTs: Nanos;
  updatedTs: Nanos;
  readonly createdSeq: number;
}

export interface OrderWire {
  id: string;
  clOrdId: string;
  clientOrderId: string;
  account: string;
  strategyId: string | null;
  traderId: string | null;
  symbol: string;
  venue: string;
  side: Side;
  type: OrderType;
  timeInForce: TimeInForce;
  quantity: string;
  price: string | null;
  status: OrderStatus;
  filledQuantity: string;
  leavesQuantity: string;
  averagePrice: string | null;
  fees: string;
  venueOrderId: string | null;
  rejectReason: string | null;
  rejectDetail: Record<string, string> | null;
  replacesId: string | null;
  replacedById: string | null;
  uncertain: boolean;
  createdTs: string;
  updatedTs: string;
}

/**
 * What a state change of an order can alter, as order.updated records it. The order's identity and
 * terms (account, symbol, side, quantity, price, ...) never change after order.created (a replace
 * makes a new order version with its own order.created), so the change carries only these; the
 * optional fields appear once set. Half the bytes of the whole order, on the busiest event there is.
 */
export type OrderChangeWire = Pick<OrderWire, 'id' | 'status' | 'filledQuantity' | 'leavesQuantity' | 'averagePrice' | 'fees' | 'venueOrderId' | 'uncertain' | 'updatedTs'> & {
  rejectReason?: string;
  rejectDetail?: Record<string, string>;
  replacedById?: string;
};

/**
 * One order of an order.massCanceled event: the status it left, and the venue order id when the
 * report is where the OMS learned it. The rest of the change is the same for every order of the
 * event (status Canceled, leaves 0, the event's updatedTs) or unchanged by a cancel.
 */
export interface OrderMassCancelWire {
  id: string;
  from: OrderStatus;
  venueOrderId?: string;
}

/** Quantity still working at the venue: zero once the order has ended (FIX LeavesQty). */
export function leavesQty(o: Order): Qty {
  if (!isOpen(o.status)) return 0n;
  const l = o.quantity - o.filledQuantity;
  return l > 0n ? l : 0n;
}

export function averageFillPrice(o: Order): Price | null {
  if (o.filledQuantity === 0n) return null;
  // notional / qty at scale, rounded half away from zero
  const n = o.filledNotional * 100_000_000n;
  const q = o.filledQuantity;
  const r = n % q;
  let v = n / q;
  if (r * 2n >= q) v += 1n;
  return v;
}

export function orderToWire(o: Order): OrderWire {
  return {
    id: o.id,
    clOrdId: o.clOrdId,
    clientOrderId: o.clientOrderId,
    account: o.account,
    strategyId: o.strategyId,
    traderId: o.traderId,
    symbol: o.symbol,
    venue: o.venue,
    side: o.side,
    type: o.type,
    timeInForce: o.timeInForce,
    quantity: formatDecimal(o.quantity),
    price: o.price === null ? null : formatDecimal(o.price),
    ...stateToWire(o),
    rejectReason: o.rejectReason,
    rejectDetail: o.rejectDetail,
    replacesId: o.replacesId,
    replacedById: o.replacedById,
    uncertain: o.uncertain,
    createdTs: o.createdTs.toString(),
    updatedTs: o.updatedTs.toString(),
  };
}

export interface Fill {
  id: string;
  orderId: string;
  execId: string;
  account: string;
  strategyId: string | null;
  symbol: string;
  venue: string;
  side: Side;
  quantity: Qty;
  price: Price;
  fee: Money;
  liquidity: 'maker' | 'taker' | null;
  /** venue transaction time */
  ts: Nanos;
  /** journal sequence of the execution report */
  seq: number;
}

export interface FillWire {
  id: string;
  orderId: string;
  execId: string;
  account: string;
  strategyId: string | null;
  symbol: string;
  venue: string;
  side: Side;
  quantity: string;
  price: string;
  fee: string;
  liquidity: 'maker' | 'taker' | null;
  ts: string;
  seq: number;
}

export function fillToWire(f: Fill): FillWire {
  return {
    id: f.id,
    orderId: f.orderId,
    execId: f.execId,
    account: f.account,
    strategyId: f.strategyId,
    symbol: f.symbol,
    venue: f.venue,
    side: f.side,
    quantity: formatDecimal(f.quantity),
    price: formatDecimal(f.price),
    fee: formatDecimal(f.fee),
    liquidity: f.liquidity,
    ts: f.ts.toString(),
    seq: f.seq,
  };
}

/** The fields every state change may alter, as both wire forms carry them. */
function stateToWire(o: Order): Pick<OrderWire, 'status' | 'filledQuantity' | 'leavesQuantity' | 'averagePrice' | 'fees' | 'venueOrderId'> {
  const avg = averageFillPrice(o);
  return {
    status: o.status,
    filledQuantity: formatDecimal(o.filledQuantity),
    leavesQuantity: formatDecimal(leavesQty(o)),
    averagePrice: avg === null ? null : formatDecimal(avg),
    fees: formatDecimal(o.fees),
    venueOrderId: o.venueOrderId,
  };
}

export function orderChangeToWire(o: Order): OrderChangeWire {
  const w: OrderChangeWire = { id: o.id, ...stateToWire(o), uncertain: o.uncertain, updatedTs: o.updatedTs.toString() };
  if (o.rejectReason !== null) w.rejectReason = o.rejectReason;
  if (o.rejectDetail !== null) w.rejectDetail = o.rejectDetail;
  if (o.replacedById !== null) w.replacedById = o.replacedById;
  return w;
}
