/**
 * Instruments: one listing of a symbol on a venue. The same symbol listed on two venues is the same
 * security: positions aggregate across venues, books and market data do not.
 */
import { parseDecimal, type Price, type Qty } from './fixed.js';
import { ALWAYS_OPEN, TradingCalendar, type CalendarSpec } from './calendar.js';

/** Wire/config form: decimals as strings. */
export interface InstrumentSpec {
  symbol: string;
  venue: string;
  tickSize: string;
  lotSize: string;
  minQty?: string;
  maxQty?: string;
  currency: string;
  /** calendar id; '24x7' when absent */
  calendar?: string;
}

export interface Instrument {
  readonly key: string;
  readonly symbol: string;
  readonly venue: string;
  readonly tickSize: Price;
  readonly lotSize: Qty;
  readonly minQty: Qty;
  readonly maxQty: Qty;
  readonly currency: string;
  readonly calendar: TradingCalendar;
}

export function instrumentKey(venue: string, symbol: string): string {
  return venue + ':' + symbol;
}

const SYMBOL_RE = /^[A-Z0-9][A-Z0-9._/-]{0,31}$/;
const VENUE_RE = /^[A-Z0-9][A-Z0-9_-]{0,15}$/;

export function buildInstrument(spec: InstrumentSpec, calendars: Map<string, TradingCalendar>, path = 'instrument'): Instrument {
  if (typeof spec.symbol !== 'string' || !SYMBOL_RE.test(spec.symbol)) throw new Error(`${path}.symbol: "${spec.symbol}" must be 1-32 characters A-Z 0-9 . _ / -`);
  if (typeof spec.venue !== 'string' || !VENUE_RE.test(spec.venue)) throw new Error(`${path}.venue: "${spec.venue}" must be 1-16 characters A-Z 0-9 _ -`);
  const tickSize = parseDecimal(spec.tickSize, `${path}.tickSize`);
  const lotSize = parseDecimal(spec.lotSize, `${path}.lotSize`);
  if (tickSize <= 0n) throw new Error(`${path}.tickSize: must be positive`);
  if (lotSize <= 0n) throw new Error(`${path}.lotSize: must be positive`);
  const minQty = spec.minQty === undefined ? lotSize : parseDecimal(spec.minQty, `${path}.minQty`);
  const maxQty = spec.maxQty === undefined ? 1_000_000_000n * 100_000_000n : parseDecimal(spec.maxQty, `${path}.maxQty`);
  if (minQty <= 0n) throw new Error(`${path}.minQty: must be positive`);
  if (maxQty < minQty) throw new Error(`${path}.maxQty: must not be below minQty`);
  if (typeof spec.currency !== 'string' || !/^[A-Z]{3,5}$/.test(spec.currency)) throw new Error(`${path}.currency: "${spec.currency}" must be an ISO currency code`);
  const calId = spec.calendar ?? ALWAYS_OPEN.id;
  const calendar = calendars.get(calId);
  if (!calendar) throw new Error(`${path}.calendar: unknown calendar "${calId}"`);
  return {
    key: instrumentKey(spec.venue, spec.symbol),
    symbol: spec.symbol,
    venue: spec.venue,
    tickSize,
    lotSize,
    minQty,
    maxQty,
    currency: spec.currency,
    calendar,
  };
}

export function buildCalendars(specs: CalendarSpec[]): Map<string, TradingCalendar> {
  const m = new Map<string, TradingCalendar>();
  m.set(ALWAYS_OPEN.id, new TradingCalendar(ALWAYS_OPEN));
  specs.forEach((s, i) => {
    try {
      m.set(s.id, new TradingCalendar(s));
    } catch (e) {
      throw new Error(`calendars[${i}]: ${(e as Error).message}`);
    }
  });
  return m;
}

export class InstrumentRegistry {
  private readonly byKey = new Map<string, Instrument>();
  private readonly bySymbol = new Map<string, Instrument[]>();

  add(i: Instrument): void {
    if (this.byKey.has(i.key)) throw new Error(`instrument ${i.key} is defined twice`);
    this.byKey.set(i.key, i);
    const l = this.bySymbol.get(i.symbol);
    if (l) l.push(i);
    else this.bySymbol.set(i.symbol, [i]);
  }

  get(venue: string, symbol: string): Instrument | undefined {
    return this.byKey.get(instrumentKey(venue, symbol));
  }

  listings(symbol: string): readonly Instrument[] {
    return this.bySymbol.get(symbol) ?? [];
  }

  all(): Instrument[] {
    return [...this.byKey.values()];
  }

  symbols(): string[] {
    return [...this.bySymbol.keys()];
  }

  venues(): string[] {
    return [...new Set([...this.byKey.values()].map((i) => i.venue))];
  }
}
