/**
 * Price-time priority limit order book for one symbol: the matching engine of the simulated venue.
 *
 * Pure and synchronous: no clock, no I/O, no randomness. Each operation returns the events it
 * caused, in order, as self-contained snapshots (the quantities an order had right after that
 * event), so the venue can turn them into execution reports and market data without reading back
 * into the book.
 *
 * Layout: per side a sorted array of price levels (best level last, so consuming the top is a pop
 * and binary search finds any other level), each level a doubly linked FIFO of resting orders, plus
 * an id → order map. Cancelling is therefore O(1) in the level and O(log L) to drop an empty level.
 */
import { applyBps, mul, type Fixed, type Money, type Price, type Qty } from '../../core/fixed.js';
import { ORDER_TYPES, SIDES, TIME_IN_FORCES, type OrderType, type Side, type TimeInForce } from '../../core/types.js';

export type StpPolicy = 'cancelResting' | 'cancelIncoming' | 'none';
export const STP_POLICIES: readonly StpPolicy[] = ['cancelResting', 'cancelIncoming', 'none'];

/** Machine reason codes for refused orders, cancels and replaces. */
export type BookRejectReason =
  | 'INVALID_ORDER'
  | 'INVALID_PRICE'
  | 'INVALID_QUANTITY'
  | 'QTY_BELOW_FILLED'
  | 'HALTED'
  | 'CLOSED'
  | 'UNKNOWN_ORDER'
  | 'DUPLICATE_ORDER_ID';

/** Why an order left the book without being filled. */
export type CancelReason = 'REQUESTED' | 'IOC_REMAINDER' | 'FOK_NOT_FILLABLE' | 'MARKET_NO_LIQUIDITY' | 'SELF_TRADE_PREVENTION';

export interface OrderBookConfig {
  symbol: string;
  tickSize: Price;
  lotSize: Qty;
  minQty?: Qty;
  maxQty?: Qty;
  /** fixed-point basis points; negative is a rebate */
  makerBps?: Fixed;
  takerBps?: Fixed;
  stp?: StpPolicy;
}

export interface OrderRequest {
  /** unique among the book's live orders (the venue order id) */
  id: string;
  side: Side;
  type: OrderType;
  tif: TimeInForce;
  qty: Qty;
  /** required for limit orders, absent for market orders */
  price?: Price;
  /** opaque tag for the venue (account or agent) */
  owner?: string;
  selfTradeGroup?: string;
}

export interface RestingOrder {
  readonly id: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly tif: TimeInForce;
  readonly price: Price;
  readonly qty: Qty;
  readonly filled: Qty;
  readonly leaves: Qty;
  readonly owner: string | undefined;
  readonly selfTradeGroup: string | undefined;
  /** time priority: lower is earlier; renewed whenever priority is lost */
  readonly priority: number;
}

export interface AcceptedEvent {
  type: 'accepted';
  id: string;
  side: Side;
  qty: Qty;
  price: Price | undefined;
}

export interface RejectedEvent {
  type: 'rejected';
  id: string;
  reason: BookRejectReason;
  text: string;
}

export interface FillEvent {
  type: 'fill';
  /** per-book trade sequence */
  matchId: number;
  price: Price;
  qty: Qty;
  /** taker's side */
  aggressor: Side;
  makerId: string;
  makerFilled: Qty;
  makerLeaves: Qty;
  makerFee: Money;
  takerId: string;
  takerFilled: Qty;
  takerLeaves: Qty;
  takerFee: Money;
}

export interface CanceledEvent {
  type: 'canceled';
  id: string;
  reason: CancelReason;
  /** quantity that will never be filled */
  canceledQty: Qty;
  filled: Qty;
}

export interface ExpiredEvent {
  type: 'expired';
  id: string;
  expiredQty: Qty;
  filled: Qty;
}

export interface ReplacedEvent {
  type: 'replaced';
  id: string;
  oldQty: Qty;
  oldPrice: Price;
  qty: Qty;
  price: Price;
  filled: Qty;
  leaves: Qty;
  keptPriority: boolean;
}

export interface CancelRejectedEvent {
  type: 'cancelRejected';
  id: string;
  request: 'cancel' | 'replace';
  reason: BookRejectReason;
  text: string;
}

/** New total size of one price level after an operation; 0 means the level is gone. */
export interface LevelEvent {
  type: 'level';
  side: Side;
  price: Price;
  size: Qty;
}

export type BookEvent =
  | AcceptedEvent
  | RejectedEvent
  | FillEvent
  | CanceledEvent
  | ExpiredEvent
  | ReplacedEvent
  | CancelRejectedEvent
  | LevelEvent;

class Level {
  size: Qty = 0n;
  count = 0;
  head: Order | null = null;
  tail: Order | null = null;
  /** operation number of the first change in the current operation, and the size before it */
  mark = 0;
  sizeBefore: Qty = 0n;
  constructor(
    readonly side: Side,
    readonly price: Price,
    /** price for bids, -price for asks: both arrays are then ascending by key with the best last */
    readonly key: Price,
  ) {}
}

class Order implements RestingOrder {
  filled: Qty = 0n;
  leaves: Qty;
  priority = 0;
  level: Level | null = null;
  prev: Order | null = null;
  next: Order | null = null;
  constructor(
    readonly id: string,
    readonly side: Side,
    readonly type: OrderType,
    readonly tif: TimeInForce,
    public price: Price,
    public qty: Qty,
    readonly owner: string | undefined,
    readonly selfTradeGroup: string | undefined,
  ) {
    this.leaves = qty;
  }
}

export class OrderBook {
  readonly symbol: string;
  readonly tickSize: Price;
  readonly lotSize: Qty;
  readonly minQty: Qty;
  readonly maxQty: Qty;
  readonly makerBps: Fixed;
  readonly takerBps: Fixed;
  readonly stp: StpPolicy;

  private readonly bids: Level[] = [];
  private readonly asks: Level[] = [];
  private readonly live = new Map<string, Order>();
  private halted = false;
  private open = true;
  private prioritySeq = 0;
  private matchSeq = 0;
  private op = 0;
  private touched: Level[] = [];
  private events: BookEvent[] = [];

  constructor(cfg: OrderBookConfig) {
    if (cfg.tickSize <= 0n) throw new RangeError(`${cfg.symbol}: tickSize must be positive`);
    if (cfg.lotSize <= 0n) throw new RangeError(`${cfg.symbol}: lotSize must be positive`);
    const stp = cfg.stp ?? 'cancelIncoming';
    if (!STP_POLICIES.includes(stp)) throw new RangeError(`${cfg.symbol}: unknown STP policy "${String(stp)}"`);
    this.symbol = cfg.symbol;
    this.tickSize = cfg.tickSize;
    this.lotSize = cfg.lotSize;
    this.minQty = cfg.minQty ?? cfg.lotSize;
    this.maxQty = cfg.maxQty ?? 0n;
    this.makerBps = cfg.makerBps ?? 0n;
    this.takerBps = cfg.takerBps ?? 0n;
    this.stp = stp;
  }

  // ---- state -------------------------------------------------------------------------------

  get isHalted(): boolean {
    return this.halted;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** While halted, new orders and replaces are refused; cancels still work. */
  setHalted(halted: boolean): void {
    this.halted = halted;
  }

  /** While closed, new orders and replaces are refused; cancels still work. */
  setOpen(open: boolean): void {
    this.open = open;
  }

  /** Number of resting orders. */
  get size(): number {
    return this.live.size;
  }

  order(id: string): RestingOrder | undefined {
    return this.live.get(id);
  }

  orders(): IterableIterator<RestingOrder> {
    return this.live.values();
  }

  bestPrice(side: Side): Price | undefined {
    const a = side === 'buy' ? this.bids : this.asks;
    return a.length === 0 ? undefined : a[a.length - 1]!.price;
  }

  bestSize(side: Side): Qty {
    const a = side === 'buy' ? this.bids : this.asks;
    return a.length === 0 ? 0n : a[a.length - 1]!.size;
  }

  levelCount(side: Side): number {
    return (side === 'buy' ? this.bids : this.asks).length;
  }

  /** [price, total size] best first. */
  depth(side: Side, maxLevels = Number.MAX_SAFE_INTEGER): [Price, Qty][] {
    const a = side === 'buy' ? this.bids : this.asks;
    const out: [Price, Qty][] = [];
    for (let i = a.length - 1; i >= 0 && out.length < maxLevels; i--) out.push([a[i]!.price, a[i]!.size]);
    return out;
  }

  /** Resting orders at one price in time priority. */
  levelOrders(side: Side, price: Price): RestingOrder[] {
    const a = side === 'buy' ? this.bids : this.asks;
    const i = findLevel(a, side === 'buy' ? price : -price);
    const out: RestingOrder[] = [];
    if (i < 0) return out;
    for (let o = a[i]!.head; o !== null; o = o.next) out.push(o);
    return out;
  }

  // ---- operations ----------------------------------------------------------------------------

  submit(req: OrderRequest): BookEvent[] {
    this.begin();
    const bad = this.validateNew(req);
    if (bad !== undefined) {
      this.events.push({ type: 'rejected', id: String(req.id), reason: bad[0], text: bad[1] });
      return this.end();
    }
    const o = new Order(req.id, req.side, req.type, req.tif, req.price ?? 0n, req.qty, req.owner, req.selfTradeGroup);
    this.events.push({ type: 'accepted', id: o.id, side: o.side, qty: o.qty, price: req.price });
    this.execute(o);
    return this.end();
  }

  cancel(id: string): BookEvent[] {
    this.begin();
    const o = this.live.get(id);
    if (o === undefined) {
      this.events.push({ type: 'cancelRejected', id, request: 'cancel', reason: 'UNKNOWN_ORDER', text: `order ${id} is not resting in ${this.symbol}` });
      return this.end();
    }
    this.unlink(o);
    this.live.delete(id);
    this.kill(o, 'REQUESTED');
    return this.end();
  }

  /**
   * Cancels many resting orders as one book operation (a venue's mass cancel): one canceled event
   * per order in the given order, then one level event per price level whose size changed, so the
   * feed sees the book's new state once rather than each intermediate step. Ids not resting are
   * skipped (a mass cancel names what the venue found, not what the client asked for).
   */
  cancelMany(ids: Iterable<string>): BookEvent[] {
    this.begin();
    for (const id of ids) {
      const o = this.live.get(id);
      if (o === undefined) continue;
      this.unlink(o);
      this.live.delete(id);
      this.kill(o, 'REQUESTED');
    }
    return this.end();
  }

  /**
   * Cancel/replace. Keeps time priority only when the price is unchanged and the quantity does not
   * grow; a new price may cross, in which case the order trades as a taker first.
   */
  replace(id: string, qty: Qty, price?: Price): BookEvent[] {
    this.begin();
    const o = this.live.get(id);
    const refuse = (reason: BookRejectReason, text: string): BookEvent[] => {
      this.events.push({ type: 'cancelRejected', id, request: 'replace', reason, text });
      return this.end();
    };
    if (o === undefined) return refuse('UNKNOWN_ORDER', `order ${id} is not resting in ${this.symbol}`);
    if (this.halted) return refuse('HALTED', `${this.symbol} is halted`);
    if (!this.open) return refuse('CLOSED', `${this.symbol} session is closed`);
    const badQty = this.checkQty(qty);
    if (badQty !== undefined) return refuse('INVALID_QUANTITY', badQty);
    if (qty <= o.filled) return refuse('QTY_BELOW_FILLED', `new quantity ${qty} is not above the filled quantity ${o.filled}`);
    const newPrice = price ?? o.price;
    const badPx = this.checkPrice(newPrice);
    if (badPx !== undefined) return refuse('INVALID_PRICE', badPx);

    const oldQty = o.qty;
    const oldPrice = o.price;
    const priceChanged = newPrice !== oldPrice;
    if (!priceChanged && qty <= oldQty) {
      const lvl = o.level!;
      this.touch(lvl);
      const delta = oldQty - qty;
      lvl.size -= delta;
      o.qty = qty;
      o.leaves -= delta;
      this.events.push({ type: 'replaced', id, oldQty, oldPrice, qty, price: newPrice, filled: o.filled, leaves: o.leaves, keptPriority: true });
      return this.end();
    }
    this.unlink(o);
    this.live.delete(id);
    o.qty = qty;
    o.leaves = qty - o.filled;
    o.price = newPrice;
    this.events.push({ type: 'replaced', id, oldQty, oldPrice, qty, price: newPrice, filled: o.filled, leaves: o.leaves, keptPriority: false });
    if (priceChanged) this.execute(o);
    else this.rest(o);
    return this.end();
  }

  /**
   * Puts a resting order back after a venue restart: no matching and no events, its filled
   * quantity as it was, at the back of its price level (restore in old priority order to keep the
   * queue).
   */
  restoreResting(req: OrderRequest, filled: Qty): void {
    if (req.type !== 'limit' || req.price === undefined || filled >= req.qty || this.live.has(req.id)) throw new Error(`${this.symbol}: cannot restore ${req.id} as a resting order`);
    this.begin();
    const o = new Order(req.id, req.side, req.type, req.tif, req.price, req.qty, req.owner, req.selfTradeGroup);
    o.filled = filled;
    o.leaves = req.qty - filled;
    this.rest(o);
    this.end();
  }

  /** End of session: every resting DAY order expires. */
  expireDayOrders(): BookEvent[] {
    this.begin();
    for (const o of this.live.values()) {
      if (o.tif !== 'DAY') continue;
      this.unlink(o);
      this.live.delete(o.id);
      this.events.push({ type: 'expired', id: o.id, expiredQty: o.leaves, filled: o.filled });
      o.leaves = 0n;
    }
    return this.end();
  }

  // ---- matching ------------------------------------------------------------------------------

  private execute(o: Order): void {
    if (o.tif === 'FOK' && !this.canFillFully(o)) {
      this.kill(o, 'FOK_NOT_FILLABLE');
      return;
    }
    if (!this.match(o)) return;
    if (o.leaves === 0n) return;
    if (o.type === 'market') this.kill(o, 'MARKET_NO_LIQUIDITY');
    else if (o.tif === 'IOC' || o.tif === 'FOK') this.kill(o, 'IOC_REMAINDER');
    else this.rest(o);
  }

  /** Trades o against the opposite side. Returns false when STP cancelled o. */
  private match(o: Order): boolean {
    const opp = o.side === 'buy' ? this.asks : this.bids;
    const stpActive = this.stp !== 'none' && o.selfTradeGroup !== undefined;
    while (o.leaves > 0n && opp.length > 0) {
      const lvl = opp[opp.length - 1]!;
      if (o.type === 'limit' && (o.side === 'buy' ? lvl.price > o.price : lvl.price < o.price)) break;
      let m = lvl.head;
      while (m !== null && o.leaves > 0n) {
        const next = m.next;
        if (stpActive && m.selfTradeGroup === o.selfTradeGroup) {
          if (this.stp === 'cancelIncoming') {
            this.kill(o, 'SELF_TRADE_PREVENTION');
            return false;
          }
          this.unlink(m);
          this.live.delete(m.id);
          this.kill(m, 'SELF_TRADE_PREVENTION');
          m = next;
          continue;
        }
        const q = o.leaves < m.leaves ? o.leaves : m.leaves;
        this.touch(lvl);
        m.filled += q;
        m.leaves -= q;
        o.filled += q;
        o.leaves -= q;
        lvl.size -= q;
        const notional = mul(lvl.price, q);
        this.events.push({
          type: 'fill',
          matchId: ++this.matchSeq,
          price: lvl.price,
          qty: q,
          aggressor: o.side,
          makerId: m.id,
          makerFilled: m.filled,
          makerLeaves: m.leaves,
          makerFee: applyBps(notional, this.makerBps),
          takerId: o.id,
          takerFilled: o.filled,
          takerLeaves: o.leaves,
          takerFee: applyBps(notional, this.takerBps),
        });
        if (m.leaves === 0n) {
          this.unlink(m);
          this.live.delete(m.id);
        }
        m = next;
      }
    }
    return true;
  }

  /** FOK pre-check: walks the matchable liquidity the way match() would, without touching it. */
  private canFillFully(o: Order): boolean {
    const opp = o.side === 'buy' ? this.asks : this.bids;
    const stpActive = this.stp !== 'none' && o.selfTradeGroup !== undefined;
    let need = o.leaves;
    for (let i = opp.length - 1; i >= 0; i--) {
      const lvl = opp[i]!;
      if (o.type === 'limit' && (o.side === 'buy' ? lvl.price > o.price : lvl.price < o.price)) return false;
      if (!stpActive) {
        if (lvl.size >= need) return true;
        need -= lvl.size;
        continue;
      }
      for (let m = lvl.head; m !== null; m = m.next) {
        if (m.selfTradeGroup === o.selfTradeGroup) {
          if (this.stp === 'cancelIncoming') return false;
          continue;
        }
        if (m.leaves >= need) return true;
        need -= m.leaves;
      }
    }
    return false;
  }

  private kill(o: Order, reason: CancelReason): void {
    this.events.push({ type: 'canceled', id: o.id, reason, canceledQty: o.leaves, filled: o.filled });
    o.leaves = 0n;
  }

  private rest(o: Order): void {
    const side = o.side === 'buy' ? this.bids : this.asks;
    const key = o.side === 'buy' ? o.price : -o.price;
    let i = findLevel(side, key);
    let lvl: Level;
    if (i >= 0) {
      lvl = side[i]!;
    } else {
      i = ~i;
      lvl = new Level(o.side, o.price, key);
      side.splice(i, 0, lvl);
    }
    this.touch(lvl);
    o.level = lvl;
    o.prev = lvl.tail;
    o.next = null;
    if (lvl.tail !== null) lvl.tail.next = o;
    else lvl.head = o;
    lvl.tail = o;
    lvl.count++;
    lvl.size += o.leaves;
    o.priority = ++this.prioritySeq;
    this.live.set(o.id, o);
  }

  /** Takes o out of its level (dropping the level when it empties); the caller owns the id map. */
  private unlink(o: Order): void {
    const lvl = o.level;
    if (lvl === null) return;
    this.touch(lvl);
    if (o.prev !== null) o.prev.next = o.next;
    else lvl.head = o.next;
    if (o.next !== null) o.next.prev = o.prev;
    else lvl.tail = o.prev;
    lvl.count--;
    lvl.size -= o.leaves;
    o.level = null;
    o.prev = null;
    o.next = null;
    if (lvl.count === 0) {
      const side = lvl.side === 'buy' ? this.bids : this.asks;
      const i = findLevel(side, lvl.key);
      if (i >= 0 && side[i] === lvl) side.splice(i, 1);
    }
  }

  // ---- validation ----------------------------------------------------------------------------

  private validateNew(r: OrderRequest): [BookRejectReason, string] | undefined {
    if (typeof r.id !== 'string' || r.id.length === 0) return ['INVALID_ORDER', 'order id is required'];
    if (this.live.has(r.id)) return ['DUPLICATE_ORDER_ID', `order ${r.id} is already resting`];
    if (!SIDES.includes(r.side)) return ['INVALID_ORDER', `side "${String(r.side)}" is not buy or sell`];
    if (!ORDER_TYPES.includes(r.type)) return ['INVALID_ORDER', `order type "${String(r.type)}" is not limit or market`];
    if (!TIME_IN_FORCES.includes(r.tif)) return ['INVALID_ORDER', `time in force "${String(r.tif)}" is not DAY, GTC, IOC or FOK`];
    if (this.halted) return ['HALTED', `${this.symbol} is halted`];
    if (!this.open) return ['CLOSED', `${this.symbol} session is closed`];
    const badQty = this.checkQty(r.qty);
    if (badQty !== undefined) return ['INVALID_QUANTITY', badQty];
    if (r.type === 'market') {
      if (r.price !== undefined) return ['INVALID_PRICE', 'a market order must not carry a price'];
      return undefined;
    }
    if (r.price === undefined) return ['INVALID_PRICE', 'a limit order requires a price'];
    const badPx = this.checkPrice(r.price);
    return badPx === undefined ? undefined : ['INVALID_PRICE', badPx];
  }

  private checkQty(q: Qty): string | undefined {
    if (typeof q !== 'bigint' || q <= 0n) return 'quantity must be positive';
    if (q % this.lotSize !== 0n) return `quantity ${q} is not a multiple of the lot size ${this.lotSize}`;
    if (q < this.minQty) return `quantity ${q} is below the minimum ${this.minQty}`;
    if (this.maxQty > 0n && q > this.maxQty) return `quantity ${q} is above the maximum ${this.maxQty}`;
    return undefined;
  }

  private checkPrice(p: Price): string | undefined {
    if (typeof p !== 'bigint' || p <= 0n) return 'price must be positive';
    if (p % this.tickSize !== 0n) return `price ${p} is not a multiple of the tick size ${this.tickSize}`;
    return undefined;
  }

  // ---- per-operation bookkeeping ------------------------------------------------------------

  private begin(): void {
    this.op++;
    this.events = [];
  }

  private touch(lvl: Level): void {
    if (lvl.mark === this.op) return;
    lvl.mark = this.op;
    lvl.sizeBefore = lvl.count === 0 ? 0n : lvl.size;
    this.touched.push(lvl);
  }

  /** Appends one level event per level whose size changed, in order of first change. */
  private end(): BookEvent[] {
    const ev = this.events;
    for (const lvl of this.touched) {
      if (lvl.size !== lvl.sizeBefore) ev.push({ type: 'level', side: lvl.side, price: lvl.price, size: lvl.size });
    }
    this.touched.length = 0;
    return ev;
  }
}

/** Binary search by key in an ascending array; ~insertionPoint when absent. */
function findLevel(a: Level[], key: Price): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const k = a[mid]!.key;
    if (k < key) lo = mid + 1;
    else if (k > key) hi = mid - 1;
    else return mid;
  }
  return ~lo;
}
