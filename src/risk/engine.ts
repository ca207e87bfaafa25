/**
 * Pre-trade risk (SEC 15c3-5, FINRA 15-09). One synchronous chain that every order, strategy or
 * manual, passes before anything can leave for a venue. Hand-written: it sits on the hot path and
 * must stay in single-digit microseconds, so the numbers it needs (positions, open-order exposure,
 * rates, cash flow per scope) are kept as running aggregates rather than recomputed per order.
 *
 * Limits attach to scopes: firm, account, trader, strategy, symbol. Each rule is measured against
 * its own scope's aggregate (a strategy's position limit against that strategy's position, the
 * firm's against the firm's), so the tightest applicable limit always decides.
 */
import { abs, divRound, formatDecimal, mul, parseDecimal, SCALE, type Money, type Price, type Qty } from '../core/fixed.js';
import type { InstrumentRegistry } from '../core/instruments.js';
import type { Nanos } from '../core/time.js';
import { SYSTEM_ACTOR, type Actor, type Side } from '../core/types.js';
import type { Event } from '../engine/messages.js';
import type { StrategySpec } from '../engine/kernel-config.js';
import type { MarketDataCache } from '../marketdata/cache.js';
import { mid } from '../marketdata/cache.js';
import type { Fill, Order } from '../oms/order.js';
import { isOpen } from '../oms/order-state.js';
import type { OrderManager } from '../oms/oms.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import { RISK_SCOPES, riskConfigSchema, type LimitRule, type RiskConfig, type RiskScope } from './config.js';
import type { PreTradeRisk, RiskVerdict } from './types.js';

export type TradingState = 'ACTIVE' | 'REDUCING' | 'HALTED';

export interface RiskHost {
  readonly instruments: InstrumentRegistry;
  readonly md: MarketDataCache;
  readonly oms: OrderManager;
  readonly portfolio: Portfolio;
  readonly now: Nanos;
  emit(e: Event): void;
}

export interface RiskAlert {
  id: number;
  ts: string;
  scope: string;
  limit: string;
  thresholdPct: number;
  value: string;
  limitValue: string;
  utilizationPct: string;
  severity: 'warning' | 'breach' | 'critical';
  message: string;
}

/** A check that other controls (the kill switch) add in front of the limit checks. */
export type RiskGuard = (o: Order) => RiskVerdict | null;

interface CompiledLimits {
  scope: RiskScope;
  key: string;
  maxOrderQty?: Qty;
  maxOrderNotional?: Money;
  minOrderQty?: Qty;
  maxLongPosition?: Qty;
  maxShortPosition?: Qty;
  maxConcentrationPct?: bigint;
  concentrationMinGross?: Money;
  maxDailyLoss?: Money;
  dailyLossAction: TradingState | 'KILL';
  maxOrdersPerSecond?: number;
  maxOrdersPerMinute?: number;
  maxMessagesPerSecond?: number;
  fatFingerPct?: bigint;
  fatFingerTicks?: number;
  referenceMaxAgeNs?: Nanos;
  duplicateWindowNs?: Nanos;
  marginAllowance?: Money;
  creditLimit?: Money;
  maxOpenOrders?: number;
}

/** Timestamps of the last N events in a ring: "more than N in the window" is one comparison. */
class RateWindow {
  private readonly ring: Float64Array;
  private head = 0;
  private count = 0;
  constructor(readonly capacity: number) {
    this.ring = new Float64Array(Math.max(1, capacity));
  }
  /** events in (now − windowUs, now] if one more would exceed capacity; else −1 */
  wouldExceed(nowUs: number, windowUs: number): boolean {
    if (this.capacity === 0) return true;
    if (this.count < this.capacity) return false;
    const oldest = this.ring[this.head]!;
    return oldest > nowUs - windowUs;
  }
  /** Whether the k-th newest event (1 = newest) lies inside the window: "at least k in the window". */
  atLeast(k: number, nowUs: number, windowUs: number): boolean {
    if (k < 1) return true;
    if (k > this.count) return false;
    const idx = (this.head - k + this.capacity) % this.capacity;
    return this.ring[idx]! > nowUs - windowUs;
  }
  dump(): RateWindowSnap {
    // the ring's bytes (base64): a window of 20,000 timestamps costs microseconds, not a JSON array
    return { capacity: this.capacity, head: this.head, count: this.count, ring: Buffer.from(this.ring.buffer, this.ring.byteOffset, this.ring.byteLength).toString('base64') };
  }
  static load(s: RateWindowSnap): RateWindow {
    const w = new RateWindow(s.capacity);
    const bytes = Buffer.from(s.ring, 'base64');
    w.ring.set(new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    w.head = s.head;
    w.count = s.count;
    return w;
  }
  push(nowUs: number): void {
    this.ring[this.head] = nowUs;
    this.head = (this.head + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }
}

interface ScopeAgg {
  key: string;
  pos: Map<string, Qty>;
  buyLeaves: Map<string, Qty>;
  sellLeaves: Map<string, Qty>;
  openOrders: number;
  /** committed notional of open buy and sell orders */
  openBuyNotional: Money;
  openSellNotional: Money;
  /** Σ sells − Σ buys − fees since the start: total P&L = cashFlow + net */
  cashFlow: Money;
  /** Σ |pos| × mark and Σ pos × mark, kept current as fills and marks arrive */
  gross: Money;
  net: Money;
  /** committed notional of open sells per symbol, and the part of it not covered by a long position */
  sellNotional: Map<string, Money>;
  shortBySymbol: Map<string, Money>;
  shortCommit: Money;
  dayBaseline: Money;
  perSecond?: RateWindow;
  perMinute?: RateWindow;
  messages?: RateWindow;
  state: TradingState;
  stateReason: string;
  /** per limit name: bit i set while threshold i is crossed (one alert per upward crossing) */
  armed: Map<string, number>;
  /** the same for per-symbol limits (positions): limit name → symbol → bits */
  armedBySymbol: Map<string, Map<string, number>>;
}

/** orders of one scope set, side and symbol ending together (onOrdersEnded) */
interface EndedGroup {
  side: Side;
  symbol: string;
  leaves: Qty;
  notional: Money;
  open: number;
}

interface Tracked {
  side: Side;
  symbol: string;
  scopes: ScopeAgg[];
  leaves: Qty;
  notional: Money;
  open: boolean;
}

const PCT = 100n * SCALE;
/** how far below a threshold a value must fall before that threshold can alert again */
const ALERT_HYSTERESIS_PCT = 10;
const ALERT_HYSTERESIS_HUNDREDTHS = BigInt(ALERT_HYSTERESIS_PCT * 100);
const SEC_US = 1_000_000;
const MIN_US = 60_000_000;

function s(v: bigint): string {
  return formatDecimal(v);
}

function compile(rule: LimitRule): CompiledLimits {
  const l = rule.limits;
  const key = rule.scope === 'firm' ? 'firm' : `${rule.scope}:${rule.id}`;
  const d = (v: string | undefined, f: string) => (v === undefined ? undefined : parseDecimal(v, `limits.${f}`));
  return {
    scope: rule.scope,
    key,
    maxOrderQty: d(l.maxOrderQty, 'maxOrderQty'),
    maxOrderNotional: d(l.maxOrderNotional, 'maxOrderNotional'),
    minOrderQty: d(l.minOrderQty, 'minOrderQty'),
    maxLongPosition: d(l.maxLongPosition, 'maxLongPosition'),
    maxShortPosition: d(l.maxShortPosition, 'maxShortPosition'),
    maxConcentrationPct: d(l.maxConcentrationPct, 'maxConcentrationPct'),
    concentrationMinGross: d(l.concentrationMinGross, 'concentrationMinGross'),
    maxDailyLoss: d(l.maxDailyLoss, 'maxDailyLoss'),
    dailyLossAction: l.dailyLossAction ?? 'REDUCING',
    maxOrdersPerSecond: l.maxOrdersPerSecond,
    maxOrdersPerMinute: l.maxOrdersPerMinute,
    maxMessagesPerSecond: l.maxMessagesPerSecond,
    fatFingerPct: d(l.fatFingerPct, 'fatFingerPct'),
    fatFingerTicks: l.fatFingerTicks,
    referenceMaxAgeNs: l.referenceMaxAgeMs === undefined ? undefined : BigInt(l.referenceMaxAgeMs) * 1_000_000n,
    duplicateWindowNs: l.duplicateWindowMs === undefined ? undefined : BigInt(l.duplicateWindowMs) * 1_000_000n,
    marginAllowance: d(l.marginAllowance, 'marginAllowance'),
    creditLimit: d(l.creditLimit, 'creditLimit'),
    maxOpenOrders: l.maxOpenOrders,
  };
}

function reject(code: string, detail: Record<string, string>): RiskVerdict {
  return { code, detail };
}

export class RiskEngine implements PreTradeRisk {
  private config: RiskConfig = { rules: [], restricted: [], alertThresholdsPct: [80, 100], checkTradingHours: true };
  private readonly rulesByKey = new Map<string, CompiledLimits>();
  private readonly aggs = new Map<string, ScopeAgg>();
  private readonly tracked = new Map<string, Tracked>();
  private readonly scopeCache = new Map<string, Map<string, Map<string, Map<string, { scopes: ScopeAgg[]; rules: CompiledLimits[] }>>>>();
  /** the mark each symbol's aggregates are valued at, and the scopes holding a position in it */
  private readonly markUsed = new Map<string, Price>();
  private readonly holders = new Map<string, Set<ScopeAgg>>();
  private restricted = new Set<string>();
  private readonly recentOrders = new Map<string, Nanos>();
  /** insertion-ordered (key, ts) so expired duplicate keys are evicted and the map stays bounded */
  private readonly recentQueue: { key: string; ts: Nanos }[] = [];
  private recentHead = 0;
  private readonly guards: RiskGuard[] = [];
  /** thresholds as hundredths of a percent, for integer comparison */
  private thresholds: { pct: number; hundredths: bigint }[] = [];
  readonly alerts: RiskAlert[] = [];
  private alertSeq = 0;
  readonly rejections = new Map<string, number>();
  private day = -1n;
  private firm: ScopeAgg;

  constructor(private readonly host: RiskHost) {
    this.firm = this.agg('firm');
  }

  get currentConfig(): RiskConfig {
    return this.config;
  }

  /** called when a breach is configured to pull the kill switch (scope key, reason) */
  onAutoKill: ((scope: string, reason: string) => void) | null = null;

  addGuard(g: RiskGuard): void {
    this.guards.push(g);
  }

  /** Validates and installs a configuration; throws with the field and reason when invalid. */
  configure(cfg: RiskConfig): void {
    const parsed = riskConfigSchema.safeParse(cfg);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new Error(`risk.${i.path.join('.')}: ${i.message}`);
    }
    const compiled = new Map<string, CompiledLimits>();
    parsed.data.rules.forEach((r) => {
      const c = compile(r);
      if (compiled.has(c.key)) throw new Error(`risk.rules: scope ${c.key} is defined twice`);
      compiled.set(c.key, c);
    });
    this.config = parsed.data;
    this.rulesByKey.clear();
    this.scopeCache.clear();
    for (const [k, v] of compiled) this.rulesByKey.set(k, v);
    this.restricted = new Set(parsed.data.restricted);
    this.thresholds = parsed.data.alertThresholdsPct.map((pct) => ({ pct, hundredths: BigInt(Math.round(pct * 100)) }));
    // rate windows are sized by the limits; resize where they changed
    for (const a of this.aggs.values()) this.sizeWindows(a);
  }

  private sizeWindows(a: ScopeAgg): void {
    const r = this.rulesByKey.get(a.key);
    const want = (n: number | undefined, w: RateWindow | undefined) => (n === undefined ? undefined : w && w.capacity === n ? w : new RateWindow(n));
    a.perSecond = want(r?.maxOrdersPerSecond, a.perSecond);
    a.perMinute = want(r?.maxOrdersPerMinute, a.perMinute);
    a.messages = want(r?.maxMessagesPerSecond, a.messages);
  }

  private agg(key: string): ScopeAgg {
    let a = this.aggs.get(key);
    if (!a) {
      a = {
        key,
        pos: new Map(),
        buyLeaves: new Map(),
        sellLeaves: new Map(),
        openOrders: 0,
        openBuyNotional: 0n,
        openSellNotional: 0n,
        cashFlow: 0n,
        gross: 0n,
        net: 0n,
        sellNotional: new Map(),
        shortBySymbol: new Map(),
        shortCommit: 0n,
        dayBaseline: 0n,
        state: 'ACTIVE',
        stateReason: '',
        armed: new Map(),
        armedBySymbol: new Map(),
      };
      this.aggs.set(key, a);
      this.sizeWindows(a);
    }
    return a;
  }

  /** The aggregates an order counts toward: firm, account, trader, strategy, symbol. */
  private scopesOf(o: Order): ScopeAgg[] {
    return this.scopeSet(o).scopes;
  }

  /**
   * The scopes an order counts toward and the rules attached to them, cached per (account, trader,
   * strategy, symbol) in nested maps: the hot path builds no strings and no arrays. Cleared when
   * the rules change or state is restored.
   */
  private scopeSet(o: Order): { scopes: ScopeAgg[]; rules: CompiledLimits[] } {
    let byTrader = this.scopeCache.get(o.account);
    if (!byTrader) this.scopeCache.set(o.account, (byTrader = new Map()));
    const trader = o.traderId ?? '';
    let byStrategy = byTrader.get(trader);
    if (!byStrategy) byTrader.set(trader, (byStrategy = new Map()));
    const strategy = o.strategyId ?? '';
    let bySymbol = byStrategy.get(strategy);
    if (!bySymbol) byStrategy.set(strategy, (bySymbol = new Map()));
    let e = bySymbol.get(o.symbol);
    if (!e) {
      const scopes = [this.firm, this.agg('account:' + o.account)];
      if (o.traderId !== null) scopes.push(this.agg('trader:' + o.traderId));
      if (o.strategyId !== null) scopes.push(this.agg('strategy:' + o.strategyId));
      scopes.push(this.agg('symbol:' + o.symbol));
      const rules: CompiledLimits[] = [];
      for (const a of scopes) {
        const r = this.rulesByKey.get(a.key);
        if (r) rules.push(r);
      }
      e = { scopes, rules };
      bySymbol.set(o.symbol, e);
    }
    return e;
  }

  // ------------------------------------------------------------------ reference prices

  /** Fresh mid of this listing, else fresh last trade; null when none is fresh. */
  referencePrice(venue: string, symbol: string, maxAge: Nanos | undefined): Price | null {
    const now = this.host.now;
    const q = this.host.md.quote(venue, symbol);
    if (q) {
      const m = mid(q);
      if (m !== null && (maxAge === undefined || now - q.ts <= maxAge)) return m;
    }
    const t = this.host.md.lastTrade(venue, symbol);
    if (t && (maxAge === undefined || now - t.ts <= maxAge)) return t.price;
    return null;
  }

  // ------------------------------------------------------------------ the chain

  checkNew(o: Order, now: Nanos): RiskVerdict | null {
    const v = this.evaluate(o, o.quantity, o.price, now, true);
    if (v) this.rejections.set(v.code, (this.rejections.get(v.code) ?? 0) + 1);
    return v;
  }

  checkReplace(o: Order, quantity: Qty, price: Price | null, now: Nanos): RiskVerdict | null {
    const v = this.evaluate(o, quantity, price, now, false);
    if (v) this.rejections.set(v.code, (this.rejections.get(v.code) ?? 0) + 1);
    else this.countMessage(o, now);
    return v;
  }

  checkCancel(o: Order, now: Nanos): RiskVerdict | null {
    // cancels reduce risk and are always allowed, but they count toward the message rate
    const scopes = this.scopesOf(o);
    const us = Number(now) / 1000; // µs as a double: exact to well under a µs, and no bigint allocated
    for (const a of scopes) {
      const r = this.rulesByKey.get(a.key);
      if (r?.maxMessagesPerSecond !== undefined && a.messages && a.messages.wouldExceed(us, SEC_US)) {
        const v = reject('MESSAGE_RATE', { scope: a.key, limit: String(r.maxMessagesPerSecond), window: '1s' });
        this.rejections.set(v.code, (this.rejections.get(v.code) ?? 0) + 1);
        return v;
      }
    }
    this.countMessage(o, now);
    return null;
  }

  private countMessage(o: Order, now: Nanos): void {
    const us = Number(now) / 1000; // µs as a double: exact to well under a µs, and no bigint allocated
    for (const a of this.scopesOf(o)) a.messages?.push(us);
  }

  /**
   * The check chain. `isNew` is false for a replace: the order's own current exposure is then
   * taken out of the projection and the new one put in, and rates count it as a message.
   */
  private evaluate(o: Order, qty: Qty, price: Price | null, now: Nanos, isNew: boolean): RiskVerdict | null {
    for (let i = 0; i < this.guards.length; i++) {
      const g = this.guards[i]!(o);
      if (g) return g;
    }
    const inst = this.host.instruments.get(o.venue, o.symbol)!;
    const { scopes, rules } = this.scopeSet(o);

    // 1. trading state: HALTED blocks, REDUCING lets only exposure-reducing orders through
    for (const a of scopes) {
      if (a.state === 'HALTED') return reject('TRADING_HALTED', { scope: a.key, state: a.state, reason: a.stateReason });
      if (a.state === 'REDUCING') {
        const p = a.pos.get(o.symbol) ?? 0n;
        const same = (o.side === 'buy' ? a.buyLeaves : a.sellLeaves).get(o.symbol) ?? 0n;
        const reduces = o.side === 'buy' ? p < 0n && qty + same <= -p : p > 0n && qty + same <= p;
        if (!reduces) {
          return reject('REDUCING_ONLY', { scope: a.key, position: s(p), quantity: s(qty), openSameSide: s(same), reason: a.stateReason });
        }
      }
    }

    // 2. restricted list and venue halt
    if (this.restricted.has(o.symbol)) return reject('RESTRICTED_SYMBOL', { symbol: o.symbol });
    if (this.host.md.isHalted(o.venue, o.symbol)) return reject('SYMBOL_HALTED', { venue: o.venue, symbol: o.symbol });

    // 3. trading hours
    if (this.config.checkTradingHours && !inst.calendar.isOpen(now)) {
      return reject('OUTSIDE_TRADING_HOURS', { calendar: inst.calendar.spec.id, symbol: o.symbol });
    }

    // 4. instrument validity
    if (price !== null && price % inst.tickSize !== 0n) return reject('INVALID_TICK', { price: s(price), tickSize: s(inst.tickSize) });
    if (qty % inst.lotSize !== 0n) return reject('INVALID_LOT', { quantity: s(qty), lotSize: s(inst.lotSize) });
    if (qty < inst.minQty) return reject('QTY_BELOW_MIN', { quantity: s(qty), limit: s(inst.minQty), scope: 'instrument' });
    if (qty > inst.maxQty) return reject('QTY_ABOVE_MAX', { quantity: s(qty), limit: s(inst.maxQty), scope: 'instrument' });

    // 5. reference price and fat finger
    let maxAge: Nanos | undefined;
    for (const r of rules) if (r.referenceMaxAgeNs !== undefined && (maxAge === undefined || r.referenceMaxAgeNs < maxAge)) maxAge = r.referenceMaxAgeNs;
    const ref = this.referencePrice(o.venue, o.symbol, maxAge);
    let needsRef = o.type === 'market';
    for (const r of rules) if (r.fatFingerPct !== undefined || r.fatFingerTicks !== undefined) needsRef = true;
    if (needsRef && ref === null) {
      return reject('NO_REFERENCE_PRICE', { venue: o.venue, symbol: o.symbol, maxAgeMs: maxAge === undefined ? 'none' : (maxAge / 1_000_000n).toString() });
    }
    if (price !== null && ref !== null) {
      const dist = abs(price - ref);
      for (const r of rules) {
        if (r.fatFingerPct !== undefined) {
          // dist / ref > pct / 100, compared without division
          if (dist * PCT > r.fatFingerPct * ref) {
            return reject('FAT_FINGER', { scope: r.key, price: s(price), reference: s(ref), deviationPct: s(divRound(dist * PCT, ref)), limitPct: s(r.fatFingerPct) });
          }
        }
        if (r.fatFingerTicks !== undefined && dist > BigInt(r.fatFingerTicks) * inst.tickSize) {
          return reject('FAT_FINGER_TICKS', { scope: r.key, price: s(price), reference: s(ref), ticks: (dist / inst.tickSize).toString(), limitTicks: String(r.fatFingerTicks) });
        }
      }
    }
    // a limit order is valued at its price, a market order at the reference
    const px: Price = price ?? ref ?? 0n;
    const notional = mul(px, qty);

    // 6. order size
    for (const r of rules) {
      if (r.minOrderQty !== undefined && qty < r.minOrderQty) return reject('QTY_BELOW_MIN', { scope: r.key, quantity: s(qty), limit: s(r.minOrderQty) });
      if (r.maxOrderQty !== undefined && qty > r.maxOrderQty) return reject('MAX_ORDER_QTY', { scope: r.key, quantity: s(qty), limit: s(r.maxOrderQty) });
      if (r.maxOrderNotional !== undefined && notional > r.maxOrderNotional) {
        return reject('MAX_ORDER_NOTIONAL', { scope: r.key, notional: s(notional), limit: s(r.maxOrderNotional), price: s(px) });
      }
    }

    // 7. duplicates
    if (isNew && this.host.oms.hasClientOrderId(o.account, o.clientOrderId)) {
      return reject('DUPLICATE_CLIENT_ORDER_ID', { account: o.account, clientOrderId: o.clientOrderId });
    }
    let dupWindow: Nanos | undefined;
    for (const r of rules) if (r.duplicateWindowNs !== undefined && r.duplicateWindowNs > 0n && (dupWindow === undefined || r.duplicateWindowNs > dupWindow)) dupWindow = r.duplicateWindowNs;
    const dupKey = dupWindow === undefined ? '' : `${o.account}|${o.strategyId ?? ''}|${o.side}|${o.symbol}|${o.venue}|${qty}|${price ?? 'MKT'}`;
    if (dupWindow !== undefined) {
      this.evictRecent(now - dupWindow);
      const last = this.recentOrders.get(dupKey);
      if (last !== undefined && now - last < dupWindow) {
        return reject('DUPLICATE_ORDER', { windowMs: (dupWindow / 1_000_000n).toString(), sinceMs: ((now - last) / 1_000_000n).toString() });
      }
    }

    // 8. rates
    const us = Number(now) / 1000; // µs as a double: exact to well under a µs, and no bigint allocated
    for (const a of scopes) {
      const r = this.rulesByKey.get(a.key);
      if (!r) continue;
      if (isNew && r.maxOrdersPerSecond !== undefined && a.perSecond!.wouldExceed(us, SEC_US)) {
        return reject('ORDER_RATE_SECOND', { scope: a.key, limit: String(r.maxOrdersPerSecond), window: '1s' });
      }
      if (isNew && r.maxOrdersPerMinute !== undefined && a.perMinute!.wouldExceed(us, MIN_US)) {
        return reject('ORDER_RATE_MINUTE', { scope: a.key, limit: String(r.maxOrdersPerMinute), window: '60s' });
      }
      if (r.maxMessagesPerSecond !== undefined && a.messages!.wouldExceed(us, SEC_US)) {
        return reject('MESSAGE_RATE', { scope: a.key, limit: String(r.maxMessagesPerSecond), window: '1s' });
      }
    }

    // 9. open orders
    if (isNew) {
      for (const a of scopes) {
        const r = this.rulesByKey.get(a.key);
        if (r?.maxOpenOrders !== undefined && a.openOrders + 1 > r.maxOpenOrders) {
          return reject('MAX_OPEN_ORDERS', { scope: a.key, open: String(a.openOrders), limit: String(r.maxOpenOrders) });
        }
      }
    }

    // what this order adds on its side, net of what it replaces
    const t = isNew ? undefined : this.tracked.get(o.id);
    const prevLeaves = t?.open ? t.leaves : 0n;
    const newLeaves = qty - o.filledQuantity;
    const addLeaves = newLeaves - prevLeaves;
    const addNotional = mul(px, newLeaves) - (t?.open ? t.notional : 0n);

    // 10. position limits (projected: position + open orders on the same side + this order)
    for (const a of scopes) {
      const r = this.rulesByKey.get(a.key);
      if (!r) continue;
      const p = a.pos.get(o.symbol) ?? 0n;
      if (o.side === 'buy' && r.maxLongPosition !== undefined) {
        const proj = p + (a.buyLeaves.get(o.symbol) ?? 0n) + addLeaves;
        if (proj > r.maxLongPosition) return reject('POSITION_LIMIT_LONG', { scope: a.key, symbol: o.symbol, position: s(p), projected: s(proj), limit: s(r.maxLongPosition) });
        // per symbol: a position limit is a per-instrument limit, and so is its alert state
        this.utilization(a, 'maxLongPosition', proj, r.maxLongPosition, o.symbol);
      }
      if (o.side === 'sell' && r.maxShortPosition !== undefined) {
        const proj = -(p - (a.sellLeaves.get(o.symbol) ?? 0n) - addLeaves);
        if (proj > r.maxShortPosition) return reject('POSITION_LIMIT_SHORT', { scope: a.key, symbol: o.symbol, position: s(p), projectedShort: s(proj), limit: s(r.maxShortPosition) });
        this.utilization(a, 'maxShortPosition', proj, r.maxShortPosition, o.symbol);
      }
    }

    // 11. concentration: projected exposure in this symbol as a share of projected gross exposure
    let concPct: bigint | undefined;
    let concMin: Money = 0n;
    for (const r of rules) {
      if (r.maxConcentrationPct !== undefined && (concPct === undefined || r.maxConcentrationPct < concPct)) {
        concPct = r.maxConcentrationPct;
        concMin = r.concentrationMinGross ?? 0n;
      }
    }
    if (concPct !== undefined) {
      for (let ci = 0; ci < 2; ci++) {
        const a = ci === 0 ? this.firm : scopes[1]!;
        const mark = this.host.md.mark(o.symbol) ?? px;
        const p = a.pos.get(o.symbol) ?? 0n;
        const same = (o.side === 'buy' ? a.buyLeaves : a.sellLeaves).get(o.symbol) ?? 0n;
        const projPos = p + (o.side === 'buy' ? same + addLeaves : -(same + addLeaves));
        const symExp = abs(mul(projPos, mark));
        const gross = this.grossExposure(a) - abs(mul(p, mark)) + symExp;
        if (gross > concMin && symExp * PCT > concPct * gross) {
          return reject('CONCENTRATION', { scope: a.key, symbol: o.symbol, exposure: s(symExp), grossExposure: s(gross), sharePct: s(divRound(symExp * PCT, gross)), limitPct: s(concPct) });
        }
      }
    }

    // 12. credit and margin: buying power = cash + margin allowance − commitments of open orders
    const accountAgg = scopes[1]!;
    const cash = this.host.portfolio.accounts.get(o.account)?.cash;
    if (cash !== undefined) {
      let margin: Money | undefined;
      for (const r of rules) if (r.marginAllowance !== undefined && (margin === undefined || r.marginAllowance < margin)) margin = r.marginAllowance;
      const commitments = accountAgg.openBuyNotional + accountAgg.shortCommit;
      const buyingPower = cash + (margin ?? 0n) - commitments;
      const need = o.side === 'buy' ? addNotional : this.sellNeed(accountAgg, o.symbol, addLeaves, px);
      if (need > 0n && need > buyingPower) {
        return reject('INSUFFICIENT_BUYING_POWER', { account: o.account, required: s(need), buyingPower: s(buyingPower), cash: s(cash), commitments: s(commitments) });
      }
    }
    for (const a of scopes) {
      const r = this.rulesByKey.get(a.key);
      if (r?.creditLimit === undefined) continue;
      const used = a.openBuyNotional + a.openSellNotional + this.grossExposure(a) + (addNotional > 0n ? addNotional : 0n);
      if (used > r.creditLimit) return reject('CREDIT_LIMIT', { scope: a.key, used: s(used), limit: s(r.creditLimit) });
      this.utilization(a, 'creditLimit', used, r.creditLimit);
    }

    // accepted: record what later checks need
    if (dupWindow !== undefined) {
      this.recentOrders.set(dupKey, now);
      this.recentQueue.push({ key: dupKey, ts: now });
    }
    for (const a of scopes) {
      if (isNew) {
        a.perSecond?.push(us);
        a.perMinute?.push(us);
      }
      a.messages?.push(us);
      const r = this.rulesByKey.get(a.key);
      if (r?.maxOpenOrders !== undefined && isNew) this.utilization(a, 'maxOpenOrders', BigInt(a.openOrders + 1) * SCALE, BigInt(r.maxOpenOrders) * SCALE);
      if (r?.maxOrdersPerSecond !== undefined && a.perSecond) this.rateUtilization(a, 'maxOrdersPerSecond', a.perSecond, r.maxOrdersPerSecond, us, SEC_US);
    }
    return null;
  }

  /** Sells beyond the current long position open a short and need buying power. */
  private sellNeed(a: ScopeAgg, symbol: string, addLeaves: Qty, px: Price): Money {
    const p = a.pos.get(symbol) ?? 0n;
    const openSells = a.sellLeaves.get(symbol) ?? 0n;
    const covered = p - openSells > 0n ? p - openSells : 0n;
    const uncovered = addLeaves - covered;
    return uncovered > 0n ? mul(px, uncovered) : 0n;
  }

  grossExposure(a: ScopeAgg): Money {
    return a.gross;
  }

  /** Total P&L of a scope since the start (realized + unrealized − fees). */
  totalPnl(a: ScopeAgg): Money {
    return a.cashFlow + a.net;
  }

  private markOf(symbol: string): Price {
    let m = this.markUsed.get(symbol);
    if (m === undefined) {
      m = this.host.md.mark(symbol) ?? 0n;
      this.markUsed.set(symbol, m);
    }
    return m;
  }

  private evictRecent(before: Nanos): void {
    const q = this.recentQueue;
    while (this.recentHead < q.length && q[this.recentHead]!.ts < before) {
      const e = q[this.recentHead++]!;
      if (this.recentOrders.get(e.key) === e.ts) this.recentOrders.delete(e.key);
    }
    if (this.recentHead > 4096 && this.recentHead * 2 > q.length) {
      q.splice(0, this.recentHead);
      this.recentHead = 0;
    }
  }

  /** Moves a scope's position and keeps its valuation and the holder index in step. */
  private setPosition(a: ScopeAgg, symbol: string, next: Qty): void {
    const prev = a.pos.get(symbol) ?? 0n;
    const m = this.markOf(symbol);
    a.gross += abs(mul(next, m)) - abs(mul(prev, m));
    a.net += mul(next, m) - mul(prev, m);
    a.pos.set(symbol, next);
    let h = this.holders.get(symbol);
    if (!h) this.holders.set(symbol, (h = new Set()));
    if (next === 0n) h.delete(a);
    else h.add(a);
  }

  /** Sells beyond the long position open a short: their notional is committed buying power. */
  private refreshShort(a: ScopeAgg, symbol: string): void {
    const sl = a.sellLeaves.get(symbol) ?? 0n;
    const p = a.pos.get(symbol) ?? 0n;
    const uncovered = sl - (p > 0n ? p : 0n);
    const next = uncovered > 0n && sl > 0n ? divRound((a.sellNotional.get(symbol) ?? 0n) * uncovered, sl) : 0n;
    const prev = a.shortBySymbol.get(symbol) ?? 0n;
    if (next !== prev) {
      a.shortCommit += next - prev;
      a.shortBySymbol.set(symbol, next);
    }
  }

  // ------------------------------------------------------------------ bookkeeping

  /** Called whenever an order's open quantity may have changed. */
  onOrderChange(o: Order): void {
    let t = this.tracked.get(o.id);
    const open = isOpen(o.status);
    if (!t) {
      if (!open) return;
      t = { side: o.side, symbol: o.symbol, scopes: this.scopesOf(o), leaves: 0n, notional: 0n, open: false };
      this.tracked.set(o.id, t);
    }
    let leaves = open ? o.quantity - o.filledQuantity : 0n;
    if (leaves < 0n) leaves = 0n;
    // a pending replace counts whichever of the old and new size is larger until the venue answers
    if (open && o.pendingReplace) {
      const nl = o.pendingReplace.quantity - o.filledQuantity;
      if (nl > leaves) leaves = nl;
    }
    // nothing left working (an order ending, every order of a kill switch): no price needed
    const notional = leaves === 0n ? 0n : mul(o.pendingReplace?.price ?? o.price ?? this.host.md.mark(o.symbol) ?? 0n, leaves);
    const dLeaves = leaves - t.leaves;
    const dNotional = notional - t.notional;
    const dOpen = (open ? 1 : 0) - (t.open ? 1 : 0);
    if (dLeaves !== 0n || dNotional !== 0n || dOpen !== 0) this.moveOpen(t.scopes, t.side, t.symbol, dLeaves, dNotional, dOpen);
    t.leaves = leaves;
    t.notional = notional;
    t.open = open;
    if (!open) this.tracked.delete(o.id);
  }

  /**
   * Many orders ended at once (a venue's mass cancel report, booked by the OMS in one go): the same
   * bookkeeping as onOrderChange for each, but the scope totals move once per group of orders that
   * share their scopes, side and symbol instead of once per order. The sums commute and refreshShort
   * depends only on the totals it ends with, so the state after it is the same as after one
   * onOrderChange per order (test/risk/mass-cancel-risk.property.test.ts compares the two).
   */
  onOrdersEnded(orders: readonly Order[]): void {
    const groups = new Map<ScopeAgg[], EndedGroup[]>();
    for (let i = 0; i < orders.length; i++) {
      const o = orders[i]!;
      if (isOpen(o.status)) {
        this.onOrderChange(o);
        continue;
      }
      const t = this.tracked.get(o.id);
      if (t === undefined) continue;
      this.tracked.delete(o.id);
      if (t.leaves === 0n && t.notional === 0n && !t.open) continue;
      let list = groups.get(t.scopes);
      if (list === undefined) groups.set(t.scopes, (list = []));
      let g: EndedGroup | undefined;
      for (let j = 0; j < list.length; j++) {
        if (list[j]!.side === t.side && list[j]!.symbol === t.symbol) {
          g = list[j];
          break;
        }
      }
      if (g === undefined) list.push((g = { side: t.side, symbol: t.symbol, leaves: 0n, notional: 0n, open: 0 }));
      g.leaves += t.leaves;
      g.notional += t.notional;
      if (t.open) g.open++;
    }
    for (const [scopes, list] of groups) for (const g of list) this.moveOpen(scopes, g.side, g.symbol, -g.leaves, -g.notional, -g.open);
  }

  /** Moves an order's (or a group's) open leaves, notional and count in each of its scopes. */
  private moveOpen(scopes: readonly ScopeAgg[], side: Side, symbol: string, dLeaves: Qty, dNotional: Money, dOpen: number): void {
    for (const a of scopes) {
      const m = side === 'buy' ? a.buyLeaves : a.sellLeaves;
      m.set(symbol, (m.get(symbol) ?? 0n) + dLeaves);
      if (side === 'buy') a.openBuyNotional += dNotional;
      else {
        a.openSellNotional += dNotional;
        a.sellNotional.set(symbol, (a.sellNotional.get(symbol) ?? 0n) + dNotional);
        this.refreshShort(a, symbol);
      }
      a.openOrders += dOpen;
    }
  }

  onFill(f: Fill, o: Order): void {
    const signedQty = f.side === 'buy' ? f.quantity : -f.quantity;
    const n = mul(f.price, f.quantity);
    const flow = (f.side === 'buy' ? -n : n) - f.fee;
    const scopes = this.tracked.get(o.id)?.scopes ?? this.scopesOf(o);
    for (const a of scopes) {
      this.setPosition(a, f.symbol, (a.pos.get(f.symbol) ?? 0n) + signedQty);
      a.cashFlow += flow;
    }
    this.onOrderChange(o);
    for (const a of scopes) this.refreshShort(a, f.symbol);
    for (const a of scopes) this.evaluateLoss(a);
  }

  /**
   * A new mark revalues only the scopes holding the symbol (O(holders), not O(positions)). Loss is
   * re-evaluated on the timer and after every fill, which bounds detection latency to one timer
   * interval without costing the quote path.
   */
  onMarketData(symbol: string): void {
    const m = this.host.md.mark(symbol);
    if (m === null) return;
    const prev = this.markUsed.get(symbol);
    if (prev === m) return;
    this.markUsed.set(symbol, m);
    const h = this.holders.get(symbol);
    if (!h || prev === undefined) return;
    for (const a of h) {
      const p = a.pos.get(symbol)!;
      a.gross += abs(mul(p, m)) - abs(mul(p, prev));
      a.net += mul(p, m) - mul(p, prev);
    }
  }

  onTimer(now: Nanos): void {
    const day = now / 86_400_000_000_000n;
    if (day !== this.day) {
      // a new UTC trading day: P&L is measured from here; a tripped state stays until a risk manager resets it
      for (const a of this.aggs.values()) a.dayBaseline = this.totalPnl(a);
      this.day = day;
    }
    for (const r of this.rulesByKey.values()) {
      if (r.maxDailyLoss === undefined) continue;
      const a = this.aggs.get(r.key);
      if (a) this.evaluateLoss(a);
    }
  }

  private evaluateLoss(a: ScopeAgg): void {
    const r = this.rulesByKey.get(a.key);
    if (r?.maxDailyLoss === undefined) return;
    const pnl = this.totalPnl(a) - a.dayBaseline;
    const loss = pnl < 0n ? -pnl : 0n;
    this.utilization(a, 'maxDailyLoss', loss, r.maxDailyLoss);
    if (loss > r.maxDailyLoss && a.state === 'ACTIVE') {
      const detail = { loss: s(loss), limit: s(r.maxDailyLoss) };
      this.setState(a.key, r.dailyLossAction === 'KILL' ? 'HALTED' : r.dailyLossAction, SYSTEM_ACTOR, 'daily loss limit breached', detail);
      if (r.dailyLossAction === 'KILL') this.onAutoKill?.(a.key, `daily loss limit breached: loss ${detail.loss} > ${detail.limit}`);
    }
  }

  // ------------------------------------------------------------------ state, alerts, views

  stateOf(scope: string): TradingState {
    return this.aggs.get(scope)?.state ?? 'ACTIVE';
  }

  setState(scope: string, to: TradingState, actor: Actor, reason: string, detail: Record<string, string> = {}): void {
    const a = this.agg(scope);
    const from = a.state;
    if (from === to) return;
    a.state = to;
    a.stateReason = reason;
    this.host.emit({ type: 'risk.stateChanged', scope, from, to, actor, reason, detail });
    if (to !== 'ACTIVE') {
      this.raise(scope, 'tradingState', 100, '0', '0', '0', 'critical', `${scope} trading state ${to}: ${reason}`);
    }
  }

  /**
   * Threshold crossings of value / limitValue, compared in integers; strings only when an alert is
   * raised. A threshold re-arms only once the value falls ALERT_HYSTERESIS_PCT points below it, so a
   * value hovering at a limit raises one alert, not one per order.
   */
  private utilization(a: ScopeAgg, limit: string, value: bigint, limitValue: bigint, symbol?: string): void {
    if (limitValue <= 0n) return;
    const v = value * 10_000n;
    let crossed = 0;
    let below = 0;
    for (let i = 0; i < this.thresholds.length; i++) {
      const t = this.thresholds[i]!;
      if (v >= t.hundredths * limitValue) crossed |= 1 << i;
      else if (v < (t.hundredths - ALERT_HYSTERESIS_HUNDREDTHS) * limitValue) below |= 1 << i;
    }
    this.arm(a, limit, crossed, below, () => ({ value: s(value), limitValue: s(limitValue), pct: s(divRound(value * PCT, limitValue)) }), symbol);
  }

  /** Rate utilization without counting the window: "at least ⌈limit × th⌉ events in it". */
  private rateUtilization(a: ScopeAgg, limit: string, w: RateWindow, limitValue: number, us: number, windowUs: number): void {
    let crossed = 0;
    let below = 0;
    for (let i = 0; i < this.thresholds.length; i++) {
      const pct = this.thresholds[i]!.pct;
      if (w.atLeast(Math.ceil((limitValue * pct) / 100), us, windowUs)) crossed |= 1 << i;
      else if (!w.atLeast(Math.ceil((limitValue * (pct - ALERT_HYSTERESIS_PCT)) / 100), us, windowUs)) below |= 1 << i;
    }
    this.arm(a, limit, crossed, below, (th) => ({ value: String(Math.ceil((limitValue * th) / 100)), limitValue: String(limitValue), pct: String(th) }));
  }

  /** Raises one alert per upward crossing; a threshold re-arms when the value has fallen well below it. */
  private arm(a: ScopeAgg, limit: string, crossed: number, below: number, describe: (th: number) => { value: string; limitValue: string; pct: string }, symbol?: string): void {
    // per-symbol limits keep their state in a map per limit keyed by the (interned) symbol: no key strings built here
    let store = a.armed;
    let key = limit;
    if (symbol !== undefined) {
      let m = a.armedBySymbol.get(limit);
      if (!m) a.armedBySymbol.set(limit, (m = new Map()));
      store = m;
      key = symbol;
    }
    const prev = store.get(key) ?? 0;
    const next = (prev | crossed) & ~below;
    if (next === prev) return;
    store.set(key, next);
    const up = crossed & ~prev;
    for (let i = 0; up !== 0 && i < this.thresholds.length; i++) {
      if ((up & (1 << i)) === 0) continue;
      const th = this.thresholds[i]!.pct;
      const d = describe(th);
      const name = symbol === undefined ? limit : `${limit}:${symbol}`;
      this.raise(a.key, name, th, d.value, d.limitValue, d.pct, th >= 100 ? 'breach' : 'warning', `${a.key} ${name} at ${d.pct}% of limit`);
    }
  }

  private raise(scope: string, limit: string, thresholdPct: number, value: string, limitValue: string, utilizationPct: string, severity: RiskAlert['severity'], message: string): void {
    const alert: RiskAlert = { id: ++this.alertSeq, ts: this.host.now.toString(), scope, limit, thresholdPct, value, limitValue, utilizationPct, severity, message };
    this.alerts.push(alert);
    if (this.alerts.length > 10_000) this.alerts.splice(0, this.alerts.length - 10_000);
    this.host.emit({ type: 'risk.alert', alert });
  }

  /** Starting a strategy is refused while a scope it trades under is halted. */
  canStartStrategy(spec: StrategySpec): RiskVerdict | null {
    for (const key of ['firm', 'account:' + spec.account, 'strategy:' + spec.id]) {
      if (this.stateOf(key) === 'HALTED') return reject('TRADING_HALTED', { scope: key });
    }
    return null;
  }

  stateView(): { scope: string; state: TradingState; reason: string; pnl: string; dayPnl: string; grossExposure: string; openOrders: number; openBuyNotional: string; openSellNotional: string }[] {
    const out = [];
    for (const a of this.aggs.values()) {
      const total = this.totalPnl(a);
      out.push({
        scope: a.key,
        state: a.state,
        reason: a.stateReason,
        pnl: s(total),
        dayPnl: s(total - a.dayBaseline),
        grossExposure: s(this.grossExposure(a)),
        openOrders: a.openOrders,
        openBuyNotional: s(a.openBuyNotional),
        openSellNotional: s(a.openSellNotional),
      });
    }
    return out;
  }

  static scopeKeys(): readonly RiskScope[] {
    return RISK_SCOPES;
  }

  // ------------------------------------------------------------------ snapshots (src/engine/snapshots)

  /** JSON-safe copy of the configuration and every aggregate, window, tracked order and alert. */
  snapshot(): RiskSnapshot {
    const m = (x: Map<string, bigint>): [string, string][] => [...x].map(([k, v]) => [k, String(v)]);
    const aggs: AggSnap[] = [];
    for (const a of this.aggs.values()) {
      aggs.push({
        key: a.key,
        pos: m(a.pos),
        buyLeaves: m(a.buyLeaves),
        sellLeaves: m(a.sellLeaves),
        openOrders: a.openOrders,
        openBuyNotional: String(a.openBuyNotional),
        openSellNotional: String(a.openSellNotional),
        cashFlow: String(a.cashFlow),
        gross: String(a.gross),
        net: String(a.net),
        sellNotional: m(a.sellNotional),
        shortBySymbol: m(a.shortBySymbol),
        shortCommit: String(a.shortCommit),
        dayBaseline: String(a.dayBaseline),
        ...(a.perSecond ? { perSecond: a.perSecond.dump() } : {}),
        ...(a.perMinute ? { perMinute: a.perMinute.dump() } : {}),
        ...(a.messages ? { messages: a.messages.dump() } : {}),
        state: a.state,
        stateReason: a.stateReason,
        armed: [...a.armed],
        armedBySymbol: [...a.armedBySymbol].map(([limit, m]) => [limit, [...m]]),
      });
    }
    return {
      config: this.config,
      aggs,
      tracked: [...this.tracked].map(([id, t]) => [id, t.side, t.symbol, t.scopes.map((a) => a.key), String(t.leaves), String(t.notional), t.open]),
      markUsed: m(this.markUsed),
      holders: [...this.holders].map(([sym, h]) => [sym, [...h].map((a) => a.key)]),
      recentOrders: m(this.recentOrders),
      recentQueue: this.recentQueue.slice(this.recentHead).map((e) => [e.key, String(e.ts)]),
      alerts: this.alerts.map((a) => ({ ...a })),
      alertSeq: this.alertSeq,
      rejections: [...this.rejections],
      day: String(this.day),
    };
  }

  restore(s: RiskSnapshot): void {
    this.configure(s.config);
    const b = (x: [string, string][]): Map<string, bigint> => new Map(x.map(([k, v]) => [k, BigInt(v)]));
    this.aggs.clear();
    for (const x of s.aggs) {
      const a: ScopeAgg = {
        key: x.key,
        pos: b(x.pos),
        buyLeaves: b(x.buyLeaves),
        sellLeaves: b(x.sellLeaves),
        openOrders: x.openOrders,
        openBuyNotional: BigInt(x.openBuyNotional),
        openSellNotional: BigInt(x.openSellNotional),
        cashFlow: BigInt(x.cashFlow),
        gross: BigInt(x.gross),
        net: BigInt(x.net),
        sellNotional: b(x.sellNotional),
        shortBySymbol: b(x.shortBySymbol),
        shortCommit: BigInt(x.shortCommit),
        dayBaseline: BigInt(x.dayBaseline),
        ...(x.perSecond ? { perSecond: RateWindow.load(x.perSecond) } : {}),
        ...(x.perMinute ? { perMinute: RateWindow.load(x.perMinute) } : {}),
        ...(x.messages ? { messages: RateWindow.load(x.messages) } : {}),
        state: x.state,
        stateReason: x.stateReason,
        armed: new Map(x.armed),
        armedBySymbol: new Map((x.armedBySymbol ?? []).map(([limit, m]) => [limit, new Map(m)])),
      };
      this.aggs.set(a.key, a);
    }
    this.firm = this.agg('firm');
    const byKey = (k: string): ScopeAgg => this.agg(k);
    this.tracked.clear();
    for (const [id, side, symbol, scopes, leaves, notional, open] of s.tracked) {
      this.tracked.set(id, { side, symbol, scopes: scopes.map(byKey), leaves: BigInt(leaves), notional: BigInt(notional), open });
    }
    this.markUsed.clear();
    for (const [k, v] of b(s.markUsed)) this.markUsed.set(k, v);
    this.holders.clear();
    for (const [sym, keys] of s.holders) this.holders.set(sym, new Set(keys.map(byKey)));
    this.recentOrders.clear();
    for (const [k, v] of b(s.recentOrders)) this.recentOrders.set(k, v);
    this.recentQueue.length = 0;
    this.recentHead = 0;
    for (const [key, ts] of s.recentQueue) this.recentQueue.push({ key, ts: BigInt(ts) });
    this.alerts.length = 0;
    for (const a of s.alerts) this.alerts.push({ ...a });
    this.alertSeq = s.alertSeq;
    this.rejections.clear();
    for (const [k, v] of s.rejections) this.rejections.set(k, v);
    this.day = BigInt(s.day);
    // the cached scope arrays point at the aggregates that were just replaced
    this.scopeCache.clear();
  }
}

interface RateWindowSnap {
  capacity: number;
  head: number;
  count: number;
  /** the Float64Array ring, little-endian bytes in base64 */
  ring: string;
}

interface AggSnap {
  key: string;
  pos: [string, string][];
  buyLeaves: [string, string][];
  sellLeaves: [string, string][];
  openOrders: number;
  openBuyNotional: string;
  openSellNotional: string;
  cashFlow: string;
  gross: string;
  net: string;
  sellNotional: [string, string][];
  shortBySymbol: [string, string][];
  shortCommit: string;
  dayBaseline: string;
  perSecond?: RateWindowSnap;
  perMinute?: RateWindowSnap;
  messages?: RateWindowSnap;
  state: TradingState;
  stateReason: string;
  armed: [string, number][];
  /** absent in snapshots taken before per-symbol alert state existed */
  armedBySymbol?: [string, [string, number][]][];
}

export interface RiskSnapshot {
  config: RiskConfig;
  aggs: AggSnap[];
  /** order id, side, symbol, scope keys, leaves, notional, open */
  tracked: [string, Side, string, string[], string, string, boolean][];
  markUsed: [string, string][];
  holders: [string, string[]][];
  recentOrders: [string, string][];
  recentQueue: [string, string][];
  alerts: RiskAlert[];
  alertSeq: number;
  rejections: [string, number][];
  day: string;
}

