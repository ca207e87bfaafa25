/** Time bars built from trades; closed by the kernel's timer input so they replay identically. */
import type { Price, Qty } from '../core/fixed.js';
import type { Nanos } from '../core/time.js';
import type { Trade } from './cache.js';

export interface Bar {
  venue: string;
  symbol: string;
  /** bar start, epoch ns */
  start: Nanos;
  intervalNs: Nanos;
  open: Price;
  high: Price;
  low: Price;
  close: Price;
  volume: Qty;
  trades: number;
}

export class BarBuilder {
  private readonly open = new Map<string, Bar>();
  private readonly finished: Bar[] = [];

  constructor(readonly intervalNs: Nanos) {}

  onTrade(t: Trade): void {
    const key = t.venue + ':' + t.symbol;
    const start = t.ts - (t.ts % this.intervalNs);
    const b = this.open.get(key);
    if (b && b.start === start) {
      if (t.price > b.high) b.high = t.price;
      if (t.price < b.low) b.low = t.price;
      b.close = t.price;
      b.volume += t.quantity;
      b.trades++;
      return;
    }
    // a trade in a later interval finishes the previous bar; it is handed out on the next timer
    if (b) this.finished.push(b);
    this.open.set(key, {
      venue: t.venue,
      symbol: t.symbol,
      start,
      intervalNs: this.intervalNs,
      open: t.price,
      high: t.price,
      low: t.price,
      close: t.price,
      volume: t.quantity,
      trades: 1,
    });
  }

  /** Bars whose interval ended at or before `now`, removed from the open set. */
  closeUpTo(now: Nanos): Bar[] {
    const out: Bar[] = this.finished.splice(0, this.finished.length);
    for (const [key, b] of this.open) {
      if (b.start + b.intervalNs <= now) {
        out.push(b);
        this.open.delete(key);
      }
    }
    return out;
  }
}
