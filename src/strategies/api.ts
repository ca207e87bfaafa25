/**
 * The strategy API. A strategy sees the market and its own orders through callbacks and acts only
 * through its context: it never holds a venue, a socket or a clock. Every order it sends goes
 * through the same pre-trade risk chain as a manual order. Callbacks run inside the deterministic
 * core, so a strategy must not read Date.now(), Math.random() or do I/O; it gets time and a seeded
 * random generator from the context.
 */
import type { Price, Qty } from '../core/fixed.js';
import type { Instrument } from '../core/instruments.js';
import type { Rng } from '../core/random.js';
import type { Nanos } from '../core/time.js';
import type { OrderType, Side, TimeInForce } from '../core/types.js';
import type { Bar } from '../marketdata/bars.js';
import type { Quote, Trade } from '../marketdata/cache.js';
import type { Fill, Order } from '../oms/order.js';

export type StrategyState = 'stopped' | 'running' | 'paused';

export interface StrategyOrderRequest {
  venue: string;
  symbol: string;
  side: Side;
  type: OrderType;
  quantity: Qty;
  price?: Price;
  timeInForce?: TimeInForce;
  /** defaults to a generated id */
  clientOrderId?: string;
}

export interface StrategyContext {
  readonly strategyId: string;
  readonly account: string;
  /** time of the input being processed */
  now(): Nanos;
  readonly rng: Rng;
  /** Submits through pre-trade risk. The returned order may already be Rejected (see rejectReason). */
  submit(req: StrategyOrderRequest): Order;
  cancel(orderId: string): boolean;
  replace(orderId: string, change: { quantity?: Qty; price?: Price }): boolean;
  quote(venue: string, symbol: string): Quote | undefined;
  lastTrade(venue: string, symbol: string): Trade | undefined;
  instrument(venue: string, symbol: string): Instrument | undefined;
  /** this strategy's net position in a symbol (all venues) */
  position(symbol: string): Qty;
  /** this strategy's open orders */
  openOrders(): Order[];
  log(message: string, data?: Record<string, unknown>): void;
}

export abstract class Strategy {
  constructor(
    readonly id: string,
    readonly params: Record<string, unknown>,
  ) {}

  /** instruments whose market data this strategy receives, as "VENUE:SYMBOL" keys */
  abstract subscriptions(): string[];

  onStart(_ctx: StrategyContext): void {}
  onStop(_ctx: StrategyContext): void {}
  onPause(_ctx: StrategyContext): void {}
  onQuote(_ctx: StrategyContext, _q: Quote): void {}
  onTrade(_ctx: StrategyContext, _t: Trade): void {}
  onBar(_ctx: StrategyContext, _b: Bar): void {}
  onOrderUpdate(_ctx: StrategyContext, _o: Order): void {}
  onFill(_ctx: StrategyContext, _f: Fill): void {}
  onTimer(_ctx: StrategyContext, _now: Nanos): void {}

  /** Serializable strategy state for snapshots (JSON-safe). */
  getState(): unknown {
    return null;
  }
  setState(_s: unknown): void {}
}

export type StrategyFactory = (id: string, params: Record<string, unknown>) => Strategy;

/** Reads a numeric parameter with a default, refusing nonsense with the field name. */
export function numParam(params: Record<string, unknown>, name: string, dflt: number, min = -Infinity, max = Infinity): number {
  const v = params[name] ?? dflt;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) {
    throw new Error(`params.${name}: must be a number between ${min} and ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

export function listParam(params: Record<string, unknown>, name: string, dflt: string[]): string[] {
  const v = params[name] ?? dflt;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`params.${name}: must be a list of strings`);
  return v as string[];
}
