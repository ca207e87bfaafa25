/**
 * The core's view of the market: last quote and trade per listing, venue halt status, and a mark
 * price per symbol. Updated only from journaled market-data inputs, so it replays identically.
 */
import { divRound, parseDecimal, type Price, type Qty } from '../core/fixed.js';
import { instrumentKey } from '../core/instruments.js';
import type { Nanos } from '../core/time.js';
import type { Side } from '../core/types.js';
import type { InstrumentStatusMsg, QuoteMsg, TradeMsg } from '../venues/venue.js';
import type { MarketDataSnapshot } from '../engine/snapshots/parts.js';

export interface Quote {
  venue: string;
  symbol: string;
  bid: Price | null;
  bidSize: Qty;
  ask: Price | null;
  askSize: Qty;
  /** time the core received it (journal stamp) */
  ts: Nanos;
  venueTs: Nanos;
}

export interface Trade {
  venue: string;
  symbol: string;
  price: Price;
  quantity: Qty;
  aggressor: Side;
  ts: Nanos;
  venueTs: Nanos;
}

export function mid(q: Quote): Price | null {
  if (q.bid === null || q.ask === null) return null;
  return divRound(q.bid + q.ask, 2n);
}

export class MarketDataCache {
  readonly quotes = new Map<string, Quote>();
  readonly lastTrades = new Map<string, Trade>();
  readonly halted = new Map<string, boolean>();
  readonly sessionOpen = new Map<string, boolean>();
  /** latest mark per symbol (mid of the freshest quote, else last trade) */
  private readonly marks = new Map<string, { price: Price; ts: Nanos }>();

  onQuote(m: QuoteMsg, ts: Nanos): Quote {
    const key = instrumentKey(m.venue, m.symbol);
    let q = this.quotes.get(key);
    if (!q) {
      q = { venue: m.venue, symbol: m.symbol, bid: null, bidSize: 0n, ask: null, askSize: 0n, ts, venueTs: 0n };
      this.quotes.set(key, q);
    }
    q.bid = m.bid === undefined ? null : parseDecimal(m.bid, 'bid');
    q.ask = m.ask === undefined ? null : parseDecimal(m.ask, 'ask');
    q.bidSize = parseDecimal(m.bidSize, 'bidSize');
    q.askSize = parseDecimal(m.askSize, 'askSize');
    q.ts = ts;
    q.venueTs = BigInt(m.venueTs);
    const md = mid(q);
    if (md !== null) this.marks.set(m.symbol, { price: md, ts });
    return q;
  }

  onTrade(m: TradeMsg, ts: Nanos): Trade {
    const t: Trade = {
      venue: m.venue,
      symbol: m.symbol,
      price: parseDecimal(m.price, 'price'),
      quantity: parseDecimal(m.quantity, 'quantity'),
      aggressor: m.aggressor,
      ts,
      venueTs: BigInt(m.venueTs),
    };
    this.lastTrades.set(instrumentKey(m.venue, m.symbol), t);
    const mk = this.marks.get(m.symbol);
    if (!mk) this.marks.set(m.symbol, { price: t.price, ts });
    return t;
  }

  onStatus(m: InstrumentStatusMsg): void {
    const key = instrumentKey(m.venue, m.symbol);
    this.halted.set(key, m.halted);
    this.sessionOpen.set(key, m.open);
  }

  quote(venue: string, symbol: string): Quote | undefined {
    return this.quotes.get(instrumentKey(venue, symbol));
  }

  lastTrade(venue: string, symbol: string): Trade | undefined {
    return this.lastTrades.get(instrumentKey(venue, symbol));
  }

  isHalted(venue: string, symbol: string): boolean {
    return this.halted.get(instrumentKey(venue, symbol)) === true;
  }

  mark(symbol: string): Price | null {
    return this.marks.get(symbol)?.price ?? null;
  }

  markTs(symbol: string): Nanos | null {
    return this.marks.get(symbol)?.ts ?? null;
  }

  /** JSON-safe copy of quotes, last trades, statuses and marks (src/engine/snapshots). */
  snapshot(): MarketDataSnapshot {
    const n = (v: bigint | null) => (v === null ? null : String(v));
    return {
      quotes: [...this.quotes].map(([k, q]) => [k, { venue: q.venue, symbol: q.symbol, bid: n(q.bid), bidSize: String(q.bidSize), ask: n(q.ask), askSize: String(q.askSize), ts: String(q.ts), venueTs: String(q.venueTs) }]),
      lastTrades: [...this.lastTrades].map(([k, t]) => [k, { venue: t.venue, symbol: t.symbol, price: String(t.price), quantity: String(t.quantity), aggressor: t.aggressor, ts: String(t.ts), venueTs: String(t.venueTs) }]),
      halted: [...this.halted],
      sessionOpen: [...this.sessionOpen],
      marks: [...this.marks].map(([k, m]) => [k, String(m.price), String(m.ts)]),
    };
  }

  restore(s: MarketDataSnapshot): void {
    const n = (v: string | null) => (v === null ? null : BigInt(v));
    this.quotes.clear();
    this.lastTrades.clear();
    this.halted.clear();
    this.sessionOpen.clear();
    this.marks.clear();
    for (const [k, q] of s.quotes) this.quotes.set(k, { venue: q.venue, symbol: q.symbol, bid: n(q.bid), bidSize: BigInt(q.bidSize), ask: n(q.ask), askSize: BigInt(q.askSize), ts: BigInt(q.ts), venueTs: BigInt(q.venueTs) });
    for (const [k, t] of s.lastTrades) this.lastTrades.set(k, { venue: t.venue, symbol: t.symbol, price: BigInt(t.price), quantity: BigInt(t.quantity), aggressor: t.aggressor, ts: BigInt(t.ts), venueTs: BigInt(t.venueTs) });
    for (const [k, v] of s.halted) this.halted.set(k, v);
    for (const [k, v] of s.sessionOpen) this.sessionOpen.set(k, v);
    for (const [k, p, ts] of s.marks) this.marks.set(k, { price: BigInt(p), ts: BigInt(ts) });
  }
}
