/**
 * A simulated exchange behind the VenueGateway boundary: one OrderBook per instrument, FIX-style
 * execution reports for gateway orders, one sequenced market-data feed, background agents driven
 * by the shared SimMarket, and fault injection for the paths the engine must survive (lost,
 * duplicated, late and reordered reports, disconnects, halts).
 *
 * Every listener call is asynchronous (setImmediate, or setTimeout with latency): the engine
 * relies on send() never re-entering it. State changes happen synchronously inside send(), like on
 * a real exchange, and are kept for reconciliation even when their reports are never delivered.
 */
import { div, formatDecimal, mul, parseDecimal, type Fixed, type Money, type Price, type Qty } from '../../core/fixed.js';
import type { Instrument } from '../../core/instruments.js';
import { Rng } from '../../core/random.js';
import type { Clock, Nanos } from '../../core/time.js';
import type { OrderStatus, OrderType, Side, TimeInForce } from '../../core/types.js';
import type {
  CancelMsg,
  ExecType,
  ExecutionReportMsg,
  MarketDataMsg,
  MassCancelMsg,
  MassCancelReportMsg,
  NewOrderMsg,
  ReplaceMsg,
  StatusRequestMsg,
  VenueCommand,
  VenueGateway,
  VenueListener,
} from '../venue.js';
import { OrderBook, STP_POLICIES, type BookEvent, type StpPolicy } from './order-book.js';
import { LiquidityAgent, NoiseAgent, agentRng, type AgentPort, type HouseOrder, type SimMarket } from './sim-market.js';
import { VenueStore, type PersistedOrder, type VenueState } from './venue-store.js';

export interface VenueFaults {
  /** probability that an execution report is never delivered */
  dropReportProb?: number;
  /** probability that an execution report is delivered twice (same execId) */
  duplicateReportProb?: number;
  /** probability that an execution report is delivered delayMs later than the rest */
  delayReportProb?: number;
  delayMs?: number;
  /** probability that an execution report is held back and delivered after the next one */
  reorderReportProb?: number;
  /** a held-back report is released after this long if no other report comes; default 100 ms */
  reorderMaxHoldMs?: number;
}

export interface SimVenueOptions {
  id: string;
  /** this venue's listings (instrument.venue must equal id) */
  instruments: Instrument[];
  /** basis points as decimal strings; maker may be negative (rebate). Default "0" / "0". */
  fees?: { makerBps: string; takerBps: string };
  /** self-trade prevention; default 'cancelIncoming' */
  stp?: StpPolicy;
  clock: Clock;
  seed: number | string;
  /** without a market no agents run */
  market?: SimMarket;
  /** one-way delay of every report and market-data message; default 0 (next setImmediate) */
  latencyMs?: number;
  /** agent and calendar tick; default 100 ms */
  agentIntervalMs?: number;
  supportsMassCancel?: boolean;
  faults?: VenueFaults;
  /** gateway orders and execution-log entries kept per account before the oldest are forgotten; default 1,000,000 */
  historyLimit?: number;
  /** where exceptions thrown by listeners go; default: rethrown after the delivery batch */
  onListenerError?: (err: unknown) => void;
  /** keep the venue's own state (orders, fills, execution log, counters) here and restore it at construction (venue-store.ts) */
  persistDir?: string;
  /** fsync the venue's log after each write (survives a machine crash, not only a process crash); default false */
  persistFsync?: boolean;
}

/** A gateway order as the venue tracks it. */
interface GatewayOrder {
  venueOrderId: string;
  clOrdId: string;
  /** every clOrdId that names this order (the original and each accepted cancel/replace) */
  clOrdIds: string[];
  account: string;
  symbol: string;
  side: Side;
  orderType: OrderType;
  tif: TimeInForce;
  qty: Qty;
  price: Price | undefined;
  cumQty: Qty;
  notional: Money;
  status: OrderStatus;
  /** clOrdId of the cancel/replace request being processed right now */
  request: string | undefined;
}

interface Listing {
  inst: Instrument;
  book: OrderBook;
  calendarOpen: boolean;
  liquidity: LiquidityAgent | undefined;
  noise: NoiseAgent | undefined;
  /** last published top of book */
  pubBid: Price | undefined;
  pubBidSize: Qty;
  pubAsk: Price | undefined;
  pubAskSize: Qty;
}

interface ExecLog {
  ts: Nanos[];
  reports: ExecutionReportMsg[];
}

interface HeldReport {
  deliver: () => void;
  extraMs: number;
  timer: ReturnType<typeof setTimeout>;
}

type Timer = ReturnType<typeof setTimeout>;

const LIVE: ReadonlySet<OrderStatus> = new Set<OrderStatus>(['PendingNew', 'New', 'PartiallyFilled', 'PendingCancel', 'PendingReplace']);

const NO_FAULTS: Required<VenueFaults> = {
  dropReportProb: 0,
  duplicateReportProb: 0,
  delayReportProb: 0,
  delayMs: 0,
  reorderReportProb: 0,
  reorderMaxHoldMs: 100,
};

export class SimVenue implements VenueGateway, AgentPort {
  readonly id: string;
  readonly supportsMassCancel: boolean;
  private readonly clock: Clock;
  private readonly market: SimMarket | undefined;
  private readonly latencyMs: number;
  private readonly agentIntervalMs: number;
  private readonly historyLimit: number;
  private readonly onListenerError: ((err: unknown) => void) | undefined;
  private readonly listings = new Map<string, Listing>();
  private readonly listeners = new Set<VenueListener>();
  private isConnected = true;

  private readonly byClOrdId = new Map<string, GatewayOrder>();
  private readonly liveOrders = new Map<string, GatewayOrder>();
  private readonly finished: GatewayOrder[] = [];
  private readonly execLog = new Map<string, ExecLog>();
  private readonly netPositions = new Map<string, Map<string, Qty>>();
  private orderSeq = 0;
  private execSeq = 0;
  /** set while a mass cancel runs: its reports are logged one by one but delivered as one */
  private collecting: ExecutionReportMsg[] | undefined;
  private tradeSeq = 0;
  private feedSeq = 0;

  private currentFaults: Required<VenueFaults> = NO_FAULTS;
  private readonly faultRng: Rng;
  private queue: (() => void)[] = [];
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private readonly timers = new Set<Timer>();
  private held: HeldReport | undefined;
  private agentTimer: ReturnType<typeof setInterval> | undefined;
  private store: VenueStore | undefined;
  /** new orders refused because their clOrdId had been used before (kept across restarts) */
  readonly duplicateClOrdIds: string[] = [];

  constructor(opts: SimVenueOptions) {
    this.id = opts.id;
    this.clock = opts.clock;
    this.market = opts.market;
    this.supportsMassCancel = opts.supportsMassCancel ?? true;
    this.latencyMs = nonNegative(opts.latencyMs ?? 0, 'latencyMs');
    this.agentIntervalMs = opts.agentIntervalMs ?? 100;
    if (!(this.agentIntervalMs > 0)) throw new RangeError(`${this.id}: agentIntervalMs must be positive`);
    this.historyLimit = opts.historyLimit ?? 1_000_000;
    if (!Number.isInteger(this.historyLimit) || this.historyLimit < 1) throw new RangeError(`${this.id}: historyLimit must be a positive integer`);
    this.onListenerError = opts.onListenerError;
    const stp = opts.stp ?? 'cancelIncoming';
    if (!STP_POLICIES.includes(stp)) throw new RangeError(`${this.id}: unknown STP policy "${String(stp)}"`);
    const makerBps: Fixed = parseDecimal(opts.fees?.makerBps ?? '0', `${this.id}.fees.makerBps`);
    const takerBps: Fixed = parseDecimal(opts.fees?.takerBps ?? '0', `${this.id}.fees.takerBps`);
    this.faultRng = new Rng(`${String(opts.seed)}:${this.id}:faults`);
    if (opts.faults) this.setFaults(opts.faults);

    const now = this.clock.now();
    for (const inst of opts.instruments) {
      if (inst.venue !== this.id) throw new Error(`${this.id}: instrument ${inst.key} belongs to venue ${inst.venue}`);
      if (this.listings.has(inst.symbol)) throw new Error(`${this.id}: instrument ${inst.symbol} is listed twice`);
      const book = new OrderBook({ symbol: inst.symbol, tickSize: inst.tickSize, lotSize: inst.lotSize, minQty: inst.minQty, maxQty: inst.maxQty, makerBps, takerBps, stp });
      const calendarOpen = inst.calendar.isOpen(now);
      book.setOpen(calendarOpen);
      const agentInst = { symbol: inst.symbol, tickSize: inst.tickSize, lotSize: inst.lotSize };
      const withAgents = this.market !== undefined && this.market.has(inst.symbol);
      this.listings.set(inst.symbol, {
        inst,
        book,
        calendarOpen,
        liquidity: withAgents ? new LiquidityAgent(agentInst, this.market!.liquidity, agentRng(opts.seed, this.id, inst.symbol, 'liquidity')) : undefined,
        noise: withAgents ? new NoiseAgent(agentInst, this.market!.noise, agentRng(opts.seed, this.id, inst.symbol, 'noise')) : undefined,
        pubBid: undefined,
        pubBidSize: 0n,
        pubAsk: undefined,
        pubAskSize: 0n,
      });
    }
    if (opts.persistDir !== undefined) this.attachStore(new VenueStore(opts.persistDir, opts.persistFsync ?? false));
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  get connected(): boolean {
    return this.isConnected;
  }

  /** Starts the agent/calendar timer. */
  start(): void {
    if (this.agentTimer !== undefined) return;
    this.agentTimer = setInterval(() => this.tick(), this.agentIntervalMs);
  }

  /** Stops the agents and calendar checks; gateway traffic keeps flowing (e.g. cancels at shutdown). */
  stopAgents(): void {
    if (this.agentTimer !== undefined) clearInterval(this.agentTimer);
    this.agentTimer = undefined;
  }

  /** Clears every timer, including undelivered reports and market data (they are dropped). */
  stop(): void {
    this.stopAgents();
    this.dropInFlight();
    this.store?.close();
    this.store = undefined;
  }

  /** One agent tick now: calendar transitions first, then each symbol's agents. */
  tick(): void {
    const now = this.clock.now();
    for (const l of this.listings.values()) {
      const calOpen = l.inst.calendar.isOpen(now);
      // only a calendar transition changes the session, so an operator's setSessionOpen holds until the next one
      if (calOpen !== l.calendarOpen) {
        l.calendarOpen = calOpen;
        this.changeSession(l, calOpen, now);
      }
      if (l.liquidity === undefined || l.noise === undefined || !l.book.isOpen || l.book.isHalted) continue;
      const fair = this.market!.fairValue(l.inst.symbol);
      l.liquidity.tick(this, fair, now);
      l.noise.tick(this, fair, now);
    }
  }

  // ---- operator controls --------------------------------------------------------------------

  halt(symbol: string): void {
    this.setHalted(this.listing(symbol), true);
  }

  resume(symbol: string): void {
    this.setHalted(this.listing(symbol), false);
  }

  /** Opens or closes a session by hand; closing expires every resting DAY order. */
  setSessionOpen(symbol: string, open: boolean): void {
    this.changeSession(this.listing(symbol), open, this.clock.now());
  }

  isHalted(symbol: string): boolean {
    return this.listing(symbol).book.isHalted;
  }

  isSessionOpen(symbol: string): boolean {
    return this.listing(symbol).book.isOpen;
  }

  /** Replaces the fault settings (unset fields turn that fault off). */
  setFaults(f: VenueFaults): void {
    const next = { ...NO_FAULTS, ...f };
    for (const k of ['dropReportProb', 'duplicateReportProb', 'delayReportProb', 'reorderReportProb'] as const) {
      const p = next[k];
      if (!(p >= 0 && p <= 1)) throw new RangeError(`${this.id}.faults.${k}: ${p} is not a probability in [0, 1]`);
    }
    nonNegative(next.delayMs, 'faults.delayMs');
    nonNegative(next.reorderMaxHoldMs, 'faults.reorderMaxHoldMs');
    this.currentFaults = next;
  }

  faults(): Required<VenueFaults> {
    return { ...this.currentFaults };
  }

  /**
   * Drops the session: what is still in flight is lost, commands are ignored and nothing is
   * delivered until reconnect(), so after the connection-down notice the old session says nothing.
   */
  disconnect(): void {
    if (!this.isConnected) return;
    this.dropInFlight();
    this.isConnected = false;
    this.schedule(() => {
      for (const l of this.listeners) l.onConnectionChange?.(this.id, false);
    });
  }

  /** Restores the session and republishes every book so subscribers can rebuild. */
  reconnect(): void {
    if (this.isConnected) return;
    this.isConnected = true;
    this.schedule(() => {
      for (const l of this.listeners) l.onConnectionChange?.(this.id, true);
    });
    this.publishSnapshots(this.clock.now());
  }

  /** The book of one listing, read-only by convention (tests, agents). */
  book(symbol: string): OrderBook {
    return this.listing(symbol).book;
  }

  symbols(): string[] {
    return [...this.listings.keys()];
  }

  // ---- gateway -------------------------------------------------------------------------------

  /** Adds a listener and publishes a snapshot of every book to all listeners (one feed, one gap-free sequence). */
  subscribe(listener: VenueListener): void {
    if (this.listeners.has(listener)) return;
    this.listeners.add(listener);
    if (this.isConnected) this.publishSnapshots(this.clock.now());
  }

  unsubscribe(listener: VenueListener): void {
    this.listeners.delete(listener);
  }

  send(cmd: VenueCommand): void {
    // a dead session swallows what is written to it; reconciliation finds out what happened
    if (!this.isConnected) return;
    const ts = this.clock.now();
    switch (cmd?.type) {
      case 'new':
        return this.onNew(cmd, ts);
      case 'cancel':
        return this.onCancel(cmd, ts);
      case 'replace':
        return this.onReplace(cmd, ts);
      case 'massCancel':
        return this.onMassCancel(cmd, ts);
      case 'status':
        return this.onStatus(cmd, ts);
      default:
        throw new TypeError(`${this.id}: unknown venue command type "${String((cmd as { type?: unknown } | undefined)?.type)}"`);
    }
  }

  positions(account: string): Promise<Record<string, string>> {
    if (!this.isConnected) return this.down();
    const out: Record<string, string> = {};
    for (const [sym, q] of this.netPositions.get(account) ?? []) out[sym] = formatDecimal(q);
    return Promise.resolve(out);
  }

  /** Every execution report generated for the account at or after sinceVenueTs (delivered or not), oldest first. */
  executionsSince(account: string, sinceVenueTs: bigint): Promise<ExecutionReportMsg[]> {
    if (!this.isConnected) return this.down();
    const log = this.execLog.get(account);
    if (log === undefined) return Promise.resolve([]);
    let lo = 0;
    let hi = log.ts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log.ts[mid]! < sinceVenueTs) lo = mid + 1;
      else hi = mid;
    }
    return Promise.resolve(log.reports.slice(lo).map((r) => ({ ...r })));
  }

  openOrders(account: string): Promise<ExecutionReportMsg[]> {
    if (!this.isConnected) return this.down();
    const ts = this.clock.now();
    const out: ExecutionReportMsg[] = [];
    for (const o of this.liveOrders.values()) if (o.account === account) out.push(this.build(o, 'orderStatus', ts));
    return Promise.resolve(out);
  }

  // ---- agent port ----------------------------------------------------------------------------

  submitHouseOrder(symbol: string, order: HouseOrder): string {
    const l = this.listing(symbol);
    const id = this.nextOrderId();
    const ts = this.clock.now();
    this.apply(l, l.book.submit({ ...order, id }), ts);
    return id;
  }

  cancelHouseOrder(symbol: string, venueOrderId: string): void {
    if (this.liveOrders.has(venueOrderId)) throw new Error(`${this.id}: ${venueOrderId} is a gateway order, not a house order`);
    const l = this.listing(symbol);
    this.apply(l, l.book.cancel(venueOrderId), this.clock.now());
  }

  // ---- commands ------------------------------------------------------------------------------

  private onNew(cmd: NewOrderMsg, ts: Nanos): void {
    if (typeof cmd.clOrdId !== 'string' || cmd.clOrdId.length === 0) return this.rejectUnregistered(cmd, 'INVALID_ORDER', 'clOrdId is required', ts);
    if (this.byClOrdId.has(cmd.clOrdId)) {
      this.duplicateClOrdIds.push(cmd.clOrdId);
      this.store?.duplicate(cmd.clOrdId);
      return this.rejectUnregistered(cmd, 'DUPLICATE_CLORDID', `clOrdId ${cmd.clOrdId} was already used`, ts);
    }
    if (typeof cmd.account !== 'string' || cmd.account.length === 0) return this.rejectUnregistered(cmd, 'INVALID_ORDER', 'account is required', ts);

    const qty = tryParse(cmd.quantity);
    const price = cmd.price === undefined ? undefined : tryParse(cmd.price);
    const o: GatewayOrder = {
      venueOrderId: this.nextOrderId(),
      clOrdId: cmd.clOrdId,
      clOrdIds: [cmd.clOrdId],
      account: cmd.account,
      symbol: String(cmd.symbol),
      side: cmd.side,
      orderType: cmd.orderType,
      tif: cmd.tif,
      qty: qty ?? 0n,
      price,
      cumQty: 0n,
      notional: 0n,
      status: 'PendingNew',
      request: undefined,
    };
    this.byClOrdId.set(o.clOrdId, o);
    const l = this.listings.get(o.symbol);
    if (l === undefined) return this.rejectRegistered(o, 'UNKNOWN_SYMBOL', `${o.symbol} is not listed on ${this.id}`, ts);
    if (qty === undefined) return this.rejectRegistered(o, 'INVALID_QUANTITY', `quantity ${JSON.stringify(cmd.quantity)} is not a decimal string`, ts);
    if (cmd.price !== undefined && price === undefined) return this.rejectRegistered(o, 'INVALID_PRICE', `price ${JSON.stringify(cmd.price)} is not a decimal string`, ts);

    this.liveOrders.set(o.venueOrderId, o);
    this.apply(
      l,
      l.book.submit({ id: o.venueOrderId, side: o.side, type: o.orderType, tif: o.tif, qty, price: o.price, owner: o.account, selfTradeGroup: cmd.selfTradeGroup }),
      ts,
    );
  }

  private onCancel(cmd: CancelMsg, ts: Nanos): void {
    const found = this.amendable(cmd, ts);
    if (found === undefined) return;
    const [o, l] = found;
    o.request = cmd.clOrdId;
    this.apply(l, l.book.cancel(o.venueOrderId), ts);
    o.request = undefined;
  }

  private onReplace(cmd: ReplaceMsg, ts: Nanos): void {
    const found = this.amendable(cmd, ts);
    if (found === undefined) return;
    const [o, l] = found;
    const qty = tryParse(cmd.quantity);
    if (qty === undefined) return this.cancelReject(cmd, o, 'INVALID_QUANTITY', `quantity ${JSON.stringify(cmd.quantity)} is not a decimal string`, ts);
    const price = cmd.price === undefined ? undefined : tryParse(cmd.price);
    if (cmd.price !== undefined && price === undefined) return this.cancelReject(cmd, o, 'INVALID_PRICE', `price ${JSON.stringify(cmd.price)} is not a decimal string`, ts);
    o.request = cmd.clOrdId;
    this.apply(l, l.book.replace(o.venueOrderId, qty, price), ts);
    o.request = undefined;
  }

  /** The live order a cancel/replace refers to, or undefined after sending the cancel reject. */
  private amendable(cmd: CancelMsg | ReplaceMsg, ts: Nanos): [GatewayOrder, Listing] | undefined {
    const o = this.byClOrdId.get(cmd.origClOrdId);
    let reason: string | undefined;
    let text = '';
    if (typeof cmd.clOrdId !== 'string' || cmd.clOrdId.length === 0) [reason, text] = ['INVALID_ORDER', 'clOrdId is required'];
    else if (o === undefined) [reason, text] = ['UNKNOWN_ORDER', `no order with clOrdId ${cmd.origClOrdId}`];
    else if (o.symbol !== cmd.symbol || o.side !== cmd.side) [reason, text] = ['UNKNOWN_ORDER', `order ${cmd.origClOrdId} is ${o.side} ${o.symbol}, not ${cmd.side} ${cmd.symbol}`];
    else if (this.byClOrdId.has(cmd.clOrdId)) [reason, text] = ['DUPLICATE_CLORDID', `clOrdId ${cmd.clOrdId} was already used`];
    else if (!LIVE.has(o.status)) [reason, text] = ['TOO_LATE_TO_CANCEL', `order ${cmd.origClOrdId} is ${o.status}`];
    if (reason !== undefined) {
      this.cancelReject(cmd, o, reason, text, ts);
      return undefined;
    }
    return [o!, this.listings.get(o!.symbol)!];
  }

  private onMassCancel(cmd: MassCancelMsg, ts: Nanos): void {
    if (!this.supportsMassCancel) {
      const er = this.bare('cancelRejected', String(cmd.requestId), cmd.symbol ?? '', 'buy', ts);
      er.reason = 'UNSUPPORTED';
      er.text = `${this.id} does not support mass cancel`;
      this.emit(er, ts, undefined);
      return;
    }
    // one book operation per listing: each order gets its canceled report, the feed one update per level
    const victims = new Map<Listing, string[]>();
    for (const o of this.liveOrders.values()) {
      if ((cmd.account === undefined || o.account === cmd.account) && (cmd.symbol === undefined || o.symbol === cmd.symbol)) {
        const l = this.listings.get(o.symbol)!;
        let ids = victims.get(l);
        if (ids === undefined) victims.set(l, (ids = []));
        ids.push(o.venueOrderId);
      }
    }
    // each cancellation is logged as the venue's own execution report; the client gets one report for all
    const collected: ExecutionReportMsg[] = [];
    this.collecting = collected;
    try {
      for (const [l, ids] of victims) this.apply(l, l.book.cancelMany(ids), ts);
    } finally {
      this.collecting = undefined;
    }
    const report: MassCancelReportMsg = {
      venue: this.id,
      reportId: `${this.id}-M${++this.execSeq}`,
      requestId: String(cmd.requestId),
      ...(cmd.account !== undefined ? { account: cmd.account } : {}),
      ...(cmd.symbol !== undefined ? { symbol: cmd.symbol } : {}),
      affected: collected.map((er) => ({ clOrdId: er.clOrdId, venueOrderId: er.venueOrderId!, execId: er.execId, cumQty: er.cumQty })),
      venueTs: ts.toString(),
    };
    this.deliverMessage(
      (l) => {
        if (l.onMassCancelReport !== undefined) l.onMassCancelReport(report);
        else for (const er of collected) l.onExecutionReport(er);
      },
      (l) => l.onMassCancelReport?.({ ...report }),
    );
  }

  private onStatus(cmd: StatusRequestMsg, ts: Nanos): void {
    const o = this.byClOrdId.get(cmd.clOrdId);
    if (o === undefined) {
      const er = this.bare('rejected', String(cmd.clOrdId), String(cmd.symbol), 'buy', ts);
      er.reason = 'UNKNOWN_ORDER';
      er.text = `no order with clOrdId ${cmd.clOrdId}`;
      this.deliverReport(er);
      return;
    }
    this.deliverReport(this.build(o, 'orderStatus', ts));
  }

  // ---- book events → reports and market data ---------------------------------------------------

  private apply(l: Listing, events: BookEvent[], ts: Nanos): void {
    const md = this.isConnected && this.listeners.size > 0;
    const sym = l.inst.symbol;
    for (const e of events) {
      switch (e.type) {
        case 'accepted': {
          const o = this.liveOrders.get(e.id);
          if (o === undefined) break;
          o.status = 'New';
          this.report(o, 'new', ts);
          break;
        }
        case 'rejected': {
          const o = this.liveOrders.get(e.id);
          if (o === undefined) break;
          this.liveOrders.delete(e.id);
          this.rejectRegistered(o, e.reason, e.text, ts);
          break;
        }
        case 'fill': {
          const tradeNo = ++this.tradeSeq;
          const maker = this.liveOrders.get(e.makerId);
          if (maker !== undefined) this.fill(maker, e.price, e.qty, e.makerLeaves, e.makerFee, 'maker', ts);
          const taker = this.liveOrders.get(e.takerId);
          if (taker !== undefined) this.fill(taker, e.price, e.qty, e.takerLeaves, e.takerFee, 'taker', ts);
          if (md) {
            this.publish({
              type: 'trade',
              venue: this.id,
              symbol: sym,
              feedSeq: ++this.feedSeq,
              tradeId: `${this.id}-T${tradeNo}`,
              price: formatDecimal(e.price),
              quantity: formatDecimal(e.qty),
              aggressor: e.aggressor,
              venueTs: ts.toString(),
            });
          }
          break;
        }
        case 'canceled': {
          const o = this.liveOrders.get(e.id);
          if (o === undefined) break;
          this.liveOrders.delete(e.id);
          o.status = 'Canceled';
          const orig = e.reason === 'REQUESTED' && o.request !== undefined ? this.renameTo(o, o.request) : undefined;
          this.report(o, 'canceled', ts, e.reason === 'REQUESTED' ? undefined : e.reason, undefined, orig);
          this.retire(o);
          break;
        }
        case 'expired': {
          const o = this.liveOrders.get(e.id);
          if (o === undefined) break;
          this.liveOrders.delete(e.id);
          o.status = 'Expired';
          this.report(o, 'expired', ts, 'DAY_ORDER_EXPIRED');
          this.retire(o);
          break;
        }
        case 'replaced': {
          const o = this.liveOrders.get(e.id);
          if (o === undefined) break;
          o.qty = e.qty;
          o.price = e.price;
          o.status = o.cumQty > 0n ? 'PartiallyFilled' : 'New';
          const orig = o.request !== undefined ? this.renameTo(o, o.request) : undefined;
          this.report(o, 'replaced', ts, undefined, undefined, orig);
          break;
        }
        case 'cancelRejected': {
          const o = this.liveOrders.get(e.id);
          if (o === undefined || o.request === undefined) break;
          this.cancelReject({ clOrdId: o.request, origClOrdId: o.clOrdId }, o, e.reason, e.text, ts);
          break;
        }
        case 'level':
          if (md) {
            this.publish({
              type: 'depthUpdate',
              venue: this.id,
              symbol: sym,
              feedSeq: ++this.feedSeq,
              side: e.side,
              price: formatDecimal(e.price),
              size: formatDecimal(e.size),
              venueTs: ts.toString(),
            });
          }
          break;
      }
    }
    if (md) this.publishQuoteIfChanged(l, ts);
  }

  private fill(o: GatewayOrder, price: Price, qty: Qty, leaves: Qty, fee: Money, liquidity: 'maker' | 'taker', ts: Nanos): void {
    o.cumQty += qty;
    o.notional += mul(price, qty);
    o.status = leaves === 0n ? 'Filled' : 'PartiallyFilled';
    let pos = this.netPositions.get(o.account);
    if (pos === undefined) this.netPositions.set(o.account, (pos = new Map()));
    pos.set(o.symbol, (pos.get(o.symbol) ?? 0n) + (o.side === 'buy' ? qty : -qty));
    const er = this.build(o, 'trade', ts);
    er.lastQty = formatDecimal(qty);
    er.lastPx = formatDecimal(price);
    er.fee = formatDecimal(fee);
    er.liquidity = liquidity;
    this.emit(er, ts, o.account, o);
    if (leaves === 0n) {
      this.liveOrders.delete(o.venueOrderId);
      this.retire(o);
    }
  }

  /** Makes the request's clOrdId the order's name; returns the previous one. */
  private renameTo(o: GatewayOrder, clOrdId: string): string {
    const orig = o.clOrdId;
    o.clOrdId = clOrdId;
    o.clOrdIds.push(clOrdId);
    this.byClOrdId.set(clOrdId, o);
    return orig;
  }

  // ---- execution reports ---------------------------------------------------------------------

  private build(o: GatewayOrder, execType: ExecType, ts: Nanos): ExecutionReportMsg {
    return {
      venue: this.id,
      execId: `${this.id}-X${++this.execSeq}`,
      execType,
      ordStatus: o.status,
      clOrdId: o.clOrdId,
      venueOrderId: o.venueOrderId,
      symbol: o.symbol,
      side: o.side,
      orderQty: formatDecimal(o.qty),
      lastQty: '0',
      lastPx: '0',
      cumQty: formatDecimal(o.cumQty),
      leavesQty: formatDecimal(LIVE.has(o.status) ? o.qty - o.cumQty : 0n),
      avgPx: o.cumQty > 0n ? formatDecimal(div(o.notional, o.cumQty)) : '0',
      fee: '0',
      venueTs: ts.toString(),
    };
  }

  /** A report about no known order (unknown clOrdId, unsupported request). */
  private bare(execType: ExecType, clOrdId: string, symbol: string, side: Side, ts: Nanos): ExecutionReportMsg {
    return {
      venue: this.id,
      execId: `${this.id}-X${++this.execSeq}`,
      execType,
      ordStatus: 'Rejected',
      clOrdId,
      symbol,
      side,
      orderQty: '0',
      lastQty: '0',
      lastPx: '0',
      cumQty: '0',
      leavesQty: '0',
      avgPx: '0',
      fee: '0',
      venueTs: ts.toString(),
    };
  }

  private report(o: GatewayOrder, execType: ExecType, ts: Nanos, reason?: string, text?: string, origClOrdId?: string): void {
    const er = this.build(o, execType, ts);
    if (origClOrdId !== undefined) er.origClOrdId = origClOrdId;
    if (reason !== undefined) er.reason = reason;
    if (text !== undefined) er.text = text;
    this.emit(er, ts, o.account, o);
  }

  private rejectRegistered(o: GatewayOrder, reason: string, text: string, ts: Nanos): void {
    o.status = 'Rejected';
    this.report(o, 'rejected', ts, reason, text);
    this.retire(o);
  }

  /** Rejects a new order the venue will not remember (no usable or a reused clOrdId). */
  private rejectUnregistered(cmd: NewOrderMsg, reason: string, text: string, ts: Nanos): void {
    const er = this.bare('rejected', String(cmd.clOrdId), String(cmd.symbol), cmd.side, ts);
    const q = tryParse(cmd.quantity);
    if (q !== undefined) er.orderQty = formatDecimal(q);
    er.reason = reason;
    er.text = text;
    // not logged: its clOrdId may name another, live order, and reconciliation must not read it as that order's fate
    this.deliverReport(er);
  }

  private cancelReject(cmd: { clOrdId: string; origClOrdId: string; symbol?: string; side?: Side }, o: GatewayOrder | undefined, reason: string, text: string, ts: Nanos): void {
    let er: ExecutionReportMsg;
    if (o === undefined) {
      er = this.bare('cancelRejected', String(cmd.clOrdId), String(cmd.symbol), cmd.side ?? 'buy', ts);
    } else {
      er = this.build(o, 'cancelRejected', ts);
      er.clOrdId = String(cmd.clOrdId);
    }
    er.origClOrdId = cmd.origClOrdId;
    er.reason = reason;
    er.text = text;
    this.emit(er, ts, o?.account, o);
  }

  /** Records a report for reconciliation, then tries to deliver it. */
  private emit(er: ExecutionReportMsg, ts: Nanos, account: string | undefined, o?: GatewayOrder): void {
    if (account !== undefined) {
      this.store?.report(account, er, o === undefined ? undefined : this.persistable(o));
      let log = this.execLog.get(account);
      if (log === undefined) this.execLog.set(account, (log = { ts: [], reports: [] }));
      log.ts.push(ts);
      log.reports.push(er);
      if (log.ts.length > this.historyLimit + (this.historyLimit >>> 2)) {
        const cut = log.ts.length - this.historyLimit;
        log.ts.splice(0, cut);
        log.reports.splice(0, cut);
      }
    }
    if (this.collecting !== undefined) this.collecting.push(er);
    else this.deliverReport(er);
  }

  /** Keeps finished orders for status requests and duplicate detection, up to historyLimit. */
  private retire(o: GatewayOrder): void {
    this.finished.push(o);
    if (this.finished.length <= this.historyLimit + (this.historyLimit >>> 2)) return;
    const old = this.finished.splice(0, this.finished.length - this.historyLimit);
    for (const f of old) for (const id of f.clOrdIds) if (this.byClOrdId.get(id) === f) this.byClOrdId.delete(id);
  }

  // ---- delivery ------------------------------------------------------------------------------

  private deliverReport(er: ExecutionReportMsg): void {
    this.deliverMessage(
      (l) => l.onExecutionReport(er),
      (l) => l.onExecutionReport({ ...er }),
    );
  }

  /** Applies the fault draws to one message (a report) on its way to the listeners. */
  private deliverMessage(send: (l: VenueListener) => void, sendDuplicate: (l: VenueListener) => void): void {
    if (!this.isConnected) return;
    const f = this.currentFaults;
    if (f.dropReportProb > 0 && this.faultRng.next() < f.dropReportProb) return;
    const dup = f.duplicateReportProb > 0 && this.faultRng.next() < f.duplicateReportProb;
    const extraMs = f.delayReportProb > 0 && this.faultRng.next() < f.delayReportProb ? f.delayMs : 0;
    const deliver = (): void => {
      for (const l of this.listeners) send(l);
      if (dup) for (const l of this.listeners) sendDuplicate(l);
    };
    if (this.held !== undefined) {
      this.schedule(deliver, extraMs);
      this.releaseHeld();
      return;
    }
    if (f.reorderReportProb > 0 && this.faultRng.next() < f.reorderReportProb) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.releaseHeld();
      }, f.reorderMaxHoldMs);
      this.timers.add(timer);
      this.held = { deliver, extraMs, timer };
      return;
    }
    this.schedule(deliver, extraMs);
  }

  private dropInFlight(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.queue = [];
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.held !== undefined) clearTimeout(this.held.timer);
    this.held = undefined;
  }

  private releaseHeld(): void {
    const h = this.held;
    if (h === undefined) return;
    this.held = undefined;
    clearTimeout(h.timer);
    this.timers.delete(h.timer);
    this.schedule(h.deliver, h.extraMs);
  }

  private publish(m: MarketDataMsg): void {
    this.schedule(() => {
      for (const l of this.listeners) l.onMarketData(m);
    });
  }

  private publishQuoteIfChanged(l: Listing, ts: Nanos): void {
    const b = l.book;
    const bid = b.bestPrice('buy');
    const ask = b.bestPrice('sell');
    const bidSize = b.bestSize('buy');
    const askSize = b.bestSize('sell');
    if (bid === l.pubBid && ask === l.pubAsk && bidSize === l.pubBidSize && askSize === l.pubAskSize) return;
    this.publishQuote(l, ts);
  }

  private publishQuote(l: Listing, ts: Nanos): void {
    const b = l.book;
    l.pubBid = b.bestPrice('buy');
    l.pubAsk = b.bestPrice('sell');
    l.pubBidSize = b.bestSize('buy');
    l.pubAskSize = b.bestSize('sell');
    this.publish({
      type: 'quote',
      venue: this.id,
      symbol: l.inst.symbol,
      feedSeq: ++this.feedSeq,
      bid: l.pubBid === undefined ? undefined : formatDecimal(l.pubBid),
      bidSize: formatDecimal(l.pubBidSize),
      ask: l.pubAsk === undefined ? undefined : formatDecimal(l.pubAsk),
      askSize: formatDecimal(l.pubAskSize),
      venueTs: ts.toString(),
    });
  }

  private publishSnapshots(ts: Nanos): void {
    if (this.listeners.size === 0) return;
    for (const l of this.listings.values()) {
      const fmt = (lv: [Price, Qty][]): [string, string][] => lv.map(([p, q]) => [formatDecimal(p), formatDecimal(q)]);
      this.publish({
        type: 'depthSnapshot',
        venue: this.id,
        symbol: l.inst.symbol,
        feedSeq: ++this.feedSeq,
        bids: fmt(l.book.depth('buy')),
        asks: fmt(l.book.depth('sell')),
        venueTs: ts.toString(),
      });
      if (l.book.isHalted || !l.book.isOpen) this.publishStatus(l, ts);
      this.publishQuote(l, ts);
    }
  }

  private publishStatus(l: Listing, ts: Nanos): void {
    if (!this.isConnected || this.listeners.size === 0) return;
    this.publish({
      type: 'instrumentStatus',
      venue: this.id,
      symbol: l.inst.symbol,
      feedSeq: ++this.feedSeq,
      halted: l.book.isHalted,
      open: l.book.isOpen,
      venueTs: ts.toString(),
    });
  }

  /** Queues a listener call; zero delay keeps order through one setImmediate batch. */
  private schedule(fn: () => void, extraMs = 0): void {
    this.store?.touch();
    const delay = this.latencyMs + extraMs;
    if (delay > 0) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.run([fn]);
      }, delay);
      this.timers.add(t);
      return;
    }
    this.queue.push(fn);
    if (this.immediate === undefined) this.immediate = setImmediate(this.drain);
  }

  private readonly drain = (): void => {
    this.immediate = undefined;
    const batch = this.queue;
    this.queue = [];
    this.run(batch);
  };

  private run(batch: (() => void)[]): void {
    let failed = false;
    let error: unknown;
    for (const fn of batch) {
      try {
        fn();
      } catch (e) {
        if (this.onListenerError !== undefined) this.onListenerError(e);
        else if (!failed) [failed, error] = [true, e];
      }
    }
    if (failed) throw error;
  }

  // ---- helpers -------------------------------------------------------------------------------

  private setHalted(l: Listing, halted: boolean): void {
    if (l.book.isHalted === halted) return;
    l.book.setHalted(halted);
    this.publishStatus(l, this.clock.now());
  }

  private changeSession(l: Listing, open: boolean, ts: Nanos): void {
    if (l.book.isOpen === open) return;
    l.book.setOpen(open);
    this.publishStatus(l, ts);
    if (!open) this.apply(l, l.book.expireDayOrders(), ts);
  }

  private listing(symbol: string): Listing {
    const l = this.listings.get(symbol);
    if (l === undefined) throw new Error(`${this.id}: ${symbol} is not listed`);
    return l;
  }

  private nextOrderId(): string {
    this.store?.touch();
    return `${this.id}-${++this.orderSeq}`;
  }

  // ---- persistence (venue-store.ts) -----------------------------------------------------------

  private persistable(o: GatewayOrder): PersistedOrder {
    const resting = LIVE.has(o.status) ? this.listings.get(o.symbol)?.book.order(o.venueOrderId) : undefined;
    return {
      vid: o.venueOrderId,
      clOrdId: o.clOrdId,
      clOrdIds: [...o.clOrdIds],
      account: o.account,
      symbol: o.symbol,
      side: o.side,
      orderType: o.orderType,
      tif: o.tif,
      qty: o.qty.toString(),
      price: o.price === undefined ? null : o.price.toString(),
      cumQty: o.cumQty.toString(),
      notional: o.notional.toString(),
      status: o.status,
      ...(resting !== undefined ? { priority: resting.priority, ...(resting.selfTradeGroup !== undefined ? { selfTradeGroup: resting.selfTradeGroup } : {}) } : {}),
    };
  }

  /** The venue's durable state as it is now (what a compaction writes). */
  persistentState(): VenueState {
    const orders = new Set<GatewayOrder>(this.byClOrdId.values());
    return {
      orders: [...orders].map((o) => this.persistable(o)),
      execLog: [...this.execLog].map(([a, log]) => [a, log.reports]),
      positions: [...this.netPositions].map(([a, m]) => [a, [...m].map(([sym, q]) => [sym, q.toString()])]),
      counters: [this.orderSeq, this.execSeq, this.tradeSeq, this.feedSeq],
      duplicates: [...this.duplicateClOrdIds],
    };
  }

  /** Restores what the store holds (member orders back in their books, history, counters), then compacts it. */
  private attachStore(store: VenueStore): void {
    const st = store.load();
    [this.orderSeq, this.execSeq, this.tradeSeq, this.feedSeq] = st.counters;
    const live: { o: GatewayOrder; p: PersistedOrder }[] = [];
    for (const p of st.orders) {
      const o: GatewayOrder = {
        venueOrderId: p.vid,
        clOrdId: p.clOrdId,
        clOrdIds: [...p.clOrdIds],
        account: p.account,
        symbol: p.symbol,
        side: p.side,
        orderType: p.orderType,
        tif: p.tif,
        qty: BigInt(p.qty),
        price: p.price === null ? undefined : BigInt(p.price),
        cumQty: BigInt(p.cumQty),
        notional: BigInt(p.notional),
        status: p.status,
        request: undefined,
      };
      for (const id of o.clOrdIds) this.byClOrdId.set(id, o);
      if (LIVE.has(o.status) && this.listings.has(o.symbol)) live.push({ o, p });
      else this.finished.push(o);
    }
    // back into the books in their old queue order
    live.sort((a, b) => (a.p.priority ?? 0) - (b.p.priority ?? 0));
    for (const { o, p } of live) {
      this.liveOrders.set(o.venueOrderId, o);
      this.listings.get(o.symbol)!.book.restoreResting({ id: o.venueOrderId, side: o.side, type: o.orderType, tif: o.tif, qty: o.qty, price: o.price, owner: o.account, ...(p.selfTradeGroup !== undefined ? { selfTradeGroup: p.selfTradeGroup } : {}) }, o.cumQty);
    }
    for (const [a, reports] of st.execLog) {
      const kept = reports.slice(-this.historyLimit);
      this.execLog.set(a, { ts: kept.map((r) => BigInt(r.venueTs)), reports: kept });
      for (const r of kept) {
        const n = Number(/-X(\d+)$/.exec(r.execId)?.[1] ?? 0);
        if (n > this.execSeq) this.execSeq = n;
      }
    }
    for (const [a, ps] of st.positions) this.netPositions.set(a, new Map(ps.map(([sym, q]) => [sym, BigInt(q)])));
    this.duplicateClOrdIds.push(...st.duplicates);
    store.counters = () => [this.orderSeq, this.execSeq, this.tradeSeq, this.feedSeq];
    store.compact(this.persistentState());
    this.store = store;
  }

  private down<T>(): Promise<T> {
    return Promise.reject(new Error(`${this.id}: VENUE_DISCONNECTED`));
  }
}

/** The fixed-point value of a wire decimal, or undefined when it is not one. */
function tryParse(s: unknown): Fixed | undefined {
  try {
    return parseDecimal(s);
  } catch {
    return undefined;
  }
}

function nonNegative(v: number, field: string): number {
  if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${field}: ${v} must be a non-negative number of milliseconds`);
  return v;
}
