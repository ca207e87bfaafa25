/**
 * Sample momentum taker: follows a fast and a slow exponential average of trade prices and crosses
 * the spread with an IOC order when the fast one leads the slow one by more than a threshold.
 * The averages are plain doubles: they are signals, not booked values, and use only IEEE basic
 * operations, so a replay computes them bit for bit the same.
 */
import { parseDecimal, toNumber, type Qty } from '../core/fixed.js';
import type { Trade } from '../marketdata/cache.js';
import { listParam, numParam, Strategy, type StrategyContext } from './api.js';

interface Averages {
  fast: number;
  slow: number;
  n: number;
  lastOrderNs: string;
}

export class MomentumTaker extends Strategy {
  private readonly venue: string;
  private readonly symbols: string[];
  private readonly quantity: Qty;
  private readonly maxPosition: Qty;
  private readonly fastAlpha: number;
  private readonly slowAlpha: number;
  private readonly thresholdBps: number;
  private readonly cooldownNs: bigint;
  private readonly crossTicks: bigint;
  private avg: Record<string, Averages> = {};

  constructor(id: string, params: Record<string, unknown>) {
    super(id, params);
    this.venue = String(params.venue ?? 'SIMY');
    this.symbols = listParam(params, 'symbols', ['NVDA', 'TSLA']);
    this.quantity = parseDecimal(String(params.quantity ?? '5'), 'params.quantity');
    this.maxPosition = parseDecimal(String(params.maxPosition ?? '100'), 'params.maxPosition');
    this.fastAlpha = numParam(params, 'fastAlpha', 0.3, 0.0001, 1);
    this.slowAlpha = numParam(params, 'slowAlpha', 0.05, 0.0001, 1);
    this.thresholdBps = numParam(params, 'thresholdBps', 1, 0, 10_000);
    this.cooldownNs = BigInt(numParam(params, 'cooldownMs', 1500, 0, 3_600_000)) * 1_000_000n;
    this.crossTicks = BigInt(numParam(params, 'crossTicks', 2, 0, 1000));
  }

  subscriptions(): string[] {
    return this.symbols.map((s) => `${this.venue}:${s}`);
  }

  override onTrade(ctx: StrategyContext, t: Trade): void {
    const px = toNumber(t.price);
    let a = this.avg[t.symbol];
    if (!a) {
      a = this.avg[t.symbol] = { fast: px, slow: px, n: 0, lastOrderNs: '0' };
    }
    a.fast += this.fastAlpha * (px - a.fast);
    a.slow += this.slowAlpha * (px - a.slow);
    a.n++;
    if (a.n < 5 || ctx.now() - BigInt(a.lastOrderNs) < this.cooldownNs) return;
    const signalBps = ((a.fast - a.slow) / a.slow) * 10_000;
    const q = ctx.quote(this.venue, t.symbol);
    const inst = ctx.instrument(this.venue, t.symbol);
    if (!q || !inst || q.bid === null || q.ask === null) return;
    const pos = ctx.position(t.symbol);
    if (ctx.openOrders().some((o) => o.symbol === t.symbol)) return;
    if (signalBps > this.thresholdBps && pos + this.quantity <= this.maxPosition) {
      ctx.submit({ venue: this.venue, symbol: t.symbol, side: 'buy', type: 'limit', quantity: this.quantity, price: q.ask + this.crossTicks * inst.tickSize, timeInForce: 'IOC' });
      a.lastOrderNs = ctx.now().toString();
    } else if (signalBps < -this.thresholdBps && pos - this.quantity >= -this.maxPosition) {
      ctx.submit({ venue: this.venue, symbol: t.symbol, side: 'sell', type: 'limit', quantity: this.quantity, price: q.bid - this.crossTicks * inst.tickSize, timeInForce: 'IOC' });
      a.lastOrderNs = ctx.now().toString();
    }
  }

  override getState(): unknown {
    return { avg: this.avg };
  }

  override setState(s: unknown): void {
    this.avg = (s as { avg?: Record<string, Averages> } | null)?.avg ?? {};
  }
}
