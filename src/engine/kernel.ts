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
import { RecoveryGate } from './snapshots/gate.js';
import { ReconciliationEngine } from '../oms/recon/engine.js';
import { instrumentSnap, type KernelSnapshotDoc, KERNEL_SNAPSHOT_FORMAT, KERNEL_SNAPSHOT_VERSION } from './snapshots/kernel-snapshot.js';

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
  /**
   * Why it is stopped: 'shutdown' (a clean stop of the node — autoStart resumes it at the next
   * start) or anything else (an operator, the kill switch, an error — it stays stopped until a person
   * starts it: a restart never re-enables trading by itself).
   */
  stoppedBy: 'never-started' | 'shutdown' | 'operator';
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
  /** after a restart: holds new orders until the venues answered about the ones in flight */
  readonly gate: RecoveryGate;
  readonly recon: ReconciliationEngine;
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
      trackMany: (os) => this.risk.onOrdersEnded(os),
      onStatusAnswer: (o) => {
        this.gate.onStatusAnswer(o);
        this.recon.onStatusAnswer(o);
      },
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
    const outbox = { oms: this.oms, now: () => this.nowTs, emit: (e: Event) => this.sink.event(e), send: (venue: string, cmd: VenueCommand) => this.sink.command({ venue, cmd }) };
    this.gate = new RecoveryGate(outbox);
    this.risk.addGuard(this.gate.guard);
    this.recon = new ReconciliationEngine({ ...outbox, portfolio: this.portfolio, risk: this.risk, seq: () => this.curSeq, markPrice: (s) => this.md.mark(s) });
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
        this.risk.onMarketData(t.symbol);
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
      case 'exec.batch':
        for (let i = 0; i < input.rs.length; i++) this.oms.onExecutionReport(input.rs[i]!);
        return {};
      case 'exec.massCancel':
        this.oms.onMassCancelReport(input.r);
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
      case 'recovery.begin':
        this.gate.begin(input.timeoutMs, input.awaitReconciliation);
        return {};
      case 'recon.begin':
        this.recon.begin(input.runId);
        return {};
      case 'recon.result':
        try {
          this.recon.result(input);
        } catch (e) {
          return { error: { code: 'BAD_RECONCILIATION', detail: { message: (e as Error).message } } };
        } finally {
          if (input.kind === 'startup') this.gate.onReconciled();
        }
        return {};
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
      const rt: StrategyRuntime = { spec, strategy, state: 'stopped', ctx: null as unknown as StrategyContext, subs: [], clientSeq: 0, stoppedBy: 'never-started' };
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
      if (!spec.autoStart || rt.state !== 'stopped' || rt.stoppedBy === 'operator') continue;
      const blocked = this.startBlocked(rt);
      if (blocked) {
        this.sink.event({ type: 'system.note', event: 'strategy.autoStartRefused', detail: { strategyId: spec.id, reason: blocked } });
        continue;
      }
      this.setStrategyState(rt, 'running', SYSTEM_ACTOR, 'autoStart');
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
    this.gate.onOrderUpdate(o);
    if (o.strategyId === null) return;
    const rt = this.strategies.get(o.strategyId);
    if (!rt || rt.state === 'stopped') return;
    this.guard(rt, 'onOrderUpdate', () => rt.strategy.onOrderUpdate(rt.ctx, o));
  }

  private routeFill(f: Fill, o: Order): void {
    this.risk.onFill(f, o);
    this.recon.onFill(f);
    if (o.strategyId === null) return;
    const rt = this.strategies.get(o.strategyId);
    if (!rt || rt.state === 'stopped') return;
    this.guard(rt, 'onFill', () => rt.strategy.onFill(rt.ctx, f));
  }

  // ---------------------------------------------------------------- strategies

  private dispatchMd(key: string, fn: (rt: StrategyRuntime) => void, name: string): void {
    const subs = this.subscribers.get(key);
    if (!subs || this.gate.isActive) return;
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
    if (action === 'start') {
      const blocked = this.startBlocked(rt);
      if (blocked) return { error: { code: 'START_BLOCKED', detail: { strategyId: id, reason: blocked } } };
    }
    this.setStrategyState(rt, to, actor, reason);
    return {};
  }

  /** A kill switch in scope or a halted scope keeps a strategy from starting. */
  private startBlocked(rt: StrategyRuntime): string | null {
    const probe = { venue: '', account: rt.spec.account, traderId: rt.spec.traderId ?? null, strategyId: rt.spec.id, symbol: '' };
    for (const a of this.killSwitch.active()) {
      const t = a.scope.type;
      if (t === 'firm' || ((t === 'account' || t === 'trader' || t === 'strategy') && this.killSwitch.inScope(a.scope, probe))) return `kill switch ${a.id} is active`;
    }
    const halted = this.risk.canStartStrategy(rt.spec);
    return halted ? `${halted.code} ${halted.detail.scope ?? ''}`.trim() : null;
  }

  setStrategyState(rt: StrategyRuntime, to: StrategyState, actor: Actor, reason: string, stoppedBy: 'shutdown' | 'operator' = 'operator'): void {
    const from = rt.state;
    if (from === to) return;
    rt.state = to;
    if (to === 'stopped') rt.stoppedBy = stoppedBy;
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
      for (const o of this.oms.openOrders((x) => x.strategyId === rt.spec.id && x.cancelRequests === 0)) this.oms.forceCancel(o, actor);
    }
  }

  strategyState(id: string): StrategyState | undefined {
    return this.strategies.get(id)?.state;
  }

  private onTimer(now: Nanos): void {
    this.gate.onTimer(now);
    const bars = this.bars.closeUpTo(now);
    for (const b of bars) this.dispatchMd(instrumentKey(b.venue, b.symbol), (rt) => rt.strategy.onBar(rt.ctx, b), 'onBar');
    for (const rt of this.strategies.values()) if (rt.state === 'running' && !this.gate.isActive) this.guard(rt, 'onTimer', () => rt.strategy.onTimer(rt.ctx, now));
    this.risk.onTimer(now);
    this.killSwitch.onTimer(now);
  }

  private stopAll(reason: string, actor: Actor): void {
    for (const rt of this.strategies.values()) if (rt.state !== 'stopped') this.setStrategyState(rt, 'stopped', actor, reason, 'shutdown');
    for (const o of this.oms.openOrders((x) => x.cancelRequests === 0)) this.oms.forceCancel(o, actor);
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

  // ---------------------------------------------------------------- snapshots (src/engine/snapshots)

  /**
   * The whole state needed to continue exactly as this kernel would, as JSON text: a consistent cut
   * between two inputs (call it between submits, never from inside one). Large, slowly changing
   * parts (orders, fills, seen execution ids) are serialized incrementally, so repeated snapshots
   * cost time in proportion to what changed.
   */
  snapshotJson(): string {
    return Buffer.concat(this.snapshotParts()).toString('utf8');
  }

  /** The snapshot as Buffers to concatenate (what the snapshotter writes): see snapshotJson. */
  snapshotParts(): Buffer[] {
    if (!this.started || this.config === null) throw new Error('snapshot: the kernel has not started');
    const doc: Omit<KernelSnapshotDoc, 'oms'> = {
      format: KERNEL_SNAPSHOT_FORMAT,
      version: KERNEL_SNAPSHOT_VERSION,
      kernel: {
        config: this.config,
        now: this.nowTs.toString(),
        curSeq: this.curSeq,
        lastInputSeq: this.lastInputSeq,
        inputsProcessed: this.inputsProcessed,
        massCancelVenues: [...this.massCancelVenues],
        instruments: this.instruments.all().map(instrumentSnap),
      },
      strategies: [...this.strategies.values()].map((rt) => ({ spec: rt.spec, state: rt.state, stoppedBy: rt.stoppedBy, clientSeq: rt.clientSeq, rng: rt.ctx.rng.state(), own: rt.strategy.getState() })),
      portfolio: this.portfolio.snapshot(),
      md: this.md.snapshot(),
      bars: this.bars.snapshot(),
      risk: this.risk.snapshot(),
      kill: this.killSwitch.snapshot(),
      gate: this.gate.snapshot(),
      recon: this.recon.snapshot(),
    };
    const head = JSON.stringify(doc);
    return [Buffer.from(head.slice(0, -1) + ',"oms":', 'utf8'), ...this.oms.snapshotParts(), Buffer.from('}')];
  }

  /** Loads a snapshot into this kernel, which must be fresh (never processed an input). */
  restore(doc: KernelSnapshotDoc): void {
    if (this.started || this.inputsProcessed > 0) throw new Error('restore: the kernel already holds state');
    if (doc.format !== KERNEL_SNAPSHOT_FORMAT || doc.version !== KERNEL_SNAPSHOT_VERSION) throw new Error(`restore: unsupported snapshot ${doc.format} v${doc.version}`);
    const k = doc.kernel;
    const calendars = buildCalendars(k.instruments.map((i) => i.calendar).filter((c, i, a) => c.id !== '24x7' && a.findIndex((x) => x.id === c.id) === i));
    k.instruments.forEach((i, n) => this.instruments.add(buildInstrument(i.spec, calendars, `snapshot.instruments[${n}]`)));
    this.portfolio.restore(doc.portfolio);
    this.md.restore(doc.md);
    this.bars = BarBuilder.restore(doc.bars);
    this.risk.restore(doc.risk);
    this.massCancelVenues = new Set(k.massCancelVenues);
    this.killSwitch.restore(doc.kill);
    this.oms.restore(doc.oms);
    this.gate.restore(doc.gate);
    this.recon.restore(doc.recon);
    this.config = k.config;
    this.started = true;
    this.nowTs = BigInt(k.now);
    this.curSeq = k.curSeq;
    this.lastInputSeq = k.lastInputSeq;
    this.inputsProcessed = k.inputsProcessed;
    for (const s of doc.strategies) {
      const strategy = createStrategy(s.spec.class, s.spec.id, s.spec.params);
      const rt: StrategyRuntime = { spec: s.spec, strategy, state: s.state, ctx: null as unknown as StrategyContext, subs: [], clientSeq: s.clientSeq, stoppedBy: s.stoppedBy };
      rt.ctx = this.makeContext(rt, k.config.seed);
      rt.ctx.rng.restore(s.rng);
      strategy.setState(s.own);
      rt.subs = strategy.subscriptions();
      for (const key of rt.subs) {
        const l = this.subscribers.get(key);
        if (l) l.push(rt);
        else this.subscribers.set(key, [rt]);
      }
      this.strategies.set(s.spec.id, rt);
    }
  }

  /** SHA-256 of the whole snapshot: equal only when every engine's state is equal (tests, tools). */
  stateDigest(): string {
    return createHash('sha256').update(this.snapshotJson()).digest('hex');
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
