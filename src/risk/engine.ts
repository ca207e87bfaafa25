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
  inWindow(nowUs: number, windowUs: number): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      const idx = (this.head + this.capacity - 1 - i) % this.capacity;
      if (this.ring[idx]! > nowUs - windowUs) n++;
      else break;
    }
    return n;
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
  /** Σ sells − Σ buys − fees since the start: total P&L = cashFlow + Σ pos × mark */
  cashFlow: Money;
  dayBaseline: Money;
  perSecond?: RateWindow;
  perMinute?: RateWindow;
  messages?: RateWindow;
  state: TradingState;
  stateReason: string;
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
  private restricted = new Set<string>();
  private readonly recentOrders = new Map<string, Nanos>();
  private readonly guards: RiskGuard[] = [];
  private readonly armed = new Set<string>();
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
    for (const [k, v] of compiled) this.rulesByKey.set(k, v);
    this.restricted = new Set(parsed.data.restricted);
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
        dayBaseline: 0n,
        state: 'ACTIVE',
        stateReason: '',
      };
      this.aggs.set(key, a);
      this.sizeWindows(a);
    }
    return a;
  }

  /** The aggregates an order counts toward: firm, account, trader, strategy, symbol. */
  private scopesOf(o: Order): ScopeAgg[] {
    const out = [this.firm, this.agg('account:' + o.account)];
    if (o.traderId !== null) out.push(this.agg('trader:' + o.traderId));
    if (o.strategyId !== null) out.push(this.agg('strategy:' + o.strategyId));
    out.push(this.agg('symbol:' + o.symbol));
    return out;
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
    const us = Number(now / 1000n);
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
    const us = Number(now / 1000n);
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
    const scopes = this.scopesOf(o);
    const rules: CompiledLimits[] = [];
    for (const a of scopes) {
      const r = this.rulesByKey.get(a.key);
      if (r) rules.push(r);
    }

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
      const last = this.recentOrders.get(dupKey);
      if (last !== undefined && now - last < dupWindow) {
        return reject('DUPLICATE_ORDER', { windowMs: (dupWindow / 1_000_000n).toString(), sinceMs: ((now - last) / 1_000_000n).toString() });
      }
    }

    // 8. rates
    const us = Number(now / 1000n);
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
        this.utilization(a.key, 'maxLongPosition', proj, r.maxLongPosition);
      }
      if (o.side === 'sell' && r.maxShortPosition !== undefined) {
        const proj = -(p - (a.sellLeaves.get(o.symbol) ?? 0n) - addLeaves);
        if (proj > r.maxShortPosition) return reject('POSITION_LIMIT_SHORT', { scope: a.key, symbol: o.symbol, position: s(p), projectedShort: s(proj), limit: s(r.maxShortPosition) });
        this.utilization(a.key, 'maxShortPosition', proj, r.maxShortPosition);
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
      for (const a of [this.firm, scopes[1]!]) {
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
      const commitments = accountAgg.openBuyNotional + this.shortCommitment(accountAgg);
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
      this.utilization(a.key, 'creditLimit', used, r.creditLimit);
    }

    // accepted: record what later checks need
    if (dupWindow !== undefined) this.recentOrders.set(dupKey, now);
    for (const a of scopes) {
      if (isNew) {
        a.perSecond?.push(us);
        a.perMinute?.push(us);
      }
      a.messages?.push(us);
      const r = this.rulesByKey.get(a.key);
      if (r?.maxOpenOrders !== undefined && isNew) this.utilization(a.key, 'maxOpenOrders', BigInt(a.openOrders + 1) * SCALE, BigInt(r.maxOpenOrders) * SCALE);
      if (r?.maxOrdersPerSecond !== undefined && a.perSecond) this.utilization(a.key, 'maxOrdersPerSecond', BigInt(a.perSecond.inWindow(us, SEC_US)) * SCALE, BigInt(r.maxOrdersPerSecond) * SCALE);
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

  private shortCommitment(a: ScopeAgg): Money {
    let c = 0n;
    for (const [sym, sl] of a.sellLeaves) {
      if (sl === 0n) continue;
      const p = a.pos.get(sym) ?? 0n;
      const uncovered = sl - (p > 0n ? p : 0n);
      if (uncovered > 0n) c += mul(this.host.md.mark(sym) ?? 0n, uncovered);
    }
    return c;
  }

  grossExposure(a: ScopeAgg): Money {
    let g = 0n;
    for (const [sym, p] of a.pos) if (p !== 0n) g += abs(mul(p, this.host.md.mark(sym) ?? 0n));
    return g;
  }

  /** Total P&L of a scope since the start (realized + unrealized − fees). */
  totalPnl(a: ScopeAgg): Money {
    let v = a.cashFlow;
    for (const [sym, p] of a.pos) if (p !== 0n) v += mul(p, this.host.md.mark(sym) ?? 0n);
    return v;
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
    const px = o.pendingReplace?.price ?? o.price ?? this.host.md.mark(o.symbol) ?? 0n;
    const notional = mul(px, leaves);
    const dLeaves = leaves - t.leaves;
    const dNotional = notional - t.notional;
    const dOpen = (open ? 1 : 0) - (t.open ? 1 : 0);
    if (dLeaves !== 0n || dNotional !== 0n || dOpen !== 0) {
      for (const a of t.scopes) {
        const m = t.side === 'buy' ? a.buyLeaves : a.sellLeaves;
        m.set(t.symbol, (m.get(t.symbol) ?? 0n) + dLeaves);
        if (t.side === 'buy') a.openBuyNotional += dNotional;
        else a.openSellNotional += dNotional;
        a.openOrders += dOpen;
      }
    }
    t.leaves = leaves;
    t.notional = notional;
    t.open = open;
    if (!open) this.tracked.delete(o.id);
  }

  onFill(f: Fill, o: Order): void {
    const signedQty = f.side === 'buy' ? f.quantity : -f.quantity;
    const n = mul(f.price, f.quantity);
    const flow = (f.side === 'buy' ? -n : n) - f.fee;
    const scopes = this.tracked.get(o.id)?.scopes ?? this.scopesOf(o);
    for (const a of scopes) {
      a.pos.set(f.symbol, (a.pos.get(f.symbol) ?? 0n) + signedQty);
      a.cashFlow += flow;
    }
    this.onOrderChange(o);
    for (const a of scopes) this.evaluateLoss(a);
  }

  onMarketData(_symbol: string): void {
    // marks move on every quote; loss is re-evaluated on the timer (every timer interval) and
    // after every fill, which bounds detection latency without costing the quote path
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
    this.utilization(a.key, 'maxDailyLoss', loss, r.maxDailyLoss);
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

  private utilization(scope: string, limit: string, value: bigint, limitValue: bigint): void {
    if (limitValue <= 0n) return;
    const pct = divRound(value * PCT, limitValue);
    for (const th of this.config.alertThresholdsPct) {
      const key = `${scope}|${limit}|${th}`;
      const thFixed = BigInt(Math.round(th * 1e8));
      if (pct >= thFixed) {
        if (!this.armed.has(key)) {
          this.armed.add(key);
          this.raise(scope, limit, th, s(value), s(limitValue), s(pct), th >= 100 ? 'breach' : 'warning', `${scope} ${limit} at ${s(pct)}% of limit`);
        }
      } else if (this.armed.has(key)) {
        this.armed.delete(key);
      }
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
}

