/**
 * Sample market maker: keeps one bid and one ask around the mid of each subscribed listing, skews
 * them against its inventory, and moves them with cancel/replace when the mid drifts.
 */
import { divRound, floorToStep, parseDecimal, type Price, type Qty } from '../core/fixed.js';
import type { Quote } from '../marketdata/cache.js';
import type { Order } from '../oms/order.js';
import { listParam, numParam, Strategy, type StrategyContext } from './api.js';

interface Working {
  bid: string | null;
  ask: string | null;
}

export class MarketMaker extends Strategy {
  private readonly venue: string;
  private readonly symbols: string[];
  private readonly quantity: Qty;
  private readonly maxPosition: Qty;
  private readonly spreadTicks: bigint;
  private readonly requoteTicks: bigint;
  private working: Record<string, Working> = {};
  /** after a risk rejection, a side rests until this time (epoch ns as a string, JSON-safe) */
  private backoff: Record<string, string> = {};
  private readonly backoffNs: bigint;

  constructor(id: string, params: Record<string, unknown>) {
    super(id, params);
    this.venue = String(params.venue ?? 'SIMX');
    this.symbols = listParam(params, 'symbols', ['AAPL', 'MSFT']);
    this.quantity = parseDecimal(String(params.quantity ?? '10'), 'params.quantity');
    this.maxPosition = parseDecimal(String(params.maxPosition ?? '200'), 'params.maxPosition');
    this.spreadTicks = BigInt(numParam(params, 'spreadTicks', 6, 2, 10_000));
    this.requoteTicks = BigInt(numParam(params, 'requoteTicks', 2, 1, 10_000));
    this.backoffNs = BigInt(numParam(params, 'rejectBackoffMs', 2000, 0, 3_600_000)) * 1_000_000n;
  }

  subscriptions(): string[] {
    return this.symbols.map((s) => `${this.venue}:${s}`);
  }

  override onStart(): void {
    this.working = {};
    this.backoff = {};
  }

  override onQuote(ctx: StrategyContext, q: Quote): void {
    if (q.bid === null || q.ask === null) return;
    const inst = ctx.instrument(q.venue, q.symbol);
    if (!inst) return;
    const tick = inst.tickSize;
    const mid = divRound(q.bid + q.ask, 2n);
    const pos = ctx.position(q.symbol);
    // inventory skew: up to half the spread, leaning against the position
    const skewTicks = this.maxPosition === 0n ? 0n : (pos * (this.spreadTicks / 2n)) / this.maxPosition;
    const half = (this.spreadTicks * tick) / 2n;
    let bid = floorToStep(mid - half - skewTicks * tick, tick);
    let ask = floorToStep(mid + half - skewTicks * tick, tick) + tick;
    if (bid >= q.ask) bid = q.ask - tick;
    if (ask <= q.bid) ask = q.bid + tick;
    const w = (this.working[q.symbol] ??= { bid: null, ask: null });
    w.bid = this.work(ctx, q.symbol, 'buy', w.bid, bid, pos < this.maxPosition);
    w.ask = this.work(ctx, q.symbol, 'sell', w.ask, ask, pos > -this.maxPosition);
  }

  private work(ctx: StrategyContext, symbol: string, side: 'buy' | 'sell', current: string | null, price: Price, allowed: boolean): string | null {
    const open = current === null ? undefined : ctx.openOrders().find((o) => o.id === current);
    if (!allowed) {
      if (open) ctx.cancel(open.id);
      return open ? open.id : null;
    }
    if (!open) {
      const key = symbol + ':' + side;
      const until = this.backoff[key];
      if (until !== undefined && ctx.now() < BigInt(until)) return null;
      const o = ctx.submit({ venue: this.venue, symbol, side, type: 'limit', quantity: this.quantity, price, timeInForce: 'DAY' });
      if (o.status !== 'Rejected') return o.id;
      // refused by risk (a limit, a halt): stop hammering that side for a while
      this.backoff[key] = (ctx.now() + this.backoffNs).toString();
      ctx.log(`${side} ${symbol} refused: ${o.rejectReason}; resting that side`, { reason: o.rejectReason ?? '', backoffMs: Number(this.backoffNs / 1_000_000n) });
      return null;
    }
    if ((open.status === 'New' || open.status === 'PartiallyFilled') && open.price !== null) {
      const inst = ctx.instrument(this.venue, symbol)!;
      const diff = open.price > price ? open.price - price : price - open.price;
      if (diff >= this.requoteTicks * inst.tickSize) ctx.replace(open.id, { price });
    }
    return open.id;
  }

  override onOrderUpdate(_ctx: StrategyContext, o: Order): void {
    const w = this.working[o.symbol];
    if (!w) return;
    // a replace gives the order a new id: follow it
    if (o.replacesId !== null) {
      if (w.bid === o.replacesId) w.bid = o.id;
      if (w.ask === o.replacesId) w.ask = o.id;
    }
    const done = o.status === 'Filled' || o.status === 'Canceled' || o.status === 'Rejected' || o.status === 'Expired';
    if (done) {
      if (w.bid === o.id) w.bid = null;
      if (w.ask === o.id) w.ask = null;
    }
  }

  override getState(): unknown {
    return { working: this.working, backoff: this.backoff };
  }

  override setState(s: unknown): void {
    const st = s as { working?: Record<string, Working>; backoff?: Record<string, string> } | null;
    this.working = st?.working ?? {};
    this.backoff = st?.backoff ?? {};
  }
}
