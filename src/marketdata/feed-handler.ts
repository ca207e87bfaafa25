/**
 * Feed handler: the adapter between a venue's market-data feed and the sequencer. It checks the
 * feed sequence (gaps, duplicates, stale messages), and conflates top-of-book quotes within one
 * event-loop turn: when a burst moves a book many times (a mass cancel, an opening auction) only
 * the latest quote per listing enters the core, at the position of the first. Trades and status
 * changes are never conflated.
 */
import type { InstrumentStatusMsg, MarketDataMsg, QuoteMsg, TradeMsg } from '../venues/venue.js';

export type FeedItem = { type: 'md.quote'; m: QuoteMsg } | { type: 'md.trade'; m: TradeMsg } | { type: 'md.status'; m: InstrumentStatusMsg };

export interface FeedStats {
  messages: number;
  gaps: number;
  missing: number;
  duplicates: number;
  conflated: number;
}

export class FeedHandler {
  private pending: FeedItem[] = [];
  private readonly pendingQuote = new Map<string, FeedItem & { type: 'md.quote' }>();
  private lastSeq = -1;
  readonly stats: FeedStats = { messages: 0, gaps: 0, missing: 0, duplicates: 0, conflated: 0 };
  onGap: ((venue: string, expected: number, got: number) => void) | null = null;

  constructor(readonly venue: string) {}

  /** Returns false when the message was dropped (duplicate or stale). */
  accept(m: MarketDataMsg): boolean {
    this.stats.messages++;
    if (this.lastSeq >= 0) {
      if (m.feedSeq <= this.lastSeq) {
        this.stats.duplicates++;
        return false;
      }
      if (m.feedSeq !== this.lastSeq + 1) {
        this.stats.gaps++;
        this.stats.missing += m.feedSeq - this.lastSeq - 1;
        this.onGap?.(this.venue, this.lastSeq + 1, m.feedSeq);
      }
    }
    this.lastSeq = m.feedSeq;
    switch (m.type) {
      case 'quote': {
        const key = m.symbol;
        const q = this.pendingQuote.get(key);
        if (q) {
          q.m = m;
          this.stats.conflated++;
        } else {
          const item = { type: 'md.quote' as const, m };
          this.pendingQuote.set(key, item);
          this.pending.push(item);
        }
        return true;
      }
      case 'trade':
        this.pending.push({ type: 'md.trade', m });
        return true;
      case 'instrumentStatus':
        this.pending.push({ type: 'md.status', m });
        return true;
      default:
        // depth feeds books outside the core; the core trades on top of book and trades
        return true;
    }
  }

  /** A reconnect or snapshot restarts the sequence. */
  resetSequence(): void {
    this.lastSeq = -1;
  }

  drain(): FeedItem[] {
    const out = this.pending;
    this.pending = [];
    this.pendingQuote.clear();
    return out;
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }
}
