/**
 * Order management: creates orders, runs them through pre-trade risk, drives the state machine from
 * execution reports, books fills into the portfolio. Synchronous and deterministic: it runs inside
 * the kernel, gets time and sequence from the input being processed, and hands venue messages to
 * an outbox that the engine releases once the input is durable.
 */
import { formatDecimal, mul, parseDecimal, tryParseDecimal, type Price, type Qty } from '../core/fixed.js';
import type { InstrumentRegistry } from '../core/instruments.js';
import type { Nanos } from '../core/time.js';
import type { Actor, OrderStatus } from '../core/types.js';
import type { Event } from '../engine/messages.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import type { PreTradeRisk, RiskVerdict } from '../risk/types.js';
import type { ExecutionReportMsg, MassCancelReportMsg, VenueCommand } from '../venues/venue.js';
import { fillToWire, leavesQty, orderChangeToWire, orderToWire, type Fill, type Order, type OrderMassCancelWire } from './order.js';
import { canTransition, isOpen } from './order-state.js';
import { OmsSnapshotWriter, restoreOmsState, type OmsSnapshot } from '../engine/snapshots/parts.js';
import { LATE_LIMIT } from '../engine/snapshots/codec.js';

export interface OmsHost {
  readonly instruments: InstrumentRegistry;
  readonly portfolio: Portfolio;
  readonly risk: PreTradeRisk;
  emit(e: Event): void;
  send(venue: string, cmd: VenueCommand): void;
  now(): Nanos;
  seq(): number;
  markPrice(symbol: string): Price | null;
  onOrderUpdate(o: Order): void;
  /** the order's open quantity or status may have changed (risk exposure bookkeeping) */
  track(o: Order): void;
  /** the same for many orders at once (a mass cancel report): same result as track for each */
  trackMany(orders: readonly Order[]): void;
  onFill(f: Fill, o: Order): void;
  /** a venue answered a status request about this order (orderStatus, or UNKNOWN_ORDER) */
  onStatusAnswer?(o: Order, r: ExecutionReportMsg): void;
}

/** What a new order is made from: the order's own fields, before the OMS gives it an id and a state. */
export type NewOrderParams = Pick<Order, 'clientOrderId' | 'account' | 'strategyId' | 'traderId' | 'symbol' | 'venue' | 'side' | 'type' | 'timeInForce' | 'quantity' | 'price'>;

export class OrderManager {
  readonly orders = new Map<string, Order>();
  /** open orders by id, in creation order */
  readonly open = new Map<string, Order>();
  /** every clOrdId we sent (new, cancel, replace) to the order it names: one lookup per report */
  private readonly byClOrdId = new Map<string, Order>();
  private readonly clientIds = new Set<string>();
  private readonly seenExecs = new Set<string>();
  /**
   * The execution ids of mass cancel reports not yet added to seenExecs: a kill switch's booking
   * appends them here (an array push instead of a hash-set insertion per order, on the path a kill
   * switch is timed on) and the next reader folds them in, in order (seen()).
   */
  private unfoldedSeen: string[] = [];

  /** seenExecs with every booked execution id in it. */
  private seen(): Set<string> {
    const u = this.unfoldedSeen;
    if (u.length > 0) {
      for (let i = 0; i < u.length; i++) this.seenExecs.add(u[i]!);
      this.unfoldedSeen = [];
    }
    return this.seenExecs;
  }
  readonly fills: Fill[] = [];
  private nextNo = 1;
  private nextReq = 1;

  constructor(private readonly host: OmsHost) {}

  get(id: string): Order | undefined {
    return this.orders.get(id);
  }

  hasClientOrderId(account: string, clientOrderId: string): boolean {
    return this.clientIds.has(account + '|' + clientOrderId);
  }

  private newId(): string {
    return 'O' + (this.nextNo++).toString();
  }

  /** Creates an order and runs it through risk. Returns it Rejected or PendingNew (sent). */
  submit(p: NewOrderParams, actor: Actor): Order {
    const now = this.host.now();
    const id = this.newId();
    const o: Order = {
      id,
      clOrdId: id,
      clientOrderId: p.clientOrderId,
      account: p.account,
      strategyId: p.strategyId,
      traderId: p.traderId,
      symbol: p.symbol,
      venue: p.venue,
      side: p.side,
      type: p.type,
      timeInForce: p.timeInForce,
      quantity: p.quantity,
      price: p.price,
      status: 'PendingNew',
      filledQuantity: 0n,
      filledNotional: 0n,
      fees: 0n,
      venueOrderId: null,
      rejectReason: null,
      rejectDetail: null,
      replacesId: null,
      replacedById: null,
      prevStatus: null,
      pendingReplace: null,
      cancelRequests: 0,
      uncertain: false,
      createdTs: now,
      updatedTs: now,
      createdSeq: this.host.seq(),
    };
    const verdict = this.validate(o) ?? this.host.risk.checkNew(o, now);
    this.orders.set(id, o);
    this.clientIds.add(o.account + '|' + o.clientOrderId);
    if (verdict) {
      o.status = 'Rejected';
      o.rejectReason = verdict.code;
      o.rejectDetail = verdict.detail;
      this.host.emit({ type: 'order.rejected', order: orderToWire(o), reason: verdict.code, detail: verdict.detail, actor });
      return o;
    }
    this.open.set(id, o);
    this.byClOrdId.set(o.clOrdId, o);
    this.host.track(o);
    this.host.emit({ type: 'order.created', order: orderToWire(o), actor });
    this.host.send(o.venue, {
      type: 'new',
      clOrdId: o.clOrdId,
      account: o.account,
      symbol: o.symbol,
      side: o.side,
      orderType: o.type,
      tif: o.timeInForce,
      quantity: formatDecimal(o.quantity),
      ...(o.price !== null ? { price: formatDecimal(o.price) } : {}),
      selfTradeGroup: o.account,
    });
    return o;
  }

  /** Static validity that needs no limits: instrument, tick, lot, price presence. */
  private validate(o: Order): RiskVerdict | null {
    const inst = this.host.instruments.get(o.venue, o.symbol);
    if (!inst) return { code: 'UNKNOWN_INSTRUMENT', detail: { venue: o.venue, symbol: o.symbol } };
    if (o.quantity <= 0n) return { code: 'INVALID_QUANTITY', detail: { quantity: formatDecimal(o.quantity), reason: 'must be positive' } };
    if (o.type === 'limit' && o.price === null) return { code: 'MISSING_PRICE', detail: { type: 'limit' } };
    if (o.type === 'market' && o.price !== null) return { code: 'UNEXPECTED_PRICE', detail: { type: 'market' } };
    if (o.price !== null && o.price <= 0n) return { code: 'INVALID_PRICE', detail: { price: formatDecimal(o.price), reason: 'must be positive' } };
    return null;
  }

  cancel(orderId: string, actor: Actor): RiskVerdict | null {
    const o = this.orders.get(orderId);
    if (!o) return { code: 'UNKNOWN_ORDER', detail: { orderId } };
    if (!isOpen(o.status)) return this.refuse(o, 'cancel', 'ORDER_NOT_OPEN', actor);
    if (o.status === 'PendingCancel') return this.refuse(o, 'cancel', 'CANCEL_PENDING', actor);
    const v = this.host.risk.checkCancel(o, this.host.now());
    if (v) return this.refuse(o, 'cancel', v.code, actor, v);
    this.sendCancel(o, actor);
    return null;
  }

  /** Sends a cancel without risk checks: used by the kill switch and shutdown, which must never be throttled. */
  forceCancel(o: Order, actor: Actor): void {
    if (!isOpen(o.status)) return;
    this.sendCancel(o, actor);
  }

  private sendCancel(o: Order, actor: Actor): void {
    const clOrdId = `${o.id}-C${this.nextReq++}`;
    this.byClOrdId.set(clOrdId, o);
    o.cancelRequests++;
    if (o.status !== 'PendingCancel' && canTransition(o.status, 'PendingCancel')) {
      o.prevStatus = o.status;
      this.transition(o, 'PendingCancel', 'cancel requested', actor);
    } else {
      // a repeated cancel (retry) changes no state but is still a message we sent
      this.host.emit({ type: 'system.note', event: 'order.cancelResent', detail: { orderId: o.id, clOrdId, actor } });
    }
    this.host.send(o.venue, { type: 'cancel', clOrdId, origClOrdId: o.clOrdId, symbol: o.symbol, side: o.side });
  }

  replace(orderId: string, quantity: Qty | null, price: Price | null, actor: Actor): RiskVerdict | null {
    const o = this.orders.get(orderId);
    if (!o) return { code: 'UNKNOWN_ORDER', detail: { orderId } };
    if (o.status !== 'New' && o.status !== 'PartiallyFilled') return this.refuse(o, 'replace', 'ORDER_NOT_REPLACEABLE', actor);
    if (o.type !== 'limit') return this.refuse(o, 'replace', 'ORDER_NOT_REPLACEABLE', actor);
    const newQty = quantity ?? o.quantity;
    const newPrice = price ?? o.price;
    if (newQty <= o.filledQuantity) {
      return this.refuse(o, 'replace', 'INVALID_QUANTITY', actor, {
        code: 'INVALID_QUANTITY',
        detail: { quantity: formatDecimal(newQty), filled: formatDecimal(o.filledQuantity) },
      });
    }
    if (newPrice !== null && newPrice <= 0n) return this.refuse(o, 'replace', 'INVALID_PRICE', actor);
    const v = this.host.risk.checkReplace(o, newQty, newPrice, this.host.now());
    if (v) return this.refuse(o, 'replace', v.code, actor, v);
    const newId = this.newId();
    o.pendingReplace = { orderId: newId, clOrdId: newId, quantity: newQty, price: newPrice };
    o.prevStatus = o.status;
    this.byClOrdId.set(newId, o);
    this.transition(o, 'PendingReplace', 'replace requested', actor);
    this.host.emit({
      type: 'order.replaceRequested',
      orderId: o.id,
      newOrderId: newId,
      quantity: formatDecimal(newQty),
      price: newPrice === null ? null : formatDecimal(newPrice),
      actor,
    });
    this.host.send(o.venue, {
      type: 'replace',
      clOrdId: newId,
      origClOrdId: o.clOrdId,
      symbol: o.symbol,
      side: o.side,
      quantity: formatDecimal(newQty),
      ...(newPrice !== null ? { price: formatDecimal(newPrice) } : {}),
    });
    return null;
  }

  private refuse(o: Order, request: 'cancel' | 'replace', reason: string, actor: Actor, v?: RiskVerdict): RiskVerdict {
    this.host.emit({ type: 'order.requestRefused', orderId: o.id, request, reason, actor });
    return v ?? { code: reason, detail: { orderId: o.id, status: o.status } };
  }

  /** Applies a state change if the state machine allows it; otherwise records the refusal. */
  private transition(o: Order, to: OrderStatus, cause: string, actor?: Actor): boolean {
    const from = o.status;
    if (from === to && to !== 'PartiallyFilled') return true;
    if (!this.enter(o, to, cause)) return false;
    this.host.emit({ type: 'order.updated', order: orderChangeToWire(o), from, cause, ...(actor ? { actor } : {}) });
    this.host.onOrderUpdate(o);
    return true;
  }

  /**
   * The state change itself, without its record or the listeners: refused (and recorded) if
   * illegal. With `track` false the caller passes the order to host.trackMany itself, with others.
   */
  private enter(o: Order, to: OrderStatus, cause: string, track = true): boolean {
    const from = o.status;
    if (!canTransition(from, to)) {
      this.host.emit({ type: 'order.transitionRefused', orderId: o.id, from, to, cause });
      return false;
    }
    o.status = to;
    o.updatedTs = this.host.now();
    if (!isOpen(to)) {
      this.open.delete(o.id);
      o.pendingReplace = null;
      o.prevStatus = null;
    }
    if (track) this.host.track(o);
    return true;
  }

  private statusAfterFill(o: Order): OrderStatus {
    return o.filledQuantity >= o.quantity ? 'Filled' : 'PartiallyFilled';
  }

  onExecutionReport(r: ExecutionReportMsg): void {
    const execKey = r.venue + ':' + r.execId;
    if (this.seen().has(execKey)) {
      this.host.emit({ type: 'exec.ignored', venue: r.venue, execId: r.execId, clOrdId: r.clOrdId, reason: 'duplicate' });
      return;
    }
    const o = this.byClOrdId.get(r.clOrdId) ?? (r.origClOrdId !== undefined ? this.byClOrdId.get(r.origClOrdId) : undefined);
    if (!o || o.venue !== r.venue) {
      this.host.emit({ type: 'exec.ignored', venue: r.venue, execId: r.execId, clOrdId: r.clOrdId, reason: 'unknown_order' });
      return;
    }
    this.seenExecs.add(execKey);
    // a report about an order that already ended may still change it (a late fill): the snapshot writer re-reads it
    if (!isOpen(o.status) && this.lateReports.length < LATE_LIMIT) this.lateReports.push(o);
    if (r.venueOrderId !== undefined && o.venueOrderId === null) o.venueOrderId = r.venueOrderId;

    switch (r.execType) {
      case 'new':
        if (o.status === 'PendingNew') this.transition(o, 'New', 'venue ack');
        else if (o.status === 'PendingCancel' && o.prevStatus === 'PendingNew') o.prevStatus = 'New';
        else this.host.emit({ type: 'exec.ignored', venue: r.venue, execId: r.execId, clOrdId: r.clOrdId, reason: 'stale' });
        return;
      case 'trade':
        this.applyTrade(o, r);
        return;
      case 'canceled':
        o.cancelRequests = 0;
        this.transition(o, 'Canceled', r.text ?? 'venue canceled');
        return;
      case 'expired':
        this.transition(o, 'Expired', r.text ?? 'venue expired');
        return;
      case 'replaced':
        this.applyReplaced(o, r);
        return;
      case 'rejected':
        if (o.pendingReplace && r.clOrdId === o.pendingReplace.clOrdId) {
          this.restorePending(o, `replace rejected: ${r.reason ?? r.text ?? 'venue'}`);
        } else if (o.status === 'PendingNew' || (o.status === 'PendingCancel' && o.prevStatus === 'PendingNew')) {
          o.rejectReason = 'VENUE_' + (r.reason ?? 'REJECTED');
          o.rejectDetail = { venue: r.venue, text: r.text ?? '' };
          // PendingCancel → Rejected is not a legal transition: the order ends Canceled, the reject reason kept
          this.transition(o, o.status === 'PendingNew' ? 'Rejected' : 'Canceled', `venue reject ${r.reason ?? ''}`.trim());
        } else if (r.reason === 'UNKNOWN_ORDER') {
          // the answer to a status request: the venue does not know this order, so it cannot trade
          this.transition(o, 'Canceled', 'unknown at venue');
        } else {
          this.host.emit({ type: 'exec.anomaly', orderId: o.id, detail: `reject for an order in ${o.status}: ${r.reason ?? ''}` });
        }
        if (r.reason === 'UNKNOWN_ORDER') this.host.onStatusAnswer?.(o, r);
        return;
      case 'cancelRejected':
        if (o.status === 'PendingCancel' || o.status === 'PendingReplace') this.restorePending(o, `${o.status === 'PendingCancel' ? 'cancel' : 'replace'} rejected: ${r.reason ?? ''}`);
        return;
      case 'orderStatus':
        this.applyStatus(o, r);
        this.host.onStatusAnswer?.(o, r);
        return;
      case 'pendingCancel':
      case 'pendingReplace':
        return;
    }
  }

  /**
   * A venue's mass cancel report: each order it names is cancelled, as if by its own execution
   * report (whose execId it carries, so reconciliation finds it seen). Fills come as their own trade
   * reports before it; a cumQty above what we booked is flagged for reconciliation to fetch.
   */
  onMassCancelReport(r: MassCancelReportMsg): void {
    const reportKey = r.venue + ':' + r.reportId;
    // report ids go straight into seenExecs (never into unfoldedSeen): no fold needed to check one,
    // so the next report of the same kill switch does not fold the previous one's executions
    if (this.seenExecs.has(reportKey)) {
      this.host.emit({ type: 'exec.ignored', venue: r.venue, execId: r.reportId, clOrdId: r.requestId, reason: 'duplicate' });
      return;
    }
    this.seenExecs.add(reportKey);
    const cause = `venue mass cancel ${r.requestId}`;
    // Every order the report ends is booked first and recorded in one order.massCanceled event;
    // the listeners (risk, kill switch, strategies) then hear of each order, after that record.
    const ended: Order[] = [];
    const changes: OrderMassCancelWire[] = [];
    for (let i = 0; i < r.affected.length; i++) {
      const a = r.affected[i]!;
      const o = this.byClOrdId.get(a.clOrdId);
      if (!o || o.venue !== r.venue) {
        this.host.emit({ type: 'exec.ignored', venue: r.venue, execId: a.execId, clOrdId: a.clOrdId, reason: 'unknown_order' });
        continue;
      }
      // (the report itself is deduplicated above; an order whose cancellation was already booked
      // from its own execution report has ended and is passed over below)
      this.unfoldedSeen.push(r.venue + ':' + a.execId);
      const learned = o.venueOrderId === null;
      if (learned) o.venueOrderId = a.venueOrderId;
      // (nothing filled on either side is the usual case: no parsing for it)
      const cum = a.cumQty === '0' ? 0n : tryParseDecimal(a.cumQty);
      if (cum === undefined || cum > o.filledQuantity) {
        this.host.emit({ type: 'exec.anomaly', orderId: o.id, detail: `mass cancel reports cumQty ${a.cumQty}, booked ${formatDecimal(o.filledQuantity)}` });
      }
      if (!isOpen(o.status)) {
        if (this.lateReports.length < LATE_LIMIT) this.lateReports.push(o);
        continue;
      }
      o.cancelRequests = 0;
      const from = o.status;
      if (!this.enter(o, 'Canceled', cause, false)) continue;
      changes.push(learned ? { id: o.id, from, venueOrderId: a.venueOrderId } : { id: o.id, from });
      ended.push(o);
    }
    if (changes.length === 0) return;
    this.host.trackMany(ended);
    this.host.emit({ type: 'order.massCanceled', venue: r.venue, reportId: r.reportId, requestId: r.requestId, cause, updatedTs: this.host.now().toString(), orders: changes });
    for (let i = 0; i < ended.length; i++) this.host.onOrderUpdate(ended[i]!);
  }

  private restorePending(o: Order, cause: string): void {
    const back = o.prevStatus ?? (o.filledQuantity > 0n ? 'PartiallyFilled' : 'New');
    o.pendingReplace = null;
    o.cancelRequests = 0;
    o.prevStatus = null;
    this.transition(o, back === 'PendingNew' ? 'New' : back, cause);
  }

  private applyTrade(o: Order, r: ExecutionReportMsg): void {
    const qty = parseDecimal(r.lastQty, 'lastQty');
    const px = parseDecimal(r.lastPx, 'lastPx');
    const fee = parseDecimal(r.fee, 'fee');
    if (qty <= 0n) {
      this.host.emit({ type: 'exec.anomaly', orderId: o.id, detail: `trade with lastQty ${r.lastQty}` });
      return;
    }
    if (o.filledQuantity + qty > o.quantity) {
      // the venue says it traded: book it, but flag the overfill for operators
      this.host.emit({ type: 'exec.anomaly', orderId: o.id, detail: `overfill: ${formatDecimal(o.filledQuantity + qty)} of ${formatDecimal(o.quantity)}` });
    }
    o.filledQuantity += qty;
    o.filledNotional += mul(px, qty);
    o.fees += fee;
    const f: Fill = {
      id: r.venue + ':' + r.execId,
      orderId: o.id,
      execId: r.execId,
      account: o.account,
      strategyId: o.strategyId,
      symbol: o.symbol,
      venue: o.venue,
      side: o.side,
      quantity: qty,
      price: px,
      fee,
      liquidity: r.liquidity ?? null,
      ts: BigInt(r.venueTs),
      seq: this.host.seq(),
    };
    this.fills.push(f);
    const pos = this.host.portfolio.applyFill(o.account, o.strategyId, o.symbol, o.side, qty, px, fee);
    this.host.emit({ type: 'fill', fill: fillToWire(f) });
    this.host.emit({ type: 'position', position: this.host.portfolio.toWire(pos, this.host.markPrice(o.symbol)) });

    const full = o.filledQuantity >= o.quantity;
    if (o.status === 'PendingCancel' || o.status === 'PendingReplace') {
      if (full) this.transition(o, 'Filled', 'fill while pending');
      else {
        o.prevStatus = 'PartiallyFilled';
        o.updatedTs = this.host.now();
        this.host.emit({ type: 'order.updated', order: orderChangeToWire(o), from: o.status, cause: 'fill while pending' });
        this.host.onOrderUpdate(o);
      }
    } else {
      this.transition(o, this.statusAfterFill(o), 'fill');
    }
    this.host.onFill(f, o);
  }

  private applyReplaced(o: Order, r: ExecutionReportMsg): void {
    const pr = o.pendingReplace;
    if (!pr || o.status !== 'PendingReplace') {
      this.host.emit({ type: 'exec.anomaly', orderId: o.id, detail: `replaced report without a pending replace (status ${o.status})` });
      return;
    }
    const now = this.host.now();
    const n: Order = {
      ...o,
      id: pr.orderId,
      clOrdId: pr.clOrdId,
      quantity: pr.quantity,
      price: pr.price,
      status: o.filledQuantity > 0n ? 'PartiallyFilled' : 'New',
      venueOrderId: r.venueOrderId ?? o.venueOrderId,
      replacesId: o.id,
      replacedById: null,
      prevStatus: null,
      pendingReplace: null,
      cancelRequests: 0,
      createdTs: now,
      updatedTs: now,
      createdSeq: this.host.seq(),
    };
    o.replacedById = n.id;
    this.transition(o, 'Replaced', 'venue replaced');
    this.orders.set(n.id, n);
    this.open.set(n.id, n);
    this.byClOrdId.set(n.clOrdId, n);
    this.host.track(n);
    this.host.emit({ type: 'order.created', order: orderToWire(n), actor: { id: n.strategyId ?? n.traderId ?? 'system', channel: 'replace' } });
    this.host.onOrderUpdate(n);
  }

  /** Open orders matching a filter, in creation order. */
  openOrders(filter?: (o: Order) => boolean): Order[] {
    const out: Order[] = [];
    for (const o of this.open.values()) if (!filter || filter(o)) out.push(o);
    return out;
  }

  leaves(o: Order): Qty {
    return leavesQty(o);
  }

  /**
   * A venue's answer to a status request (after a restart, or for an order stuck in a pending
   * state). It carries no fill, so it can only confirm what we know or close an order whose fills we
   * all have; when the venue has filled more than we booked, the missing fills come from
   * reconciliation (the venue's execution history), never from a guess.
   */
  private applyStatus(o: Order, r: ExecutionReportMsg): void {
    let cum: Qty;
    try {
      cum = parseDecimal(r.cumQty, 'cumQty');
    } catch {
      this.host.emit({ type: 'exec.anomaly', orderId: o.id, detail: `status with cumQty ${String(r.cumQty)}` });
      return;
    }
    if (cum !== o.filledQuantity) {
      this.host.emit({ type: 'exec.anomaly', orderId: o.id, detail: `status: venue filled ${formatDecimal(cum)}, booked ${formatDecimal(o.filledQuantity)} (reconciliation books missing fills)` });
      return;
    }
    const live = r.ordStatus === 'New' || r.ordStatus === 'PartiallyFilled' || r.ordStatus === 'PendingNew' || r.ordStatus === 'PendingCancel' || r.ordStatus === 'PendingReplace';
    if (o.status === 'PendingReplace' && o.pendingReplace !== null && r.clOrdId === o.pendingReplace.clOrdId && live) {
      // the venue already runs the order under the replacement's clOrdId: the replaced report was lost
      this.applyReplaced(o, r);
      return;
    }
    if (live) {
      if (o.status === 'PendingNew') this.transition(o, 'New', 'venue status: live');
      return;
    }
    if (r.ordStatus === 'Rejected' && o.status === 'PendingNew') {
      o.rejectReason = 'VENUE_' + (r.reason ?? 'REJECTED');
      o.rejectDetail = { venue: r.venue, text: r.text ?? 'status' };
    }
    if (r.ordStatus === 'Canceled' || r.ordStatus === 'Expired' || r.ordStatus === 'Rejected' || r.ordStatus === 'Filled') {
      o.cancelRequests = 0;
      this.transition(o, r.ordStatus, `venue status: ${r.ordStatus}`);
    }
  }

  /** The order a venue's clOrdId (or its origClOrdId) names, if we know it on that venue. */
  findByClOrdId(venue: string, clOrdId: string, origClOrdId?: string): Order | undefined {
    const o = this.byClOrdId.get(clOrdId) ?? (origClOrdId !== undefined ? this.byClOrdId.get(origClOrdId) : undefined);
    return o !== undefined && o.venue === venue ? o : undefined;
  }

  /** Whether an execution report of this venue was already applied (or ignored as a duplicate). */
  hasSeenExec(venue: string, execId: string): boolean {
    return this.seen().has(venue + ':' + execId);
  }

  // ---------------------------------------------------------------- snapshots (src/engine/snapshots)

  private snapshotWriter: OmsSnapshotWriter | undefined;
  /** orders that had ended when a report about them arrived, since the last snapshot */
  private readonly lateReports: Order[] = [];

  /** The OMS state as JSON, in Buffers to concatenate (orders, indexes, seen execution ids, fills, counters). */
  snapshotParts(): Buffer[] {
    this.snapshotWriter ??= new OmsSnapshotWriter();
    const { orders, open, byClOrdId, clientIds, fills, nextNo, nextReq, lateReports } = this;
    const seenExecs = this.seen();
    return this.snapshotWriter.pieces({ orders, open, byClOrdId, clientIds, seenExecs, fills, nextNo, nextReq }, lateReports);
  }

  restore(s: OmsSnapshot): void {
    const { orders, open, byClOrdId, clientIds, seenExecs, fills } = this;
    this.unfoldedSeen = [];
    const c = restoreOmsState(s, { orders, open, byClOrdId, clientIds, seenExecs, fills });
    this.nextNo = c.nextNo;
    this.nextReq = c.nextReq;
  }
}
