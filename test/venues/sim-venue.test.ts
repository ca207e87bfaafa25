import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CalendarSpec } from '../../src/core/calendar.js';
import { formatDecimal, parseDecimal } from '../../src/core/fixed.js';
import { buildCalendars, buildInstrument, type Instrument } from '../../src/core/instruments.js';
import { ManualClock, NS_PER_MS, type Clock } from '../../src/core/time.js';
import type { Side } from '../../src/core/types.js';
import { defaultSimInstruments, SimMarket, SimVenue, type SimVenueOptions } from '../../src/venues/sim/index.js';
import type { ExecutionReportMsg, MarketDataMsg, MassCancelReportMsg, NewOrderMsg, VenueListener } from '../../src/venues/venue.js';

const NYSE: CalendarSpec = { id: 'XNYS', timezone: 'America/New_York', weekdays: [1, 2, 3, 4, 5], sessions: [{ open: '09:30', close: '16:00' }] };
const calendars = buildCalendars([NYSE]);
/** Monday 2026-01-05 15:59 in New York (EST, UTC-5). */
const MONDAY_1559 = BigInt(Date.UTC(2026, 0, 5, 20, 59)) * NS_PER_MS;

function instruments(venue: string, symbols = ['AAPL', 'MSFT'], calendar?: string): Instrument[] {
  return symbols.map((symbol) => buildInstrument({ symbol, venue, tickSize: '0.01', lotSize: '1', currency: 'USD', calendar }, calendars));
}

class Recorder implements VenueListener {
  readonly ers: ExecutionReportMsg[] = [];
  readonly md: MarketDataMsg[] = [];
  readonly conn: boolean[] = [];
  onExecutionReport(r: ExecutionReportMsg): void {
    this.ers.push(r);
  }
  onMarketData(m: MarketDataMsg): void {
    this.md.push(m);
  }
  onConnectionChange(_venue: string, up: boolean): void {
    this.conn.push(up);
  }
  of(clOrdId: string): ExecutionReportMsg[] {
    return this.ers.filter((r) => r.clOrdId === clOrdId);
  }
  types(clOrdId: string): string[] {
    return this.of(clOrdId).map((r) => r.execType);
  }
  clear(): void {
    this.ers.length = 0;
    this.md.length = 0;
  }
}

const venues: SimVenue[] = [];
function venue(extra: Partial<SimVenueOptions> = {}): { v: SimVenue; rec: Recorder; clock: ManualClock } {
  const clock = (extra.clock as ManualClock | undefined) ?? new ManualClock();
  const id = extra.id ?? 'SIMX';
  const v = new SimVenue({ id, instruments: instruments(id), clock, seed: 42, fees: { makerBps: '-0.2', takerBps: '0.3' }, ...extra });
  venues.push(v);
  const rec = new Recorder();
  v.subscribe(rec);
  return { v, rec, clock };
}

let n = 0;
function order(o: Partial<NewOrderMsg> & { side: Side; quantity: string }): NewOrderMsg {
  return { type: 'new', clOrdId: `c${++n}`, account: 'ACC1', symbol: 'AAPL', orderType: 'limit', tif: 'DAY', ...o };
}

/** Delivers everything queued with zero delay. */
const flush = (): void => {
  vi.advanceTimersByTime(0);
};

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  for (const v of venues.splice(0)) v.stop();
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('SimVenue: execution reports', () => {
  it('acknowledges asynchronously, never from inside send()', () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'A1', side: 'buy', quantity: '10', price: '100' }));
    expect(rec.ers).toEqual([]);
    flush();
    expect(rec.of('A1')).toEqual([
      expect.objectContaining({ venue: 'SIMX', execType: 'new', ordStatus: 'New', symbol: 'AAPL', side: 'buy', orderQty: '10', cumQty: '0', leavesQty: '10', avgPx: '0', lastQty: '0', fee: '0' }),
    ]);
    expect(rec.of('A1')[0]!.venueOrderId).toMatch(/^SIMX-/);
  });

  it('reports fills to maker and taker with FIX quantities, prices and fees', () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'S1', account: 'MAKER', side: 'sell', quantity: '10', price: '100' }));
    v.send(order({ clOrdId: 'B1', account: 'TAKER', side: 'buy', quantity: '4', price: '100.5' }));
    flush();
    expect(rec.types('S1')).toEqual(['new', 'trade']);
    expect(rec.types('B1')).toEqual(['new', 'trade']);
    // notional 400: maker -0.2 bp = -0.008, taker 0.3 bp = 0.012
    expect(rec.of('S1')[1]).toMatchObject({ ordStatus: 'PartiallyFilled', lastQty: '4', lastPx: '100', cumQty: '4', leavesQty: '6', avgPx: '100', fee: '-0.008', liquidity: 'maker' });
    expect(rec.of('B1')[1]).toMatchObject({ ordStatus: 'Filled', lastQty: '4', lastPx: '100', cumQty: '4', leavesQty: '0', avgPx: '100', fee: '0.012', liquidity: 'taker' });
  });

  it('computes the average price over fills at several prices', () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'S1', account: 'M', side: 'sell', quantity: '1', price: '100' }));
    v.send(order({ clOrdId: 'S2', account: 'M', side: 'sell', quantity: '2', price: '100.01' }));
    v.send(order({ clOrdId: 'B1', side: 'buy', quantity: '5', orderType: 'market', tif: 'IOC', price: undefined }));
    flush();
    expect(rec.types('B1')).toEqual(['new', 'trade', 'trade', 'canceled']);
    const last = rec.of('B1')[3]!;
    expect(last).toMatchObject({ ordStatus: 'Canceled', cumQty: '3', leavesQty: '0', avgPx: '100.00666667', reason: 'MARKET_NO_LIQUIDITY' });
  });

  it('cancels, then refuses to cancel twice or to cancel what it does not know', () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'A1', side: 'buy', quantity: '10', price: '100' }));
    v.send({ type: 'cancel', clOrdId: 'A1-c', origClOrdId: 'A1', symbol: 'AAPL', side: 'buy' });
    v.send({ type: 'cancel', clOrdId: 'A1-c2', origClOrdId: 'A1', symbol: 'AAPL', side: 'buy' });
    v.send({ type: 'cancel', clOrdId: 'Z-c', origClOrdId: 'ZZZ', symbol: 'AAPL', side: 'sell' });
    flush();
    expect(rec.of('A1-c')).toEqual([expect.objectContaining({ execType: 'canceled', ordStatus: 'Canceled', origClOrdId: 'A1', leavesQty: '0', cumQty: '0' })]);
    expect(rec.of('A1-c2')).toEqual([expect.objectContaining({ execType: 'cancelRejected', ordStatus: 'Canceled', origClOrdId: 'A1', reason: 'TOO_LATE_TO_CANCEL' })]);
    expect(rec.of('Z-c')).toEqual([expect.objectContaining({ execType: 'cancelRejected', ordStatus: 'Rejected', origClOrdId: 'ZZZ', reason: 'UNKNOWN_ORDER' })]);
    expect(v.book('AAPL').size).toBe(0);
  });

  it('replaces: new clOrdId, new quantity, and a crossing price trades', () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'S1', account: 'M', side: 'sell', quantity: '3', price: '101' }));
    v.send(order({ clOrdId: 'B1', side: 'buy', quantity: '10', price: '100' }));
    v.send({ type: 'replace', clOrdId: 'B2', origClOrdId: 'B1', symbol: 'AAPL', side: 'buy', quantity: '8' });
    v.send({ type: 'replace', clOrdId: 'B3', origClOrdId: 'B2', symbol: 'AAPL', side: 'buy', quantity: '8', price: '101' });
    v.send({ type: 'replace', clOrdId: 'B4', origClOrdId: 'B3', symbol: 'AAPL', side: 'buy', quantity: '3' });
    v.send({ type: 'replace', clOrdId: 'B5', origClOrdId: 'B3', symbol: 'AAPL', side: 'buy', quantity: '8', price: '101.001' });
    flush();
    expect(rec.of('B2')).toEqual([expect.objectContaining({ execType: 'replaced', origClOrdId: 'B1', orderQty: '8', leavesQty: '8', ordStatus: 'New' })]);
    expect(rec.types('B3')).toEqual(['replaced', 'trade']);
    expect(rec.of('B3')[1]).toMatchObject({ lastQty: '3', lastPx: '101', cumQty: '3', leavesQty: '5', liquidity: 'taker', ordStatus: 'PartiallyFilled' });
    expect(rec.of('B4')).toEqual([expect.objectContaining({ execType: 'cancelRejected', reason: 'QTY_BELOW_FILLED', ordStatus: 'PartiallyFilled' })]);
    expect(rec.of('B5')).toEqual([expect.objectContaining({ execType: 'cancelRejected', reason: 'INVALID_PRICE' })]);
    expect(v.book('AAPL').bestPrice('buy')).toBe(parseDecimal('101'));
  });

  it('rejects bad orders with reason codes and keeps the first order of a reused clOrdId', async () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'P1', side: 'buy', quantity: '1', price: '100.001' }));
    v.send(order({ clOrdId: 'P2', side: 'buy', quantity: '1' }));
    v.send(order({ clOrdId: 'P3', side: 'buy', quantity: '1', price: '100', orderType: 'market' }));
    v.send(order({ clOrdId: 'Q1', side: 'buy', quantity: '1.5', price: '100' }));
    v.send(order({ clOrdId: 'Q2', side: 'buy', quantity: '1e3', price: '100' }));
    v.send(order({ clOrdId: 'Q3', side: 'buy', quantity: '0', price: '100' }));
    v.send(order({ clOrdId: 'U1', side: 'buy', quantity: '1', price: '100', symbol: 'NOPE' }));
    v.send(order({ clOrdId: 'D1', side: 'buy', quantity: '1', price: '100' }));
    v.send(order({ clOrdId: 'D1', side: 'sell', quantity: '7', price: '200' }));
    flush();
    const reason = (id: string): string[] => rec.of(id).map((r) => `${r.execType}/${r.ordStatus}/${r.reason ?? ''}`);
    expect(reason('P1')).toEqual(['rejected/Rejected/INVALID_PRICE']);
    expect(reason('P2')).toEqual(['rejected/Rejected/INVALID_PRICE']);
    expect(reason('P3')).toEqual(['rejected/Rejected/INVALID_PRICE']);
    expect(reason('Q1')).toEqual(['rejected/Rejected/INVALID_QUANTITY']);
    expect(reason('Q2')).toEqual(['rejected/Rejected/INVALID_QUANTITY']);
    expect(reason('Q3')).toEqual(['rejected/Rejected/INVALID_QUANTITY']);
    expect(reason('U1')).toEqual(['rejected/Rejected/UNKNOWN_SYMBOL']);
    expect(reason('D1')).toEqual(['new/New/', 'rejected/Rejected/DUPLICATE_CLORDID']);
    expect(rec.ers.every((r) => typeof r.text === 'string' || r.execType !== 'rejected')).toBe(true);
    // the duplicate's reject must not read as the fate of the live D1 during reconciliation
    const log = await v.executionsSince('ACC1', 0n);
    expect(log.filter((r) => r.clOrdId === 'D1').map((r) => r.execType)).toEqual(['new']);
    expect((await v.openOrders('ACC1')).map((r) => [r.clOrdId, r.ordStatus, r.leavesQty])).toEqual([['D1', 'New', '1']]);
  });

  it('gives every report a unique execId', () => {
    const { v, rec } = venue();
    for (let i = 0; i < 20; i++) v.send(order({ side: i % 2 ? 'buy' : 'sell', quantity: String(1 + (i % 3)), price: i % 2 ? '100.02' : '100' }));
    flush();
    expect(rec.ers.length).toBeGreaterThan(20);
    expect(new Set(rec.ers.map((r) => r.execId)).size).toBe(rec.ers.length);
  });

  it('answers status requests, UNKNOWN_ORDER for an unknown clOrdId', () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'K1', side: 'buy', quantity: '5', price: '100' }));
    v.send(order({ clOrdId: 'K2', account: 'M', side: 'sell', quantity: '2', price: '100' }));
    v.send({ type: 'status', clOrdId: 'K1', symbol: 'AAPL' });
    v.send({ type: 'status', clOrdId: 'NOPE', symbol: 'AAPL' });
    flush();
    expect(rec.of('K1').at(-1)).toMatchObject({ execType: 'orderStatus', ordStatus: 'PartiallyFilled', cumQty: '2', leavesQty: '3', avgPx: '100' });
    expect(rec.of('NOPE')).toEqual([expect.objectContaining({ execType: 'rejected', ordStatus: 'Rejected', reason: 'UNKNOWN_ORDER', symbol: 'AAPL' })]);
  });

  it('applies self-trade prevention per venue policy', () => {
    const inc = venue();
    inc.v.send(order({ clOrdId: 'R', side: 'sell', quantity: '5', price: '100', selfTradeGroup: 'FIRM' }));
    inc.v.send(order({ clOrdId: 'I', side: 'buy', quantity: '5', price: '100', selfTradeGroup: 'FIRM' }));
    flush();
    expect(inc.rec.types('R')).toEqual(['new']);
    expect(inc.rec.of('I').at(-1)).toMatchObject({ execType: 'canceled', reason: 'SELF_TRADE_PREVENTION', cumQty: '0' });

    const rest = venue({ id: 'SIMY', stp: 'cancelResting' });
    rest.v.send(order({ clOrdId: 'R2', side: 'sell', quantity: '5', price: '100', selfTradeGroup: 'FIRM' }));
    rest.v.send(order({ clOrdId: 'I2', side: 'buy', quantity: '5', price: '100', selfTradeGroup: 'FIRM' }));
    flush();
    expect(rest.rec.of('R2').at(-1)).toMatchObject({ execType: 'canceled', reason: 'SELF_TRADE_PREVENTION' });
    expect(rest.rec.of('I2').at(-1)).toMatchObject({ execType: 'new' });
    expect(rest.v.book('AAPL').bestPrice('buy')).toBe(parseDecimal('100'));
  });

  it('mass-cancels gateway orders by account and symbol, one report each', () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'a1', account: 'A', side: 'buy', quantity: '1', price: '99' }));
    v.send(order({ clOrdId: 'a2', account: 'A', side: 'sell', quantity: '1', price: '101' }));
    v.send(order({ clOrdId: 'a3', account: 'A', symbol: 'MSFT', side: 'buy', quantity: '1', price: '50' }));
    v.send(order({ clOrdId: 'b1', account: 'B', side: 'buy', quantity: '1', price: '99' }));
    v.submitHouseOrder('AAPL', { owner: 'house', side: 'buy', type: 'limit', tif: 'GTC', qty: parseDecimal('1'), price: parseDecimal('98') });
    v.send({ type: 'massCancel', requestId: 'MC1', account: 'A', symbol: 'AAPL' });
    flush();
    expect(rec.ers.filter((r) => r.execType === 'canceled').map((r) => r.clOrdId)).toEqual(['a1', 'a2']);
    v.send({ type: 'massCancel', requestId: 'MC2' });
    flush();
    expect(rec.ers.filter((r) => r.execType === 'canceled').map((r) => r.clOrdId)).toEqual(['a1', 'a2', 'a3', 'b1']);
    expect(v.book('AAPL').size).toBe(1); // the house order is not the gateway's

    const nomc = venue({ id: 'SIMY', supportsMassCancel: false });
    expect(nomc.v.supportsMassCancel).toBe(false);
    nomc.v.send({ type: 'massCancel', requestId: 'MC3' });
    flush();
    expect(nomc.rec.ers).toEqual([expect.objectContaining({ execType: 'cancelRejected', clOrdId: 'MC3', reason: 'UNSUPPORTED' })]);
  });

  it('answers a mass cancel with one report naming every order, to listeners that take it; each cancellation is still in its execution log', async () => {
    const { v, rec, clock } = venue();
    const mass: MassCancelReportMsg[] = [];
    const both = new Recorder();
    Object.assign(both, { onMassCancelReport: (r: MassCancelReportMsg) => mass.push(r) });
    v.subscribe(both);
    v.send(order({ clOrdId: 'a1', account: 'A', side: 'buy', quantity: '5', price: '99' }));
    v.send(order({ clOrdId: 'a2', account: 'A', side: 'sell', quantity: '1', price: '101' }));
    v.send(order({ clOrdId: 'b1', account: 'B', side: 'buy', quantity: '1', price: '99' }));
    flush();
    // a1 is partly filled first: its fill is a report of its own, ahead of the mass cancel report
    v.submitHouseOrder('AAPL', { owner: 'house', side: 'sell', type: 'limit', tif: 'DAY', qty: parseDecimal('2'), price: parseDecimal('99') });
    flush();
    const since = clock.now();
    rec.clear();
    both.clear();
    v.send({ type: 'massCancel', requestId: 'MC9', account: 'A' });
    flush();
    expect(both.ers).toEqual([]);
    expect(mass).toHaveLength(1);
    const r = mass[0]!;
    expect(r).toMatchObject({ venue: 'SIMX', requestId: 'MC9', account: 'A' });
    expect(r.affected.map((a) => [a.clOrdId, a.cumQty])).toEqual([
      ['a1', '2'],
      ['a2', '0'],
    ]);
    // the plain listener still gets one report each
    expect(rec.ers.filter((e) => e.execType === 'canceled').map((e) => [e.clOrdId, e.execId])).toEqual(r.affected.map((a) => [a.clOrdId, a.execId]));
    const log = await v.executionsSince('A', since);
    expect(log.filter((e) => e.execType === 'canceled').map((e) => e.execId)).toEqual(r.affected.map((a) => a.execId));
    expect(new Set([r.reportId, ...r.affected.map((a) => a.execId)]).size).toBe(3);
    expect(v.book('AAPL').size).toBe(1); // b1 rests
  });
});

describe('SimVenue: halts and sessions', () => {
  it('rejects new orders and replaces while halted, allows cancels, and announces the status', () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'H1', side: 'buy', quantity: '5', price: '100' }));
    v.halt('AAPL');
    v.send(order({ clOrdId: 'H2', side: 'buy', quantity: '5', price: '100' }));
    v.send({ type: 'replace', clOrdId: 'H1r', origClOrdId: 'H1', symbol: 'AAPL', side: 'buy', quantity: '4' });
    v.send({ type: 'cancel', clOrdId: 'H1c', origClOrdId: 'H1', symbol: 'AAPL', side: 'buy' });
    v.resume('AAPL');
    v.send(order({ clOrdId: 'H3', side: 'buy', quantity: '5', price: '100' }));
    flush();
    expect(rec.of('H2')[0]).toMatchObject({ execType: 'rejected', reason: 'HALTED' });
    expect(rec.of('H1r')[0]).toMatchObject({ execType: 'cancelRejected', reason: 'HALTED' });
    expect(rec.of('H1c')[0]).toMatchObject({ execType: 'canceled' });
    expect(rec.of('H3')[0]).toMatchObject({ execType: 'new' });
    const status = rec.md.filter((m) => m.type === 'instrumentStatus');
    expect(status.map((m) => [m.symbol, m.halted, m.open])).toEqual([
      ['AAPL', true, true],
      ['AAPL', false, true],
    ]);
  });

  it('expires DAY orders when the calendar closes and refuses orders until it opens', () => {
    const clock = new ManualClock(MONDAY_1559);
    const { v, rec } = venue({ clock, instruments: instruments('SIMX', ['AAPL'], 'XNYS') });
    v.send(order({ clOrdId: 'DAY1', side: 'buy', quantity: '5', price: '100', tif: 'DAY' }));
    v.send(order({ clOrdId: 'GTC1', side: 'buy', quantity: '5', price: '99', tif: 'GTC' }));
    v.tick();
    clock.advance(2n * 60_000n * NS_PER_MS); // 16:01
    v.tick();
    v.send(order({ clOrdId: 'LATE', side: 'buy', quantity: '5', price: '100' }));
    flush();
    expect(rec.of('DAY1').at(-1)).toMatchObject({ execType: 'expired', ordStatus: 'Expired', leavesQty: '0' });
    expect(rec.types('GTC1')).toEqual(['new']);
    expect(rec.of('LATE')[0]).toMatchObject({ execType: 'rejected', reason: 'CLOSED' });
    expect(v.isSessionOpen('AAPL')).toBe(false);
    expect(rec.md.filter((m) => m.type === 'instrumentStatus').map((m) => m.type === 'instrumentStatus' && m.open)).toEqual([false]);

    clock.set(BigInt(Date.UTC(2026, 0, 6, 14, 30)) * NS_PER_MS); // Tuesday 09:30
    v.tick();
    v.send(order({ clOrdId: 'NEXT', side: 'buy', quantity: '5', price: '100' }));
    flush();
    expect(rec.of('NEXT')[0]).toMatchObject({ execType: 'new' });
    expect(v.book('AAPL').order(rec.of('GTC1')[0]!.venueOrderId!)).toBeDefined();
  });

  it('closes and reopens a session by hand', () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'M1', side: 'sell', quantity: '5', price: '100' }));
    v.setSessionOpen('AAPL', false);
    v.send(order({ clOrdId: 'M2', side: 'sell', quantity: '5', price: '100' }));
    v.setSessionOpen('AAPL', true);
    v.tick(); // the 24x7 calendar has no transition, so the hand-set state holds
    v.send(order({ clOrdId: 'M3', side: 'sell', quantity: '5', price: '100' }));
    flush();
    expect(rec.types('M1')).toEqual(['new', 'expired']);
    expect(rec.of('M2')[0]).toMatchObject({ reason: 'CLOSED' });
    expect(rec.types('M3')).toEqual(['new']);
  });
});

/** Rebuilds each symbol's book from the feed. */
function rebuild(md: MarketDataMsg[]): Map<string, { buy: Map<string, string>; sell: Map<string, string> }> {
  const books = new Map<string, { buy: Map<string, string>; sell: Map<string, string> }>();
  for (const m of md) {
    if (m.type === 'depthSnapshot') books.set(m.symbol, { buy: new Map(m.bids), sell: new Map(m.asks) });
    else if (m.type === 'depthUpdate') {
      const b = books.get(m.symbol)!;
      if (m.size === '0') b[m.side].delete(m.price);
      else b[m.side].set(m.price, m.size);
    }
  }
  return books;
}

const bookOf = (v: SimVenue, symbol: string, side: Side): Map<string, string> =>
  new Map(v.book(symbol).depth(side).map(([p, q]) => [formatDecimal(p), formatDecimal(q)]));

describe('SimVenue: market data', () => {
  it('sends a snapshot per symbol on subscribe, then a gap-free feed that rebuilds the books exactly', () => {
    const clock = new ManualClock();
    const market = new SimMarket({ seed: 3, clock, symbols: [{ symbol: 'AAPL', fairValue: '227.50' }, { symbol: 'MSFT', fairValue: '415.20' }] });
    const v = new SimVenue({ id: 'SIMX', instruments: instruments('SIMX'), clock, seed: 9, market });
    venues.push(v);
    v.send(order({ clOrdId: 'EARLY', side: 'buy', quantity: '7', price: '200' }));
    const rec = new Recorder();
    v.subscribe(rec);
    flush();
    expect(rec.md.filter((m) => m.type === 'depthSnapshot').map((m) => m.symbol)).toEqual(['AAPL', 'MSFT']);
    expect(rec.md[0]).toMatchObject({ type: 'depthSnapshot', symbol: 'AAPL', bids: [['200', '7']], asks: [] });

    for (let i = 0; i < 300; i++) {
      clock.advance(100n * NS_PER_MS);
      v.tick();
      if (i % 10 === 0) v.send(order({ side: i % 20 ? 'buy' : 'sell', quantity: '50', orderType: 'market', tif: 'IOC' }));
      if (i % 7 === 0) v.send(order({ side: 'sell', quantity: '30', price: '416', symbol: 'MSFT', tif: 'GTC' }));
    }
    flush();
    const seqs = rec.md.map((m) => m.feedSeq);
    expect(seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1)).toBe(true);
    const trades = rec.md.filter((m) => m.type === 'trade');
    expect(trades.length).toBeGreaterThan(20);
    expect(new Set(trades.map((t) => t.type === 'trade' && t.tradeId)).size).toBe(trades.length);
    const rebuilt = rebuild(rec.md);
    for (const sym of ['AAPL', 'MSFT']) {
      expect(rebuilt.get(sym)!.buy).toEqual(bookOf(v, sym, 'buy'));
      expect(rebuilt.get(sym)!.sell).toEqual(bookOf(v, sym, 'sell'));
      const q = rec.md.filter((m) => m.type === 'quote' && m.symbol === sym).at(-1);
      const b = v.book(sym);
      expect(q).toMatchObject({ bid: formatDecimal(b.bestPrice('buy')!), bidSize: formatDecimal(b.bestSize('buy')), ask: formatDecimal(b.bestPrice('sell')!), askSize: formatDecimal(b.bestSize('sell')) });
    }
  });

  it('publishes trades with the aggressor side and a quote when the top changes', () => {
    const { v, rec } = venue();
    flush();
    rec.clear();
    v.send(order({ side: 'sell', quantity: '5', price: '100' }));
    v.send(order({ side: 'buy', quantity: '2', price: '100' }));
    v.send(order({ side: 'sell', quantity: '1', price: '105' })); // not at the top: no quote
    flush();
    expect(rec.md.map((m) => m.type)).toEqual(['depthUpdate', 'quote', 'trade', 'depthUpdate', 'quote', 'depthUpdate']);
    expect(rec.md[2]).toMatchObject({ type: 'trade', symbol: 'AAPL', price: '100', quantity: '2', aggressor: 'buy' });
    expect(rec.md[4]).toMatchObject({ type: 'quote', bid: undefined, bidSize: '0', ask: '100', askSize: '3' });
  });
});

describe('SimVenue: fault injection', () => {
  it('drops reports, which reconciliation still sees', async () => {
    const { v, rec } = venue({ faults: { dropReportProb: 1 } });
    v.send(order({ clOrdId: 'X1', side: 'buy', quantity: '5', price: '100' }));
    v.send(order({ clOrdId: 'X2', account: 'OTHER', side: 'sell', quantity: '2', price: '100' }));
    flush();
    expect(rec.ers).toEqual([]);
    expect((await v.executionsSince('ACC1', 0n)).map((r) => r.execType)).toEqual(['new', 'trade']);
    expect(await v.openOrders('ACC1')).toEqual([expect.objectContaining({ execType: 'orderStatus', clOrdId: 'X1', cumQty: '2', leavesQty: '3' })]);
    v.setFaults({});
    v.send(order({ clOrdId: 'X3', side: 'buy', quantity: '5', price: '100' }));
    flush();
    expect(rec.types('X3')).toEqual(['new']);
  });

  it('duplicates reports with the same execId', () => {
    const { v, rec } = venue({ faults: { duplicateReportProb: 1 } });
    v.send(order({ clOrdId: 'X1', side: 'buy', quantity: '5', price: '100' }));
    flush();
    expect(rec.of('X1').map((r) => r.execType)).toEqual(['new', 'new']);
    expect(rec.of('X1')[0]!.execId).toBe(rec.of('X1')[1]!.execId);
  });

  it('delays reports past later ones', () => {
    const { v, rec } = venue({ faults: { delayReportProb: 1, delayMs: 50 } });
    v.send(order({ clOrdId: 'SLOW', side: 'buy', quantity: '5', price: '100' }));
    v.setFaults({});
    v.send(order({ clOrdId: 'FAST', side: 'buy', quantity: '5', price: '100' }));
    flush();
    expect(rec.ers.map((r) => r.clOrdId)).toEqual(['FAST']);
    vi.advanceTimersByTime(49);
    expect(rec.ers).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(rec.ers.map((r) => r.clOrdId)).toEqual(['FAST', 'SLOW']);
  });

  it('reorders: holds one report back and delivers it after the next', () => {
    const { v, rec } = venue({ faults: { reorderReportProb: 1 } });
    v.send(order({ clOrdId: 'R1', side: 'buy', quantity: '5', price: '100' }));
    v.send(order({ clOrdId: 'R2', side: 'buy', quantity: '5', price: '100' }));
    v.send(order({ clOrdId: 'R3', side: 'buy', quantity: '5', price: '100' }));
    flush();
    expect(rec.ers.map((r) => r.clOrdId)).toEqual(['R2', 'R1']);
    // nothing came after R3: it is released after the hold limit
    vi.advanceTimersByTime(99);
    expect(rec.ers.map((r) => r.clOrdId)).toEqual(['R2', 'R1']);
    // the release queues a setImmediate, which fake timers run 1 ms later when queued inside a timer
    vi.advanceTimersByTime(2);
    expect(rec.ers.map((r) => r.clOrdId)).toEqual(['R2', 'R1', 'R3']);
  });

  it('delivers with latency', () => {
    const { v, rec } = venue({ latencyMs: 5 });
    v.send(order({ clOrdId: 'L1', side: 'buy', quantity: '5', price: '100' }));
    flush();
    expect(rec.ers).toEqual([]);
    vi.advanceTimersByTime(5);
    expect(rec.types('L1')).toEqual(['new']);
  });

  it('disconnects: commands are dropped, state still changes, reconciliation finds it after reconnect', async () => {
    const { v, rec } = venue();
    v.send(order({ clOrdId: 'G1', side: 'buy', quantity: '5', price: '100' }));
    flush();
    const tsBefore = BigInt(rec.of('G1')[0]!.venueTs);
    rec.clear();
    v.disconnect();
    expect(v.connected).toBe(false);
    v.send(order({ clOrdId: 'LOST', side: 'buy', quantity: '5', price: '100' }));
    v.submitHouseOrder('AAPL', { owner: 'house', side: 'sell', type: 'market', tif: 'IOC', qty: parseDecimal('3') });
    await expect(v.positions('ACC1')).rejects.toThrow(/VENUE_DISCONNECTED/);
    flush();
    expect(rec.conn).toEqual([false]);
    expect(rec.ers).toEqual([]);
    expect(rec.md).toEqual([]);

    v.reconnect();
    flush();
    expect(rec.conn).toEqual([false, true]);
    expect(rec.md.filter((m) => m.type === 'depthSnapshot').map((m) => m.symbol)).toEqual(['AAPL', 'MSFT']);
    expect(await v.positions('ACC1')).toEqual({ AAPL: '3' });
    const since = await v.executionsSince('ACC1', tsBefore + 1n);
    expect(since.map((r) => [r.clOrdId, r.execType, r.lastQty])).toEqual([['G1', 'trade', '3']]);
    expect((await v.openOrders('ACC1')).map((r) => r.clOrdId)).toEqual(['G1']);
    v.send({ type: 'status', clOrdId: 'LOST', symbol: 'AAPL' });
    flush();
    expect(rec.of('LOST')).toEqual([expect.objectContaining({ execType: 'rejected', reason: 'UNKNOWN_ORDER' })]);
  });

  it('loses what is in flight when the session drops', async () => {
    const { v, rec } = venue({ latencyMs: 2 });
    v.send(order({ clOrdId: 'F1', side: 'buy', quantity: '5', price: '100' }));
    v.disconnect();
    vi.advanceTimersByTime(10);
    expect(rec.ers).toEqual([]);
    expect(rec.conn).toEqual([false]);
    v.reconnect();
    vi.advanceTimersByTime(10);
    expect(rec.conn).toEqual([false, true]);
    expect((await v.openOrders('ACC1')).map((r) => [r.clOrdId, r.ordStatus])).toEqual([['F1', 'New']]);
  });

  it('refuses invalid fault settings', () => {
    const { v } = venue();
    expect(() => v.setFaults({ dropReportProb: 1.5 })).toThrow(/probability/);
    expect(() => v.setFaults({ delayReportProb: 0.1, delayMs: -1 })).toThrow(/delayMs/);
  });
});

describe('SimVenue: reconciliation views', () => {
  it('nets positions per symbol and filters executions by venue time', async () => {
    const { v } = venue();
    v.send(order({ clOrdId: 'p1', account: 'A', side: 'buy', quantity: '10', price: '100' }));
    v.send(order({ clOrdId: 'p2', account: 'B', side: 'sell', quantity: '4', price: '100' }));
    v.send(order({ clOrdId: 'p3', account: 'A', symbol: 'MSFT', side: 'sell', quantity: '3', price: '50' }));
    v.send(order({ clOrdId: 'p4', account: 'B', symbol: 'MSFT', side: 'buy', quantity: '3', price: '50' }));
    expect(await v.positions('A')).toEqual({ AAPL: '4', MSFT: '-3' });
    expect(await v.positions('B')).toEqual({ AAPL: '-4', MSFT: '3' });
    expect(await v.positions('NOBODY')).toEqual({});
    const all = await v.executionsSince('A', 0n);
    expect(all.map((r) => `${r.clOrdId}:${r.execType}`)).toEqual(['p1:new', 'p1:trade', 'p3:new', 'p3:trade']);
    const cut = BigInt(all[2]!.venueTs);
    expect((await v.executionsSince('A', cut)).map((r) => `${r.clOrdId}:${r.execType}`)).toEqual(['p3:new', 'p3:trade']);
    expect(await v.executionsSince('A', cut + 1_000_000n)).toEqual([]);
  });
});

describe('SimVenue: background agents', () => {
  function world(clock: Clock): { x: SimVenue; y: SimVenue; market: SimMarket } {
    const u = defaultSimInstruments();
    const market = new SimMarket({ seed: 11, clock, symbols: u.symbols });
    const cal = buildCalendars([]);
    const mk = (id: string): SimVenue => {
      const v = new SimVenue({ id, instruments: u.instruments.filter((s) => s.venue === id).map((s) => buildInstrument(s, cal)), clock, seed: 5, market });
      venues.push(v);
      return v;
    };
    return { x: mk('SIMX'), y: mk('SIMY'), market };
  }

  it('keep both venues trading around the shared fair value', () => {
    const clock = new ManualClock();
    const { x, y, market } = world(clock);
    const rx = new Recorder();
    x.subscribe(rx);
    const seconds = 60;
    for (let i = 0; i < seconds * 10; i++) {
      clock.advance(100n * NS_PER_MS);
      x.tick();
      y.tick();
      for (const v of [x, y]) {
        for (const s of v.symbols()) {
          const b = v.book(s);
          const bid = b.bestPrice('buy');
          const ask = b.bestPrice('sell');
          if (bid !== undefined && ask !== undefined) expect(bid < ask).toBe(true);
        }
      }
    }
    flush();
    // about one trade per second per symbol
    for (const s of x.symbols()) {
      const n = rx.md.filter((m) => m.type === 'trade' && m.symbol === s).length;
      expect(n).toBeGreaterThan(seconds / 3);
      expect(n).toBeLessThan(seconds * 10);
    }
    const tick = parseDecimal('0.01');
    for (const s of x.symbols()) {
      const fair = market.fairValue(s);
      for (const v of [x, y]) {
        const b = v.book(s);
        expect(b.levelCount('buy')).toBeGreaterThan(0);
        expect(b.levelCount('sell')).toBeGreaterThan(0);
        const mid = (b.bestPrice('buy')! + b.bestPrice('sell')!) / 2n;
        expect(mid > fair - 10n * tick && mid < fair + 10n * tick).toBe(true);
      }
    }
    // fair value moved: the walk is alive
    const u = defaultSimInstruments();
    expect(x.symbols().some((s) => market.fairValue(s) !== parseDecimal(u.fairValues[s]!))).toBe(true);
  });

  it('is deterministic for a seed', () => {
    const run = (): string[] => {
      const clock = new ManualClock();
      const { x } = world(clock);
      const r = new Recorder();
      x.subscribe(r);
      for (let i = 0; i < 100; i++) {
        clock.advance(100n * NS_PER_MS);
        x.tick();
      }
      flush();
      x.stop();
      return r.md.filter((m) => m.type === 'trade').map((m) => (m.type === 'trade' ? `${m.symbol}@${m.price}x${m.quantity}` : ''));
    };
    const a = run();
    expect(a.length).toBeGreaterThan(0);
    expect(run()).toEqual(a);
  });

  it('runs on its own timer after start() and leaves no timer after stop()', () => {
    const clock: Clock = { now: (() => {
      let last = 0n;
      return () => {
        const t = BigInt(Date.now()) * NS_PER_MS;
        last = t > last ? t : last + 1n;
        return last;
      };
    })() };
    const { x } = world(clock);
    const r = new Recorder();
    x.subscribe(r);
    x.start();
    vi.advanceTimersByTime(5_000);
    expect(r.md.filter((m) => m.type === 'trade').length).toBeGreaterThan(0);
    x.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
