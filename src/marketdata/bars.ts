/** Time bars built from trades; closed by the kernel's timer input so they replay identically. */
import type { Price, Qty } from '../core/fixed.js';
import type { Nanos } from '../core/time.js';
import type { Trade } from './cache.js';
import type { BarSnap, BarsSnapshot } from '../engine/snapshots/parts.js';

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

  /** JSON-safe copy of the open and finished-but-not-handed-out bars (src/engine/snapshots). */
  snapshot(): BarsSnapshot {
    const w = (b: Bar): BarSnap => ({ venue: b.venue, symbol: b.symbol, start: String(b.start), intervalNs: String(b.intervalNs), open: String(b.open), high: String(b.high), low: String(b.low), close: String(b.close), volume: String(b.volume), trades: b.trades });
    return { intervalNs: String(this.intervalNs), open: [...this.open].map(([k, b]) => [k, w(b)]), finished: this.finished.map(w) };
  }

  static restore(s: BarsSnapshot): BarBuilder {
    const r = (b: BarSnap): Bar => ({ venue: b.venue, symbol: b.symbol, start: BigInt(b.start), intervalNs: BigInt(b.intervalNs), open: BigInt(b.open), high: BigInt(b.high), low: BigInt(b.low), close: BigInt(b.close), volume: BigInt(b.volume), trades: b.trades });
    const bb = new BarBuilder(BigInt(s.intervalNs));
    for (const [k, b] of s.open) bb.open.set(k, r(b));
    for (const b of s.finished) bb.finished.push(r(b));
    return bb;
  }
}
