/**
 * Encoding helpers for kernel snapshots: bigints travel as decimal strings, orders and fills as
 * positional tuples (a third of the bytes of keyed objects), and the large, mostly unchanging
 * collections are serialized incrementally so that a snapshot every second costs the core time in
 * proportion to what changed, not to everything it ever booked.
 *
 * Why incremental: a node that traded for an hour holds a few hundred thousand orders, fills and
 * execution ids. Serializing them from scratch each second would stall the core for hundreds of
 * milliseconds. Orders are cached per object (their JSON is reused while none of their mutable fields
 * changed); append-only collections (fills, seen execution ids, clOrdId index, client ids) keep
 * their already serialized prefix.
 */
import type { OrderStatus, OrderType, Side, TimeInForce } from '../../core/types.js';
import type { Fill, Order } from '../../oms/order.js';

export function big(v: bigint): string {
  return v.toString();
}

export function unbig(s: string): bigint {
  return BigInt(s);
}

export function bigOrNull(v: bigint | null): string | null {
  return v === null ? null : v.toString();
}

export function unbigOrNull(s: string | null): bigint | null {
  return s === null ? null : BigInt(s);
}

/** Map → entries array (insertion order kept: restore rebuilds the same iteration order). */
export function entries<K, V, W>(m: Map<K, V>, f: (v: V) => W): [K, W][] {
  const out: [K, W][] = [];
  for (const [k, v] of m) out.push([k, f(v)]);
  return out;
}

// ---------------------------------------------------------------- orders

type PendingReplaceTuple = [string, string, string, string | null];

export type OrderTuple = [
  id: string,
  clOrdId: string,
  clientOrderId: string,
  account: string,
  strategyId: string | null,
  traderId: string | null,
  symbol: string,
  venue: string,
  side: Side,
  type: OrderType,
  timeInForce: TimeInForce,
  quantity: string,
  price: string | null,
  status: OrderStatus,
  filledQuantity: string,
  filledNotional: string,
  fees: string,
  venueOrderId: string | null,
  rejectReason: string | null,
  rejectDetail: Record<string, string> | null,
  replacesId: string | null,
  replacedById: string | null,
  prevStatus: OrderStatus | null,
  pendingReplace: PendingReplaceTuple | null,
  cancelRequests: number,
  uncertain: boolean,
  createdTs: string,
  updatedTs: string,
  createdSeq: number,
];

export function orderToTuple(o: Order): OrderTuple {
  const pr = o.pendingReplace;
  return [
    o.id,
    o.clOrdId,
    o.clientOrderId,
    o.account,
    o.strategyId,
    o.traderId,
    o.symbol,
    o.venue,
    o.side,
    o.type,
    o.timeInForce,
    big(o.quantity),
    bigOrNull(o.price),
    o.status,
    big(o.filledQuantity),
    big(o.filledNotional),
    big(o.fees),
    o.venueOrderId,
    o.rejectReason,
    o.rejectDetail === null ? null : { ...o.rejectDetail },
    o.replacesId,
    o.replacedById,
    o.prevStatus,
    pr === null ? null : [pr.orderId, pr.clOrdId, big(pr.quantity), bigOrNull(pr.price)],
    o.cancelRequests,
    o.uncertain,
    big(o.createdTs),
    big(o.updatedTs),
    o.createdSeq,
  ];
}

export function orderFromTuple(t: OrderTuple): Order {
  const pr = t[23];
  return {
    id: t[0],
    clOrdId: t[1],
    clientOrderId: t[2],
    account: t[3],
    strategyId: t[4],
    traderId: t[5],
    symbol: t[6],
    venue: t[7],
    side: t[8],
    type: t[9],
    timeInForce: t[10],
    quantity: unbig(t[11]),
    price: unbigOrNull(t[12]),
    status: t[13],
    filledQuantity: unbig(t[14]),
    filledNotional: unbig(t[15]),
    fees: unbig(t[16]),
    venueOrderId: t[17],
    rejectReason: t[18],
    rejectDetail: t[19],
    replacesId: t[20],
    replacedById: t[21],
    prevStatus: t[22],
    pendingReplace: pr === null ? null : { orderId: pr[0], clOrdId: pr[1], quantity: unbig(pr[2]), price: unbigOrNull(pr[3]) },
    cancelRequests: t[24],
    uncertain: t[25],
    createdTs: unbig(t[26]),
    updatedTs: unbig(t[27]),
    createdSeq: t[28],
  };
}

// ---------------------------------------------------------------- fills

export type FillTuple = [
  id: string,
  orderId: string,
  execId: string,
  account: string,
  strategyId: string | null,
  symbol: string,
  venue: string,
  side: Side,
  quantity: string,
  price: string,
  fee: string,
  liquidity: 'maker' | 'taker' | null,
  ts: string,
  seq: number,
];

export function fillToTuple(f: Fill): FillTuple {
  return [f.id, f.orderId, f.execId, f.account, f.strategyId, f.symbol, f.venue, f.side, big(f.quantity), big(f.price), big(f.fee), f.liquidity, big(f.ts), f.seq];
}

export function fillFromTuple(t: FillTuple): Fill {
  return {
    id: t[0],
    orderId: t[1],
    execId: t[2],
    account: t[3],
    strategyId: t[4],
    symbol: t[5],
    venue: t[6],
    side: t[7],
    quantity: unbig(t[8]),
    price: unbig(t[9]),
    fee: unbig(t[10]),
    liquidity: t[11],
    ts: unbig(t[12]),
    seq: t[13],
  };
}

// ---------------------------------------------------------------- large collections

const CHUNK = 2048;

const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');
const COMMA = Buffer.from(',');

/** Pieces of a JSON array whose elements are the given non-empty JSON fragments (Buffers). */
function arrayPieces(fragments: Buffer[]): Buffer[] {
  const out: Buffer[] = [OPEN];
  for (let i = 0; i < fragments.length; i++) {
    if (i > 0) out.push(COMMA);
    out.push(fragments[i]!);
  }
  out.push(CLOSE);
  return out;
}

/**
 * A JSON array of a collection that only ever grows at its end and whose items never change (an
 * array of immutable objects, or a Set/Map its owner never deletes from): only items beyond the
 * previous size are encoded, complete chunks keep their encoded bytes. The result is a list of
 * Buffers (concatenated once, by the caller), so the text of the unchanged prefix is neither
 * copied into a new string nor UTF-8 encoded again.
 */
export class AppendOnlyJson<T> {
  private chunks: Buffer[] = [];
  private tail: string[] = [];
  private count = 0;

  constructor(private readonly encode: (item: T) => string) {}

  /** `items(skip)` iterates the collection from index `skip`. */
  pieces(size: number, items: (skip: number) => Iterator<T>): Buffer[] {
    if (size < this.count) {
      this.chunks = [];
      this.tail = [];
      this.count = 0;
    }
    if (size > this.count) {
      const it = items(this.count);
      for (let r = it.next(); !r.done; r = it.next()) {
        this.tail.push(this.encode(r.value));
        this.count++;
        if (this.tail.length === CHUNK) {
          this.chunks.push(Buffer.from(this.tail.join(','), 'utf8'));
          this.tail = [];
        }
      }
    }
    return arrayPieces(this.tail.length > 0 ? [...this.chunks, Buffer.from(this.tail.join(','), 'utf8')] : this.chunks);
  }
}

/** An iterator over a Set's or Map's items from index `skip` (stepping over the prefix). */
export function iterFrom<T>(it: Iterator<T>, skip: number): Iterator<T> {
  for (let i = 0; i < skip; i++) it.next();
  return it;
}

/** Iterator over an array from any index without stepping through the prefix. */
export function arrayFrom<T>(a: readonly T[], skip: number): Iterator<T> {
  let i = skip;
  return { next: () => (i < a.length ? { done: false, value: a[i++]! } : { done: true, value: undefined }) };
}

/** The fields of an order that may change after it was created, as last encoded. */
interface Seen {
  o: Order;
  status: OrderStatus;
  filledQuantity: bigint;
  updatedTs: bigint;
  cancelRequests: number;
  uncertain: boolean;
  quantity: bigint;
  price: bigint | null;
  fees: bigint;
  venueOrderId: string | null;
  rejectReason: string | null;
  rejectDetail: Record<string, string> | null;
  replacedById: string | null;
  prevStatus: OrderStatus | null;
  pendingReplace: Order['pendingReplace'];
}

function seen(o: Order): Seen {
  return { o, status: o.status, filledQuantity: o.filledQuantity, updatedTs: o.updatedTs, cancelRequests: o.cancelRequests, uncertain: o.uncertain, quantity: o.quantity, price: o.price, fees: o.fees, venueOrderId: o.venueOrderId, rejectReason: o.rejectReason, rejectDetail: o.rejectDetail, replacedById: o.replacedById, prevStatus: o.prevStatus, pendingReplace: o.pendingReplace };
}

function unchanged(s: Seen, o: Order): boolean {
  return (
    s.o === o &&
    s.status === o.status &&
    s.filledQuantity === o.filledQuantity &&
    s.updatedTs === o.updatedTs &&
    s.cancelRequests === o.cancelRequests &&
    s.uncertain === o.uncertain &&
    s.quantity === o.quantity &&
    s.price === o.price &&
    s.fees === o.fees &&
    s.venueOrderId === o.venueOrderId &&
    s.rejectReason === o.rejectReason &&
    s.rejectDetail === o.rejectDetail &&
    s.replacedById === o.replacedById &&
    s.prevStatus === o.prevStatus &&
    s.pendingReplace === o.pendingReplace
  );
}

/**
 * The orders as JSON pieces, looking again only at orders that may have changed since the last
 * call: new ones, open ones, ones that were open last time, and ended ones a late report reached
 * (the OMS lists those). Of these, only the ones whose mutable fields differ are encoded again. An
 * order that had ended at the last snapshot and got no report since is not read at all.
 */
/** The OMS lists at most this many late-reported orders between snapshots (oms.ts). */
export const LATE_LIMIT = 100_000;

export class OrdersJson {
  private readonly pos = new Map<string, number>();
  private jsons: string[] = [];
  private seen: Seen[] = [];
  private chunkBuf: (Buffer | undefined)[] = [];
  private lastOpen: string[] = [];

  pieces(orders: ReadonlyMap<string, Order>, open: ReadonlyMap<string, Order>, late: Order[]): Buffer[] {
    if (orders.size < this.jsons.length) {
      this.pos.clear();
      this.jsons = [];
      this.seen = [];
      this.chunkBuf = [];
      this.lastOpen = [];
    }
    const encode = (o: Order, i: number): void => {
      this.jsons[i] = JSON.stringify(orderToTuple(o));
      this.seen[i] = seen(o);
      this.chunkBuf[(i / CHUNK) | 0] = undefined;
    };
    const recheck = (o: Order | undefined): void => {
      if (o === undefined) return;
      const i = this.pos.get(o.id);
      if (i !== undefined && !unchanged(this.seen[i]!, o)) encode(o, i);
    };
    if (orders.size > this.jsons.length) {
      const it = iterFrom(orders.values(), this.jsons.length);
      for (let r = it.next(); !r.done; r = it.next()) {
        const i = this.jsons.length;
        this.pos.set(r.value.id, i);
        encode(r.value, i);
      }
    }
    for (const id of this.lastOpen) if (!open.has(id)) recheck(orders.get(id));
    for (const o of open.values()) recheck(o);
    // the OMS stops listing at LATE_LIMIT (no snapshots taken for a long time): then look at every order
    if (late.length >= LATE_LIMIT) for (const o of orders.values()) recheck(o);
    else for (const o of late) recheck(o);
    late.length = 0;
    this.lastOpen = [...open.keys()];
    const frags: Buffer[] = [];
    for (let c = 0; c * CHUNK < this.jsons.length; c++) {
      let b = this.chunkBuf[c];
      if (b === undefined) {
        b = Buffer.from(this.jsons.slice(c * CHUNK, (c + 1) * CHUNK).join(','), 'utf8');
        this.chunkBuf[c] = b;
      }
      frags.push(b);
    }
    return arrayPieces(frags);
  }
}
