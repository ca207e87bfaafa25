/**
 * The core's view of the market: last quote and trade per listing, venue halt status, and a mark
 * price per symbol. Updated only from journaled market-data inputs, so it replays identically.
 */
import { divRound, parseDecimal, type Price, type Qty } from '../core/fixed.js';
import { instrumentKey } from '../core/instruments.js';
import type { Nanos } from '../core/time.js';
import type { Side } from '../core/types.js';
import type { InstrumentStatusMsg, QuoteMsg, TradeMsg } from '../venues/venue.js';

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
  /** last feed sequence seen per venue, and gaps found */
  readonly feedSeq = new Map<string, number>();
  gaps = 0;
  /** latest mark per symbol (mid of the freshest quote, else last trade) */
  private readonly marks = new Map<string, { price: Price; ts: Nanos }>();

  private trackSeq(venue: string, seq: number): void {
    const last = this.feedSeq.get(venue);
    if (last !== undefined && seq !== last + 1 && seq > last) this.gaps++;
    if (last === undefined || seq > last) this.feedSeq.set(venue, seq);
  }

  onQuote(m: QuoteMsg, ts: Nanos): Quote {
    this.trackSeq(m.venue, m.feedSeq);
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
    this.trackSeq(m.venue, m.feedSeq);
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
    this.trackSeq(m.venue, m.feedSeq);
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
}
