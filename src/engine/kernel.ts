/**
 * The business-logic core: one thread, deterministic, no I/O, no clock. It folds sequenced inputs
 * (market data, execution reports, operator commands, timers) into state — orders, positions, cash,
 * strategy and risk state — and produces events (the record) and venue commands (the outbox).
 *
 * Flow inside one input: market data → strategies → pre-trade risk → OMS → portfolio.
 */
import { createHash } from 'node:crypto';
import { formatDecimal, parseDecimal, type Price } from '../core/fixed.js';
import { buildCalendars, buildInstrument, instrumentKey, InstrumentRegistry } from '../core/instruments.js';
import { Rng } from '../core/random.js';
import type { Nanos } from '../core/time.js';
import { SYSTEM_ACTOR, type Actor } from '../core/types.js';
import { BarBuilder, type Bar } from '../marketdata/bars.js';
import { MarketDataCache, type Quote, type Trade } from '../marketdata/cache.js';
import { orderToWire, type Fill, type Order } from '../oms/order.js';
import { OrderManager, type OmsHost } from '../oms/oms.js';
import { Portfolio } from '../portfolio/portfolio.js';
import { RiskEngine } from '../risk/engine.js';
import { KillSwitch, KILL_SCOPES, type KillScopeType } from '../risk/kill-switch.js';
import type { Strategy, StrategyContext, StrategyOrderRequest, StrategyState } from '../strategies/api.js';
import { createStrategy } from '../strategies/registry.js';
import type { VenueCommand } from '../venues/venue.js';
import type { KernelConfig, StrategySpec } from './kernel-config.js';
import type { Event, Input } from './messages.js';

export interface OutboundCommand {
  venue: string;
  cmd: VenueCommand;
}

export interface KernelSink {
  event(e: Event): void;
  command(c: OutboundCommand): void;
}

interface StrategyRuntime {
  spec: StrategySpec;
  strategy: Strategy;
  state: StrategyState;
  ctx: StrategyContext;
  subs: string[];
  clientSeq: number;
}

/** Result of processing one input, for the caller that submitted it (e.g. the API). */
export interface ProcessResult {
  order?: Order;
  /** kill-switch activation id */
  kill?: string;
  /** a reset still waiting for another approver */
  awaiting?: string;
  error?: { code: string; detail: Record<string, string> };
}

export class Kernel {
  readonly instruments = new InstrumentRegistry();
  readonly md = new MarketDataCache();
  readonly portfolio = new Portfolio();
  readonly oms: OrderManager;
  readonly risk: RiskEngine;
  readonly killSwitch: KillSwitch;
  private massCancelVenues = new Set<string>();
  readonly strategies = new Map<string, StrategyRuntime>();
  private readonly subscribers = new Map<string, StrategyRuntime[]>();
  private bars: BarBuilder;
  private config: KernelConfig | null = null;
  private nowTs: Nanos = 0n;
  private curSeq = 0;
  private started = false;
  lastInputSeq = 0;
  inputsProcessed = 0;

  constructor(private sink: KernelSink) {
    this.risk = new RiskEngine(this);
    const host: OmsHost = {
      instruments: this.instruments,
      portfolio: this.portfolio,
      risk: this.risk,
      emit: (e) => this.sink.event(e),
      send: (venue, cmd) => this.sink.command({ venue, cmd }),
      now: () => this.nowTs,
      seq: () => this.curSeq,
      markPrice: (s) => this.md.mark(s),
      onOrderUpdate: (o) => this.routeOrderUpdate(o),
      onFill: (f, o) => this.routeFill(f, o),
      track: (o) => this.risk.onOrderChange(o),
    };
    this.oms = new OrderManager(host);
    this.killSwitch = new KillSwitch({
      oms: this.oms,
      get now() {
        return host.now();
      },
      emit: (e) => this.sink.event(e),
      send: (venue, cmd) => this.sink.command({ venue, cmd }),
      supportsMassCancel: (v) => this.massCancelVenues.has(v),
      strategies: () => [...this.strategies.values()].map((rt) => ({ id: rt.spec.id, account: rt.spec.account, traderId: rt.spec.traderId ?? null, running: rt.state !== 'stopped' })),
      stopStrategy: (id, actor, reason) => {
        const rt = this.strategies.get(id);
        if (rt) this.setStrategyState(rt, 'stopped', actor, reason);
      },
    });
    this.risk.addGuard(this.killSwitch.guard);
    this.risk.onAutoKill = (scopeKey, reason) => {
      const [type, ...rest] = scopeKey.split(':');
      if (!KILL_SCOPES.includes(type as KillScopeType)) return;
      this.killSwitch.activate({ type: type as KillScopeType, ...(rest.length ? { id: rest.join(':') } : {}) }, { id: 'risk-engine', channel: 'auto' }, reason);
    };
    this.bars = new BarBuilder(1_000_000_000n);
  }

  emit(e: Event): void {
    this.sink.event(e);
  }

  setSink(sink: KernelSink): void {
    this.sink = sink;
  }

  get now(): Nanos {
    return this.nowTs;
  }

  get kernelConfig(): KernelConfig | null {
    return this.config;
  }

  isStarted(): boolean {
    return this.started;
  }

  /** Folds one sequenced input into the state. Never throws for bad content: it records it. */
  process(seq: number, ts: Nanos, input: Input): ProcessResult {
    this.curSeq = seq;
    this.nowTs = ts;
    this.lastInputSeq = seq;
    this.inputsProcessed++;
    if (!this.started && input.type !== 'system.start') {
      // before the first start record nothing is configured; only notes are meaningful
      return { error: { code: 'NOT_STARTED', detail: { type: input.type } } };
    }
    switch (input.type) {
      case 'system.start':
        this.start(input.config, input.nodeId, input.version, input.recovered);
        return {};
      case 'system.stop':
        this.stopAll(input.reason, input.actor);
        return {};
      case 'system.note':
        this.sink.event({ type: 'system.note', event: input.event, detail: input.detail });
        return {};
      case 'timer':
        this.onTimer(ts);
        return {};
      case 'md.quote': {
        const q = this.md.onQuote(input.m, ts);
        this.risk.onMarketData(q.symbol);
        this.dispatchMd(instrumentKey(q.venue, q.symbol), (rt) => rt.strategy.onQuote(rt.ctx, q), 'onQuote');
        return {};
      }
      case 'md.trade': {
        const t = this.md.onTrade(input.m, ts);
        this.bars.onTrade(t);
        this.dispatchMd(instrumentKey(t.venue, t.symbol), (rt) => rt.strategy.onTrade(rt.ctx, t), 'onTrade');
        return {};
      }
      case 'md.status':
        this.md.onStatus(input.m);
        return {};
      case 'exec':
        this.oms.onExecutionReport(input.r);
        return {};
      case 'venue.connection':
        this.sink.event({ type: 'venue.connection', venue: input.venue, up: input.up });
        return {};
      case 'cmd.order.new':
        return this.manualOrder(input.order, input.actor);
      case 'cmd.order.cancel': {
        const v = this.oms.cancel(input.orderId, input.actor);
        return v ? { error: v } : { order: this.oms.get(input.orderId) };
      }
      case 'cmd.order.replace': {
        try {
          const q = input.quantity === undefined ? null : parseDecimal(input.quantity, 'quantity');
          const p = input.price === undefined ? null : parseDecimal(input.price, 'price');
          const v = this.oms.replace(input.orderId, q, p, input.actor);
          return v ? { error: v } : { order: this.oms.get(input.orderId) };
        } catch (e) {
          return { error: { code: 'BAD_REQUEST', detail: { message: (e as Error).message } } };
        }
      }
      case 'cmd.strategy':
        return this.strategyCommand(input.strategyId, input.action, input.actor, input.reason ?? '');
      case 'cmd.risk.limits': {
        const old = this.risk.currentConfig;
        try {
          this.risk.configure(input.config);
        } catch (e) {
          return { error: { code: 'INVALID_LIMITS', detail: { message: (e as Error).message } } };
        }
        this.sink.event({ type: 'risk.limitsChanged', old, new: this.risk.currentConfig, actor: input.actor, reason: input.reason });
        return {};
      }
      case 'cmd.risk.state':
        this.risk.setState(input.scope, input.state, input.actor, input.reason);
        return {};
      case 'cmd.kill': {
        const r = this.killSwitch.activate(input.scope, input.actor, input.reason);
        return r.error ? { error: r.error } : { kill: r.activation!.id };
      }
      case 'cmd.kill.reset': {
        const r = this.killSwitch.reset(input.activationId, input.actor, input.reason);
        return r.error ? { error: r.error } : { kill: input.activationId, ...(r.awaiting ? { awaiting: r.awaiting } : {}) };
      }
    }
  }

  // ---------------------------------------------------------------- configuration

  private start(config: KernelConfig, nodeId: string, version: string, recovered: boolean): void {
    const calendars = buildCalendars(config.calendars);
    config.instruments.forEach((spec, i) => {
      const inst = buildInstrument(spec, calendars, `instruments[${i}]`);
      if (!this.instruments.get(inst.venue, inst.symbol)) this.instruments.add(inst);
    });
    for (const a of config.accounts) this.portfolio.openAccount(a.id, a.currency, parseDecimal(a.cash, `accounts.${a.id}.cash`));
    this.bars = new BarBuilder(BigInt(config.barIntervalMs) * 1_000_000n);
    this.risk.configure(config.risk);
    this.massCancelVenues = new Set((config.venues ?? []).filter((v) => v.supportsMassCancel).map((v) => v.id));
    if (config.killSwitch) this.killSwitch.configure(config.killSwitch.timeoutMs, config.killSwitch.maxRetries);
    this.config = config;
    this.started = true;
    for (const spec of config.strategies) {
      if (this.strategies.has(spec.id)) continue;
      const strategy = createStrategy(spec.class, spec.id, spec.params);
      const rt: StrategyRuntime = { spec, strategy, state: 'stopped', ctx: null as unknown as StrategyContext, subs: [], clientSeq: 0 };
      rt.ctx = this.makeContext(rt, config.seed);
      rt.subs = strategy.subscriptions();
      for (const key of rt.subs) {
        const l = this.subscribers.get(key);
        if (l) l.push(rt);
        else this.subscribers.set(key, [rt]);
      }
      this.strategies.set(spec.id, rt);
    }
    this.sink.event({ type: 'system.started', nodeId, version, recovered, openOrders: this.oms.open.size });
    for (const spec of config.strategies) {
      const rt = this.strategies.get(spec.id)!;
      if (spec.autoStart && rt.state === 'stopped') this.setStrategyState(rt, 'running', SYSTEM_ACTOR, 'autoStart');
    }
  }

  private makeContext(rt: StrategyRuntime, seed: number): StrategyContext {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the context object's methods close over the kernel
    const k = this;
    const actor: Actor = { id: rt.spec.id, channel: 'strategy' };
    return {
      strategyId: rt.spec.id,
      account: rt.spec.account,
      rng: new Rng(`${seed}:${rt.spec.id}`),
      now: () => k.nowTs,
      submit(req: StrategyOrderRequest): Order {
        return k.strategySubmit(rt, req, actor);
      },
      cancel(orderId: string): boolean {
        const o = k.oms.get(orderId);
        if (!o || o.strategyId !== rt.spec.id) return false;
        return k.oms.cancel(orderId, actor) === null;
      },
      replace(orderId, change): boolean {
        const o = k.oms.get(orderId);
        if (!o || o.strategyId !== rt.spec.id || rt.state !== 'running') return false;
        return k.oms.replace(orderId, change.quantity ?? null, change.price ?? null, actor) === null;
      },
      quote: (v, s) => k.md.quote(v, s),
      lastTrade: (v, s) => k.md.lastTrade(v, s),
      instrument: (v, s) => k.instruments.get(v, s),
      position: (symbol) => k.portfolio.peek(rt.spec.account, rt.spec.id, symbol)?.quantity ?? 0n,
      openOrders: () => k.oms.openOrders((o) => o.strategyId === rt.spec.id),
      log: (message, data) => k.sink.event({ type: 'strategy.log', strategyId: rt.spec.id, message, ...(data ? { data } : {}) }),
    };
  }

  // ---------------------------------------------------------------- orders

  private strategySubmit(rt: StrategyRuntime, req: StrategyOrderRequest, actor: Actor): Order {
    rt.clientSeq++;
    const o = this.oms.submit(
      {
        clientOrderId: req.clientOrderId ?? `${rt.spec.id}-${rt.clientSeq}`,
        account: rt.spec.account,
        strategyId: rt.spec.id,
        traderId: rt.spec.traderId ?? null,
        symbol: req.symbol,
        venue: req.venue,
        side: req.side,
        type: req.type,
        timeInForce: req.timeInForce ?? (req.type === 'market' ? 'IOC' : 'DAY'),
        quantity: req.quantity,
        price: req.price ?? null,
      },
      actor,
    );
    return o;
  }

  private manualOrder(w: import('./messages.js').OrderRequestWire, actor: Actor): ProcessResult {
    let quantity: bigint, price: bigint | null;
    try {
      quantity = parseDecimal(w.quantity, 'quantity');
      price = w.price === undefined ? null : parseDecimal(w.price, 'price');
    } catch (e) {
      return { error: { code: 'BAD_REQUEST', detail: { message: (e as Error).message } } };
    }
    if (w.strategyId !== undefined) {
      const rt = this.strategies.get(w.strategyId);
      if (!rt) return { error: { code: 'UNKNOWN_STRATEGY', detail: { strategyId: w.strategyId } } };
    }
    const o = this.oms.submit(
      {
        clientOrderId: w.clientOrderId,
        account: w.account,
        strategyId: w.strategyId ?? null,
        traderId: w.traderId ?? null,
        symbol: w.symbol,
        venue: w.venue,
        side: w.side,
        type: w.type,
        timeInForce: w.timeInForce,
        quantity,
        price,
      },
      actor,
    );
    return { order: o };
  }

  private routeOrderUpdate(o: Order): void {
    this.killSwitch.onOrderUpdate(o);
    if (o.strategyId === null) return;
    const rt = this.strategies.get(o.strategyId);
    if (!rt || rt.state === 'stopped') return;
    this.guard(rt, 'onOrderUpdate', () => rt.strategy.onOrderUpdate(rt.ctx, o));
  }

  private routeFill(f: Fill, o: Order): void {
    this.risk.onFill(f, o);
    if (o.strategyId === null) return;
    const rt = this.strategies.get(o.strategyId);
    if (!rt || rt.state === 'stopped') return;
    this.guard(rt, 'onFill', () => rt.strategy.onFill(rt.ctx, f));
  }

  // ---------------------------------------------------------------- strategies

  private dispatchMd(key: string, fn: (rt: StrategyRuntime) => void, name: string): void {
    const subs = this.subscribers.get(key);
    if (!subs) return;
    for (let i = 0; i < subs.length; i++) {
      const rt = subs[i]!;
      if (rt.state === 'running') this.guard(rt, name, () => fn(rt));
    }
  }

  /** A strategy that throws is stopped (runbook: strategy error → stop, alert, log). */
  private guard(rt: StrategyRuntime, callback: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.sink.event({ type: 'strategy.error', strategyId: rt.spec.id, error: msg, callback });
      if (rt.state !== 'stopped') this.setStrategyState(rt, 'stopped', SYSTEM_ACTOR, `error in ${callback}: ${msg}`);
    }
  }

  private strategyCommand(id: string, action: 'start' | 'stop' | 'pause', actor: Actor, reason: string): ProcessResult {
    const rt = this.strategies.get(id);
    if (!rt) return { error: { code: 'UNKNOWN_STRATEGY', detail: { strategyId: id } } };
    const to: StrategyState = action === 'start' ? 'running' : action === 'stop' ? 'stopped' : 'paused';
    if (rt.state === to) return { error: { code: 'ALREADY_' + to.toUpperCase(), detail: { strategyId: id, state: rt.state } } };
    const refusal = action === 'start' ? this.risk.canStartStrategy(rt.spec) : null;
    if (refusal) return { error: refusal };
    this.setStrategyState(rt, to, actor, reason);
    return {};
  }

  setStrategyState(rt: StrategyRuntime, to: StrategyState, actor: Actor, reason: string): void {
    const from = rt.state;
    if (from === to) return;
    rt.state = to;
    this.sink.event({ type: 'strategy.state', strategyId: rt.spec.id, from, to, actor, reason });
    if (to === 'running') this.guard(rt, 'onStart', () => rt.strategy.onStart(rt.ctx));
    else if (to === 'paused') this.guard(rt, 'onPause', () => rt.strategy.onPause(rt.ctx));
    else {
      try {
        rt.strategy.onStop(rt.ctx);
      } catch (e) {
        this.sink.event({ type: 'strategy.error', strategyId: rt.spec.id, error: (e as Error).message, callback: 'onStop' });
      }
      // a stopped strategy leaves nothing working at the venues
      for (const o of this.oms.openOrders((x) => x.strategyId === rt.spec.id && x.status !== 'PendingCancel')) this.oms.forceCancel(o, actor);
    }
  }

  strategyState(id: string): StrategyState | undefined {
    return this.strategies.get(id)?.state;
  }

  private onTimer(now: Nanos): void {
    const bars = this.bars.closeUpTo(now);
    for (const b of bars) this.dispatchMd(instrumentKey(b.venue, b.symbol), (rt) => rt.strategy.onBar(rt.ctx, b), 'onBar');
    for (const rt of this.strategies.values()) if (rt.state === 'running') this.guard(rt, 'onTimer', () => rt.strategy.onTimer(rt.ctx, now));
    this.risk.onTimer(now);
    this.killSwitch.onTimer(now);
  }

  private stopAll(reason: string, actor: Actor): void {
    for (const rt of this.strategies.values()) if (rt.state !== 'stopped') this.setStrategyState(rt, 'stopped', actor, reason);
    for (const o of this.oms.openOrders((x) => x.status !== 'PendingCancel')) this.oms.forceCancel(o, actor);
    this.sink.event({ type: 'system.stopping', reason, actor, openOrders: this.oms.open.size });
  }

  // ---------------------------------------------------------------- views

  markPrice(symbol: string): Price | null {
    return this.md.mark(symbol);
  }

  /**
   * SHA-256 over the booked state: every order, every position, every cash balance, in a canonical
   * order. Two kernels that processed the same inputs have the same digest.
   */
  digest(): string {
    const h = createHash('sha256');
    const orders = [...this.oms.orders.values()].sort((a, b) => (a.createdSeq - b.createdSeq) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const o of orders) {
      const w = orderToWire(o);
      h.update(JSON.stringify([w.id, w.clOrdId, w.status, w.quantity, w.price, w.filledQuantity, w.averagePrice, w.fees, w.account, w.strategyId, w.symbol, w.venue, w.side, w.rejectReason]));
      h.update('\n');
    }
    const positions = [...this.portfolio.positions.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const p of positions) {
      h.update(JSON.stringify([p.key, p.quantity.toString(), p.costBasis.toString(), p.realizedPnl.toString(), p.fees.toString()]));
      h.update('\n');
    }
    const accounts = [...this.portfolio.accounts.values()].sort((a, b) => (a.account < b.account ? -1 : 1));
    for (const a of accounts) h.update(JSON.stringify([a.account, a.cash.toString()]) + '\n');
    return h.digest('hex');
  }

  quoteView(q: Quote) {
    return {
      venue: q.venue,
      symbol: q.symbol,
      bid: q.bid === null ? null : formatDecimal(q.bid),
      ask: q.ask === null ? null : formatDecimal(q.ask),
      bidSize: formatDecimal(q.bidSize),
      askSize: formatDecimal(q.askSize),
      ts: q.ts.toString(),
    };
  }
}

export type { Bar, Trade };
