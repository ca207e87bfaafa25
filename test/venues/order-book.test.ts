import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../src/core/fixed.js';
import type { Side, TimeInForce } from '../../src/core/types.js';
import { OrderBook, type BookEvent, type FillEvent, type OrderBookConfig, type StpPolicy } from '../../src/venues/sim/order-book.js';

const d = (s: string): bigint => parseDecimal(s);

function newBook(extra: Partial<OrderBookConfig> = {}): OrderBook {
  return new OrderBook({ symbol: 'TEST', tickSize: d('0.01'), lotSize: d('1'), ...extra });
}

let seq = 0;
function limit(book: OrderBook, side: Side, price: string, qty: string, extra: { id?: string; tif?: TimeInForce; stg?: string } = {}): BookEvent[] {
  return book.submit({ id: extra.id ?? `o${++seq}`, side, type: 'limit', tif: extra.tif ?? 'DAY', price: d(price), qty: d(qty), selfTradeGroup: extra.stg });
}

function market(book: OrderBook, side: Side, qty: string, extra: { id?: string; tif?: TimeInForce; stg?: string } = {}): BookEvent[] {
  return book.submit({ id: extra.id ?? `o${++seq}`, side, type: 'market', tif: extra.tif ?? 'IOC', qty: d(qty), selfTradeGroup: extra.stg });
}

const fills = (ev: BookEvent[]): FillEvent[] => ev.filter((e): e is FillEvent => e.type === 'fill');
const kinds = (ev: BookEvent[]): string[] => ev.map((e) => e.type);
const depth = (book: OrderBook, side: Side): [string, string][] => book.depth(side).map(([p, q]) => [String(p), String(q)]);

describe('OrderBook: resting and matching', () => {
  it('rests a limit order and reports the new level', () => {
    const b = newBook();
    const ev = limit(b, 'buy', '100.00', '10', { id: 'b1' });
    expect(ev).toEqual([
      { type: 'accepted', id: 'b1', side: 'buy', qty: d('10'), price: d('100') },
      { type: 'level', side: 'buy', price: d('100'), size: d('10') },
    ]);
    expect(b.bestPrice('buy')).toBe(d('100'));
    expect(b.bestSize('buy')).toBe(d('10'));
    expect(b.bestPrice('sell')).toBeUndefined();
    expect(b.order('b1')?.leaves).toBe(d('10'));
  });

  it('trades at the resting price with maker and taker fees on the exact notional', () => {
    const b = newBook({ makerBps: d('-0.2'), takerBps: d('0.3') });
    limit(b, 'sell', '100.01', '5', { id: 's1' });
    const ev = limit(b, 'buy', '100.05', '3', { id: 'b1' });
    expect(kinds(ev)).toEqual(['accepted', 'fill', 'level']);
    const [f] = fills(ev);
    // notional 300.03: taker 0.3 bp = 0.0090009, maker -0.2 bp = -0.0060006
    expect(f).toMatchObject({ price: d('100.01'), qty: d('3'), aggressor: 'buy', makerId: 's1', takerId: 'b1', makerLeaves: d('2'), takerLeaves: 0n });
    expect(f!.takerFee).toBe(d('0.0090009'));
    expect(f!.makerFee).toBe(d('-0.0060006'));
    expect(b.order('b1')).toBeUndefined();
    expect(b.order('s1')?.leaves).toBe(d('2'));
    expect(ev[2]).toEqual({ type: 'level', side: 'sell', price: d('100.01'), size: d('2') });
  });

  it('takes the best price first and the earliest order within a level', () => {
    const b = newBook();
    limit(b, 'sell', '101', '5', { id: 'far' });
    limit(b, 'sell', '100', '5', { id: 'first' });
    limit(b, 'sell', '100', '5', { id: 'second' });
    const ev = limit(b, 'buy', '101', '12', { id: 'taker' });
    expect(fills(ev).map((f) => [f.makerId, f.price, f.qty])).toEqual([
      ['first', d('100'), d('5')],
      ['second', d('100'), d('5')],
      ['far', d('101'), d('2')],
    ]);
    expect(depth(b, 'sell')).toEqual([[String(d('101')), String(d('3'))]]);
  });

  it('rests the unfilled remainder of a marketable limit order at its limit', () => {
    const b = newBook();
    limit(b, 'sell', '100', '4', { id: 's1' });
    const ev = limit(b, 'buy', '100.5', '10', { id: 'b1' });
    expect(kinds(ev)).toEqual(['accepted', 'fill', 'level', 'level']);
    expect(b.order('b1')).toMatchObject({ filled: d('4'), leaves: d('6'), price: d('100.5') });
    expect(b.bestPrice('buy')).toBe(d('100.5'));
    expect(b.bestPrice('sell')).toBeUndefined();
  });

  it('reports one coalesced level change when several orders at a level trade', () => {
    const b = newBook();
    for (let i = 0; i < 3; i++) limit(b, 'buy', '99', '2');
    const ev = limit(b, 'sell', '99', '5');
    expect(ev.filter((e) => e.type === 'level')).toEqual([{ type: 'level', side: 'buy', price: d('99'), size: d('1') }]);
  });

  it('never rests a market order: sweeps and cancels the rest', () => {
    const b = newBook();
    limit(b, 'buy', '99', '3', { id: 'a' });
    limit(b, 'buy', '98', '3', { id: 'b' });
    const ev = market(b, 'sell', '10', { id: 'm', tif: 'GTC' });
    expect(fills(ev).map((f) => [f.makerId, f.qty])).toEqual([
      ['a', d('3')],
      ['b', d('3')],
    ]);
    expect(ev.find((e) => e.type === 'canceled')).toEqual({ type: 'canceled', id: 'm', reason: 'MARKET_NO_LIQUIDITY', canceledQty: d('4'), filled: d('6') });
    expect(b.size).toBe(0);
    expect(kinds(market(b, 'buy', '1', { id: 'm2' }))).toEqual(['accepted', 'canceled']);
  });

  it('IOC fills what it can now and cancels the rest', () => {
    const b = newBook();
    limit(b, 'sell', '100', '3');
    const ev = limit(b, 'buy', '100', '5', { id: 'ioc', tif: 'IOC' });
    expect(fills(ev)[0]!.qty).toBe(d('3'));
    expect(ev.find((e) => e.type === 'canceled')).toMatchObject({ id: 'ioc', reason: 'IOC_REMAINDER', canceledQty: d('2') });
    expect(b.bestPrice('buy')).toBeUndefined();
  });

  it('FOK fills completely at once or not at all', () => {
    const b = newBook();
    limit(b, 'sell', '100', '3', { id: 's1' });
    limit(b, 'sell', '101', '3', { id: 's2' });
    const killed = limit(b, 'buy', '100', '4', { id: 'fok1', tif: 'FOK' });
    expect(kinds(killed)).toEqual(['accepted', 'canceled']);
    expect(killed[1]).toMatchObject({ reason: 'FOK_NOT_FILLABLE', canceledQty: d('4'), filled: 0n });
    expect(b.order('s1')?.leaves).toBe(d('3'));

    const done = limit(b, 'buy', '101', '5', { id: 'fok2', tif: 'FOK' });
    expect(fills(done).reduce((a, f) => a + f.qty, 0n)).toBe(d('5'));
    expect(done.some((e) => e.type === 'canceled')).toBe(false);
    const mkt = market(b, 'buy', '2', { tif: 'FOK' });
    expect(kinds(mkt)).toEqual(['accepted', 'canceled']);
  });
});

describe('OrderBook: cancel and replace', () => {
  it('cancels from the middle of a level without disturbing the others', () => {
    const b = newBook();
    limit(b, 'buy', '99', '1', { id: 'a' });
    limit(b, 'buy', '99', '2', { id: 'b' });
    limit(b, 'buy', '99', '3', { id: 'c' });
    const ev = b.cancel('b');
    expect(ev).toEqual([
      { type: 'canceled', id: 'b', reason: 'REQUESTED', canceledQty: d('2'), filled: 0n },
      { type: 'level', side: 'buy', price: d('99'), size: d('4') },
    ]);
    expect(b.levelOrders('buy', d('99')).map((o) => o.id)).toEqual(['a', 'c']);
    b.cancel('a');
    const last = b.cancel('c');
    expect(last[1]).toEqual({ type: 'level', side: 'buy', price: d('99'), size: 0n });
    expect(b.levelCount('buy')).toBe(0);
    expect(b.cancel('c')).toEqual([{ type: 'cancelRejected', id: 'c', request: 'cancel', reason: 'UNKNOWN_ORDER', text: expect.any(String) }]);
  });

  it('keeps time priority when only the quantity goes down', () => {
    const b = newBook();
    limit(b, 'sell', '100', '5', { id: 'a' });
    limit(b, 'sell', '100', '5', { id: 'b' });
    const ev = b.replace('a', d('2'));
    expect(ev[0]).toMatchObject({ type: 'replaced', id: 'a', qty: d('2'), oldQty: d('5'), keptPriority: true, leaves: d('2') });
    expect(b.levelOrders('sell', d('100')).map((o) => o.id)).toEqual(['a', 'b']);
    expect(b.bestSize('sell')).toBe(d('7'));
  });

  it('loses time priority when the quantity goes up or the price changes', () => {
    const b = newBook();
    limit(b, 'sell', '100', '5', { id: 'a' });
    limit(b, 'sell', '100', '5', { id: 'b' });
    expect(b.replace('a', d('6'))[0]).toMatchObject({ keptPriority: false });
    expect(b.levelOrders('sell', d('100')).map((o) => o.id)).toEqual(['b', 'a']);
    b.replace('b', d('5'), d('100.01'));
    b.replace('b', d('5'), d('100'));
    expect(b.levelOrders('sell', d('100')).map((o) => o.id)).toEqual(['a', 'b']);
  });

  it('rejects a replace to a quantity not above the filled quantity', () => {
    const b = newBook();
    limit(b, 'sell', '100', '5', { id: 'a' });
    limit(b, 'buy', '100', '3');
    expect(b.replace('a', d('3'))).toEqual([{ type: 'cancelRejected', id: 'a', request: 'replace', reason: 'QTY_BELOW_FILLED', text: expect.any(String) }]);
    expect(b.replace('a', d('4'))[0]).toMatchObject({ type: 'replaced', qty: d('4'), filled: d('3'), leaves: d('1') });
    expect(b.replace('a', d('4'), d('100.001'))[0]).toMatchObject({ type: 'cancelRejected', reason: 'INVALID_PRICE' });
    expect(b.replace('zz', d('4'))[0]).toMatchObject({ type: 'cancelRejected', reason: 'UNKNOWN_ORDER' });
  });

  it('a replace to a crossing price trades as a taker and rests the rest', () => {
    const b = newBook();
    limit(b, 'sell', '101', '2', { id: 's' });
    limit(b, 'buy', '100', '5', { id: 'b' });
    const ev = b.replace('b', d('5'), d('101'));
    expect(kinds(ev)).toEqual(['replaced', 'fill', 'level', 'level', 'level']);
    expect(fills(ev)[0]).toMatchObject({ takerId: 'b', makerId: 's', price: d('101'), qty: d('2') });
    expect(depth(b, 'buy')).toEqual([[String(d('101')), String(d('3'))]]);
  });
});

describe('OrderBook: validation, halts and sessions', () => {
  it('rejects malformed orders with a reason code', () => {
    const b = newBook({ minQty: d('2'), maxQty: d('100') });
    const reason = (ev: BookEvent[]): string | undefined => (ev[0]?.type === 'rejected' ? ev[0].reason : undefined);
    expect(reason(limit(b, 'buy', '100.001', '5'))).toBe('INVALID_PRICE');
    expect(reason(limit(b, 'buy', '0', '5'))).toBe('INVALID_PRICE');
    expect(reason(limit(b, 'buy', '-1', '5'))).toBe('INVALID_PRICE');
    expect(reason(b.submit({ id: 'x1', side: 'buy', type: 'limit', tif: 'DAY', qty: d('5') }))).toBe('INVALID_PRICE');
    expect(reason(b.submit({ id: 'x2', side: 'buy', type: 'market', tif: 'IOC', qty: d('5'), price: d('100') }))).toBe('INVALID_PRICE');
    expect(reason(limit(b, 'buy', '100', '0'))).toBe('INVALID_QUANTITY');
    expect(reason(limit(b, 'buy', '100', '-3'))).toBe('INVALID_QUANTITY');
    expect(reason(limit(b, 'buy', '100', '2.5'))).toBe('INVALID_QUANTITY');
    expect(reason(limit(b, 'buy', '100', '1'))).toBe('INVALID_QUANTITY');
    expect(reason(limit(b, 'buy', '100', '101'))).toBe('INVALID_QUANTITY');
    expect(reason(b.submit({ id: 'x3', side: 'buy', type: 'limit', tif: 'GTD' as TimeInForce, qty: d('5'), price: d('100') }))).toBe('INVALID_ORDER');
    limit(b, 'buy', '100', '5', { id: 'dup' });
    expect(reason(limit(b, 'buy', '100', '5', { id: 'dup' }))).toBe('DUPLICATE_ORDER_ID');
    expect(b.size).toBe(1);
  });

  it('refuses new orders and replaces while halted but allows cancels', () => {
    const b = newBook();
    limit(b, 'buy', '100', '5', { id: 'a' });
    b.setHalted(true);
    expect(limit(b, 'sell', '100', '5')[0]).toMatchObject({ type: 'rejected', reason: 'HALTED' });
    expect(b.replace('a', d('4'))[0]).toMatchObject({ type: 'cancelRejected', reason: 'HALTED' });
    expect(b.cancel('a')[0]).toMatchObject({ type: 'canceled', id: 'a' });
    b.setHalted(false);
    expect(limit(b, 'sell', '100', '5')[0]).toMatchObject({ type: 'accepted' });
  });

  it('refuses new orders while closed and expires only DAY orders', () => {
    const b = newBook();
    limit(b, 'buy', '100', '5', { id: 'day', tif: 'DAY' });
    limit(b, 'buy', '100', '5', { id: 'gtc', tif: 'GTC' });
    limit(b, 'sell', '101', '2', { id: 'day2', tif: 'DAY' });
    b.setOpen(false);
    expect(limit(b, 'sell', '100', '5')[0]).toMatchObject({ type: 'rejected', reason: 'CLOSED' });
    const ev = b.expireDayOrders();
    expect(ev.filter((e) => e.type === 'expired').map((e) => e.id).sort()).toEqual(['day', 'day2']);
    expect(ev.filter((e) => e.type === 'level')).toEqual([
      { type: 'level', side: 'buy', price: d('100'), size: d('5') },
      { type: 'level', side: 'sell', price: d('101'), size: 0n },
    ]);
    expect([...b.orders()].map((o) => o.id)).toEqual(['gtc']);
  });
});

describe('OrderBook: self-trade prevention', () => {
  const setup = (stp: StpPolicy): OrderBook => {
    const b = newBook({ stp });
    limit(b, 'sell', '100', '2', { id: 'own', stg: 'G' });
    limit(b, 'sell', '100', '3', { id: 'other', stg: 'H' });
    return b;
  };

  it('cancelResting cancels the resting order of the same group and keeps matching', () => {
    const b = setup('cancelResting');
    const ev = limit(b, 'buy', '100', '3', { id: 'in', stg: 'G' });
    expect(ev.find((e) => e.type === 'canceled')).toMatchObject({ id: 'own', reason: 'SELF_TRADE_PREVENTION', canceledQty: d('2') });
    expect(fills(ev).map((f) => [f.makerId, f.qty])).toEqual([['other', d('3')]]);
  });

  it('cancelIncoming cancels the incoming order and leaves the book alone', () => {
    const b = setup('cancelIncoming');
    const ev = limit(b, 'buy', '100', '3', { id: 'in', stg: 'G' });
    expect(fills(ev)).toEqual([]);
    expect(ev.find((e) => e.type === 'canceled')).toMatchObject({ id: 'in', reason: 'SELF_TRADE_PREVENTION', canceledQty: d('3') });
    expect(b.bestSize('sell')).toBe(d('5'));
  });

  it('none lets the group trade with itself; orders without a group never match a group', () => {
    const b = setup('none');
    expect(fills(limit(b, 'buy', '100', '2', { stg: 'G' }))[0]!.makerId).toBe('own');
    const c = setup('cancelIncoming');
    expect(fills(limit(c, 'buy', '100', '2'))[0]!.makerId).toBe('own');
  });

  it('FOK counts only the liquidity STP would let it take', () => {
    const b = setup('cancelResting');
    expect(fills(limit(b, 'buy', '100', '4', { stg: 'G', tif: 'FOK' }))).toEqual([]);
    expect(b.order('own')).toBeDefined();
    const c = setup('cancelIncoming');
    expect(fills(limit(c, 'buy', '100', '1', { stg: 'G', tif: 'FOK' }))).toEqual([]);
  });

  it('FOK under cancelIncoming does not partly fill ahead of its own resting order', () => {
    const b = newBook({ stp: 'cancelIncoming' });
    limit(b, 'sell', '100', '2', { id: 'x' });
    limit(b, 'sell', '100', '2', { id: 'own', stg: 'G' });
    limit(b, 'sell', '100', '5', { id: 'y' });
    const ev = limit(b, 'buy', '100', '4', { stg: 'G', tif: 'FOK' });
    expect(kinds(ev)).toEqual(['accepted', 'canceled']);
    expect(b.bestSize('sell')).toBe(d('9'));
  });
});

describe('OrderBook: mass cancel', () => {
  it('cancels many orders as one operation: a canceled event each, then one level event per level changed', () => {
    const b = newBook();
    limit(b, 'buy', '99', '2', { id: 'm1' });
    limit(b, 'buy', '99', '3', { id: 'keep' });
    limit(b, 'buy', '98', '4', { id: 'm2' });
    limit(b, 'sell', '101', '5', { id: 'm3' });
    const ev = b.cancelMany(['m3', 'gone', 'm1', 'm2']);
    expect(ev).toEqual([
      { type: 'canceled', id: 'm3', reason: 'REQUESTED', canceledQty: d('5'), filled: 0n },
      { type: 'canceled', id: 'm1', reason: 'REQUESTED', canceledQty: d('2'), filled: 0n },
      { type: 'canceled', id: 'm2', reason: 'REQUESTED', canceledQty: d('4'), filled: 0n },
      { type: 'level', side: 'sell', price: d('101'), size: 0n },
      { type: 'level', side: 'buy', price: d('99'), size: d('3') },
      { type: 'level', side: 'buy', price: d('98'), size: 0n },
    ]);
    expect(depth(b, 'buy')).toEqual([[String(d('99')), String(d('3'))]]);
    expect(depth(b, 'sell')).toEqual([]);
    expect(b.order('keep')?.leaves).toBe(d('3'));
    // an order cancelled and reinserted at the same level in later operations is unaffected
    limit(b, 'buy', '99', '1', { id: 'm4' });
    expect(b.cancelMany([])).toEqual([]);
    expect(b.bestSize('buy')).toBe(d('4'));
  });
});
