/**
 * The simulated world shared by every sim venue: one fair value per symbol that random-walks, and
 * the background traders that make each venue's books look alive around it.
 *
 * Fair values move in fixed steps of clock time (not per call), so the path depends only on the
 * seed and the clock, whichever venue asks first and however often. The floats used to draw the
 * moves never reach anything booked: the fair value itself is fixed-point, and agents round their
 * prices to the tick.
 */
import { parseDecimal, type Price, type Qty } from '../../core/fixed.js';
import { Rng } from '../../core/random.js';
import { NS_PER_MS, type Clock, type Nanos } from '../../core/time.js';
import type { OrderType, Side, TimeInForce } from '../../core/types.js';
import type { OrderBook } from './order-book.js';

export interface SimSymbolSpec {
  symbol: string;
  /** starting fair value, decimal string */
  fairValue: string;
  /** standard deviation of the relative move over one second, e.g. 0.0001 = 1 bp; simulation only */
  volatilityPerSec?: number;
  /** tick used for the floor; default "0.01" */
  tickSize?: string;
}

export interface LiquidityAgentConfig {
  /** price levels quoted on each side */
  levels?: number;
  /** distance in ticks from the fair value to the first level */
  halfSpreadTicks?: number;
  levelSpacingTicks?: number;
  minLots?: number;
  maxLots?: number;
}

export interface NoiseAgentConfig {
  /** mean time between marketable orders, per venue and symbol */
  meanIntervalMs?: number;
  minLots?: number;
  maxLots?: number;
  /** share of market orders; the rest are IOC limits through the touch */
  marketShare?: number;
  /** how far through the opposite best an IOC limit is priced */
  maxThroughTicks?: number;
}

export interface SimMarketOptions {
  seed: number | string;
  clock: Clock;
  symbols: SimSymbolSpec[];
  /** random-walk step; default 100 ms */
  stepMs?: number;
  /** default volatility for symbols that do not set one; default 0.0001 */
  volatilityPerSec?: number;
  /** the fair value stays above this many ticks; default 5 */
  floorTicks?: number;
  liquidity?: LiquidityAgentConfig;
  noise?: NoiseAgentConfig;
}

interface Walk {
  fair: Price;
  floor: Price;
  tick: Price;
  /** relative standard deviation of one step */
  stepSigma: number;
  rng: Rng;
  lastStep: Nanos;
}

/** Walks longer than this many steps are taken as one draw with the summed variance. */
const MAX_STEPS_PER_CALL = 1000;

export class SimMarket {
  readonly liquidity: Required<LiquidityAgentConfig>;
  readonly noise: Required<NoiseAgentConfig>;
  private readonly clock: Clock;
  private readonly stepNs: bigint;
  private readonly walks = new Map<string, Walk>();

  constructor(opts: SimMarketOptions) {
    const stepMs = opts.stepMs ?? 100;
    if (!Number.isInteger(stepMs) || stepMs <= 0) throw new RangeError(`SimMarket.stepMs: ${stepMs} must be a positive integer`);
    const floorTicks = opts.floorTicks ?? 5;
    if (!Number.isInteger(floorTicks) || floorTicks < 1) throw new RangeError(`SimMarket.floorTicks: ${floorTicks} must be a positive integer`);
    this.clock = opts.clock;
    this.stepNs = BigInt(stepMs) * NS_PER_MS;
    const start = opts.clock.now();
    for (const [i, s] of opts.symbols.entries()) {
      const path = `SimMarket.symbols[${i}]`;
      if (this.walks.has(s.symbol)) throw new Error(`${path}.symbol: "${s.symbol}" is listed twice`);
      const vol = s.volatilityPerSec ?? opts.volatilityPerSec ?? 0.0001;
      if (!(vol >= 0 && vol < 1)) throw new RangeError(`${path}.volatilityPerSec: ${vol} must be in [0, 1)`);
      const tick = parseDecimal(s.tickSize ?? '0.01', `${path}.tickSize`);
      if (tick <= 0n) throw new RangeError(`${path}.tickSize: must be positive`);
      const fair = parseDecimal(s.fairValue, `${path}.fairValue`);
      const floor = tick * BigInt(floorTicks);
      if (fair <= floor) throw new RangeError(`${path}.fairValue: ${s.fairValue} must be above ${floorTicks} ticks`);
      this.walks.set(s.symbol, {
        fair,
        floor,
        tick,
        stepSigma: vol * Math.sqrt(stepMs / 1000),
        rng: new Rng(`${String(opts.seed)}:fair:${s.symbol}`),
        lastStep: start,
      });
    }
    this.liquidity = {
      levels: 5,
      halfSpreadTicks: 1,
      levelSpacingTicks: 1,
      minLots: 100,
      maxLots: 500,
      ...opts.liquidity,
    };
    this.noise = {
      meanIntervalMs: 1000,
      minLots: 1,
      maxLots: 200,
      marketShare: 0.5,
      maxThroughTicks: 2,
      ...opts.noise,
    };
    checkLots('SimMarket.liquidity', this.liquidity.minLots, this.liquidity.maxLots);
    checkLots('SimMarket.noise', this.noise.minLots, this.noise.maxLots);
    if (!Number.isInteger(this.liquidity.levels) || this.liquidity.levels < 1) throw new RangeError('SimMarket.liquidity.levels must be a positive integer');
    if (!(this.noise.meanIntervalMs > 0)) throw new RangeError('SimMarket.noise.meanIntervalMs must be positive');
  }

  has(symbol: string): boolean {
    return this.walks.has(symbol);
  }

  symbols(): string[] {
    return [...this.walks.keys()];
  }

  /** Fair value now (advancing the walk to the clock first). */
  fairValue(symbol: string): Price {
    const w = this.walks.get(symbol);
    if (w === undefined) throw new Error(`SimMarket: unknown symbol "${symbol}"`);
    const now = this.clock.now();
    if (now - w.lastStep < this.stepNs) return w.fair;
    const steps = (now - w.lastStep) / this.stepNs;
    w.lastStep += steps * this.stepNs;
    if (steps > BigInt(MAX_STEPS_PER_CALL)) {
      this.move(w, w.stepSigma * Math.sqrt(Number(steps)));
    } else {
      for (let i = 0n; i < steps; i++) this.move(w, w.stepSigma);
    }
    return w.fair;
  }

  /** Operator/test shock: jumps the fair value (decimal string or fixed-point). */
  setFairValue(symbol: string, value: string | Price): void {
    const w = this.walks.get(symbol);
    if (w === undefined) throw new Error(`SimMarket: unknown symbol "${symbol}"`);
    this.fairValue(symbol);
    const v = typeof value === 'string' ? parseDecimal(value, 'fairValue') : value;
    if (v <= w.floor) throw new RangeError(`SimMarket: fair value for ${symbol} must stay above ${w.floor}`);
    w.fair = v;
  }

  private move(w: Walk, sigma: number): void {
    if (sigma === 0) return;
    const delta = Math.round(Number(w.fair) * sigma * w.rng.normal());
    let next = w.fair + BigInt(delta);
    if (next <= w.floor) next = w.floor + w.tick;
    w.fair = next;
  }
}

function checkLots(path: string, lo: number, hi: number): void {
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi < lo) throw new RangeError(`${path}: minLots/maxLots must be integers with 1 <= minLots <= maxLots`);
}

// ---- agents ----------------------------------------------------------------------------------

/** An order from a venue-internal account; it gets no execution reports through the gateway. */
export interface HouseOrder {
  owner: string;
  side: Side;
  type: OrderType;
  tif: TimeInForce;
  qty: Qty;
  price?: Price;
  selfTradeGroup?: string;
}

/** What an agent may do on one venue. */
export interface AgentPort {
  readonly id: string;
  book(symbol: string): OrderBook;
  /** Returns the venue order id (the order may already be filled or refused). */
  submitHouseOrder(symbol: string, order: HouseOrder): string;
  cancelHouseOrder(symbol: string, venueOrderId: string): void;
}

export interface AgentInstrument {
  symbol: string;
  tickSize: Price;
  lotSize: Qty;
}

/** Keeps a ladder of bids and asks around the fair value, moving only the levels that changed. */
export class LiquidityAgent {
  readonly owner: string;
  private readonly bids = new Map<Price, string>();
  private readonly asks = new Map<Price, string>();

  constructor(
    readonly inst: AgentInstrument,
    private readonly cfg: Required<LiquidityAgentConfig>,
    private readonly rng: Rng,
    owner = 'house:liquidity',
  ) {
    this.owner = owner;
  }

  tick(port: AgentPort, fair: Price, _now: Nanos): void {
    const book = port.book(this.inst.symbol);
    const t = this.inst.tickSize;
    const gap = BigInt(this.cfg.halfSpreadTicks) * t;
    const spacing = BigInt(this.cfg.levelSpacingTicks) * t;
    const bid0 = floorDiv(fair - gap, t) * t;
    const ask0 = ceilDiv(fair + gap, t) * t;
    // cancel everything off the new ladder first, so the agent never crosses its own quotes
    this.refresh(port, book, this.bids, bid0, -spacing);
    this.refresh(port, book, this.asks, ask0, spacing);
    this.fill(port, this.bids, bid0, -spacing, 'buy');
    this.fill(port, this.asks, ask0, spacing, 'sell');
  }

  private wanted(p: Price, first: Price, step: Price): boolean {
    const n = (p - first) / step;
    return (p - first) % step === 0n && n >= 0n && n < BigInt(this.cfg.levels) && p > 0n;
  }

  private refresh(port: AgentPort, book: OrderBook, mine: Map<Price, string>, first: Price, step: Price): void {
    for (const [p, id] of mine) {
      if (book.order(id) === undefined) {
        mine.delete(p);
      } else if (!this.wanted(p, first, step)) {
        port.cancelHouseOrder(this.inst.symbol, id);
        mine.delete(p);
      }
    }
  }

  private fill(port: AgentPort, mine: Map<Price, string>, first: Price, step: Price, side: Side): void {
    for (let i = 0; i < this.cfg.levels; i++) {
      const p = first + BigInt(i) * step;
      if (p <= 0n || mine.has(p)) continue;
      const qty = BigInt(this.rng.int(this.cfg.minLots, this.cfg.maxLots)) * this.inst.lotSize;
      const id = port.submitHouseOrder(this.inst.symbol, { owner: this.owner, side, type: 'limit', tif: 'DAY', qty, price: p, selfTradeGroup: this.owner });
      if (port.book(this.inst.symbol).order(id) !== undefined) mine.set(p, id);
    }
  }
}

/** Sends marketable orders of random size and side at exponentially distributed intervals. */
export class NoiseAgent {
  readonly owner: string;
  private nextAt: Nanos | undefined;

  constructor(
    readonly inst: AgentInstrument,
    private readonly cfg: Required<NoiseAgentConfig>,
    private readonly rng: Rng,
    owner = 'house:noise',
  ) {
    this.owner = owner;
  }

  tick(port: AgentPort, fair: Price, now: Nanos): void {
    if (this.nextAt === undefined) this.nextAt = now + this.interval();
    // after a long pause (session closed, process suspended) do not fire a burst of catch-up orders
    let budget = 3;
    while (this.nextAt <= now && budget-- > 0) {
      this.fire(port, fair);
      this.nextAt += this.interval();
    }
    if (this.nextAt <= now) this.nextAt = now + this.interval();
  }

  private interval(): Nanos {
    const u = this.rng.next();
    const ms = -Math.log(1 - u) * this.cfg.meanIntervalMs;
    return BigInt(Math.max(1, Math.round(ms * 1e6)));
  }

  private fire(port: AgentPort, fair: Price): void {
    const side: Side = this.rng.next() < 0.5 ? 'buy' : 'sell';
    const qty = BigInt(this.rng.int(this.cfg.minLots, this.cfg.maxLots)) * this.inst.lotSize;
    const sym = this.inst.symbol;
    if (this.rng.next() < this.cfg.marketShare) {
      port.submitHouseOrder(sym, { owner: this.owner, side, type: 'market', tif: 'IOC', qty, selfTradeGroup: this.owner });
      return;
    }
    const book = port.book(sym);
    const t = this.inst.tickSize;
    const touch = book.bestPrice(side === 'buy' ? 'sell' : 'buy') ?? (side === 'buy' ? ceilDiv(fair, t) * t : floorDiv(fair, t) * t);
    const through = BigInt(this.rng.int(0, this.cfg.maxThroughTicks)) * t;
    const price = side === 'buy' ? touch + through : touch - through;
    if (price <= 0n) return;
    port.submitHouseOrder(sym, { owner: this.owner, side, type: 'limit', tif: 'IOC', qty, price, selfTradeGroup: this.owner });
  }
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n === b < 0n ? q + 1n : q;
}

/** Seeds one agent's Rng from the venue seed so agents are independent of each other. */
export function agentRng(seed: number | string, venue: string, symbol: string, agent: string): Rng {
  return new Rng(`${String(seed)}:${venue}:${symbol}:${agent}`);
}
