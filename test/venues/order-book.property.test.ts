import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../src/core/fixed.js';
import type { Side, TimeInForce } from '../../src/core/types.js';
import { OrderBook, type BookEvent, type RestingOrder, type StpPolicy } from '../../src/venues/sim/order-book.js';

const TICK = parseDecimal('0.01');
const LOT = parseDecimal('1');
const BASE = parseDecimal('100');

type Op =
  | { k: 'limit'; side: Side; tif: TimeInForce; ticks: number; lots: number; stg: string | undefined }
  | { k: 'market'; side: Side; tif: TimeInForce; lots: number; stg: string | undefined }
  | { k: 'cancel'; pick: number }
  | { k: 'replace'; pick: number; lots: number; ticks: number | undefined }
  | { k: 'expire' };

const side = fc.constantFrom<Side>('buy', 'sell');
const tif = fc.constantFrom<TimeInForce>('DAY', 'GTC', 'IOC', 'FOK');
const stg = fc.constantFrom<string | undefined>(undefined, 'A', 'A', 'B');
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('limit' as const), side, tif, ticks: fc.integer({ min: -6, max: 6 }), lots: fc.integer({ min: 1, max: 12 }), stg }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('market' as const), side, tif, lots: fc.integer({ min: 1, max: 20 }), stg }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('cancel' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('replace' as const), pick: fc.nat(), lots: fc.integer({ min: 1, max: 12 }), ticks: fc.option(fc.integer({ min: -6, max: 6 }), { nil: undefined }) }),
  },
  { weight: 1, arbitrary: fc.constant({ k: 'expire' as const }) },
);

interface ModelOrder {
  side: Side;
  price: bigint | undefined;
  qty: bigint;
  filled: bigint;
  canceled: bigint;
  expired: bigint;
}

/** Resting orders of one side in the order a taker must meet them: best price first, then time. */
function queue(book: OrderBook, s: Side): RestingOrder[] {
  const out: RestingOrder[] = [];
  for (const [price] of book.depth(s)) out.push(...book.levelOrders(s, price));
  return out;
}

function run(stp: StpPolicy, ops: Op[]): void {
  const book = new OrderBook({ symbol: 'PROP', tickSize: TICK, lotSize: LOT, makerBps: parseDecimal('-0.2'), takerBps: parseDecimal('0.3'), stp });
  const model = new Map<string, ModelOrder>();
  const ids: string[] = [];
  const mirror = { buy: new Map<bigint, bigint>(), sell: new Map<bigint, bigint>() };
  let bought = 0n;
  let sold = 0n;
  let n = 0;

  for (const o of ops) {
    // who is the aggressor of this operation, and the queue it must meet, taken before the operation
    let aggressor: { id: string; side: Side; limit: bigint | undefined } | undefined;
    let ev: BookEvent[];
    if (o.k === 'limit' || o.k === 'market') {
      const id = `o${++n}`;
      const price = o.k === 'limit' ? BASE + BigInt(o.ticks) * TICK : undefined;
      aggressor = { id, side: o.side, limit: price };
      const q = queue(book, o.side === 'buy' ? 'sell' : 'buy');
      ev = book.submit({ id, side: o.side, type: o.k, tif: o.tif, qty: BigInt(o.lots) * LOT, price, selfTradeGroup: o.stg });
      checkPriority(ev, aggressor, q);
      const filled = ev.reduce((a, e) => (e.type === 'fill' ? a + e.qty : a), 0n);
      // FOK: all or nothing; IOC and market orders never rest
      if (o.tif === 'FOK' && ev[0]?.type === 'accepted') expect(filled === 0n || filled === BigInt(o.lots) * LOT).toBe(true);
      if (o.k === 'market' || o.tif === 'IOC' || o.tif === 'FOK') expect(book.order(id)).toBeUndefined();
    } else if (o.k === 'cancel') {
      ev = book.cancel(ids.length === 0 ? 'none' : ids[o.pick % ids.length]!);
    } else if (o.k === 'replace') {
      const id = ids.length === 0 ? 'none' : ids[o.pick % ids.length]!;
      const cur = book.order(id);
      const price = o.ticks === undefined ? undefined : BASE + BigInt(o.ticks) * TICK;
      const q = cur === undefined ? [] : queue(book, cur.side === 'buy' ? 'sell' : 'buy');
      const before = cur === undefined ? undefined : { price: cur.price, qty: cur.qty, priority: cur.priority };
      ev = book.replace(id, BigInt(o.lots) * LOT, price);
      if (cur !== undefined) checkPriority(ev, { id, side: cur.side, limit: price ?? cur.price }, q);
      const r = ev[0];
      if (before !== undefined && r?.type === 'replaced') {
        // priority is kept exactly when the price is unchanged and the quantity does not grow
        const keep = r.price === before.price && r.qty <= before.qty;
        expect(r.keptPriority).toBe(keep);
        const after = book.order(id);
        if (after !== undefined) expect(keep ? after.priority === before.priority : after.priority > before.priority).toBe(true);
      }
    } else {
      ev = book.expireDayOrders();
    }

    for (const e of ev) {
      switch (e.type) {
        case 'accepted':
          model.set(e.id, { side: e.side, price: e.price, qty: e.qty, filled: 0n, canceled: 0n, expired: 0n });
          ids.push(e.id);
          break;
        case 'fill': {
          const m = model.get(e.makerId)!;
          const t = model.get(e.takerId)!;
          expect(m.side).not.toBe(t.side);
          m.filled += e.qty;
          t.filled += e.qty;
          expect(e.makerFilled).toBe(m.filled);
          expect(e.takerFilled).toBe(t.filled);
          expect(e.qty > 0n).toBe(true);
          if (t.side === 'buy') bought += e.qty;
          else sold += e.qty;
          if (m.side === 'buy') bought += e.qty;
          else sold += e.qty;
          break;
        }
        case 'canceled':
          model.get(e.id)!.canceled += e.canceledQty;
          break;
        case 'expired':
          model.get(e.id)!.expired += e.expiredQty;
          break;
        case 'replaced':
          model.get(e.id)!.qty = e.qty;
          model.get(e.id)!.price = e.price;
          break;
        case 'level':
          if (e.size === 0n) mirror[e.side].delete(e.price);
          else mirror[e.side].set(e.price, e.size);
          break;
        default:
          break;
      }
    }

    // never crossed
    const bid = book.bestPrice('buy');
    const ask = book.bestPrice('sell');
    if (bid !== undefined && ask !== undefined) expect(bid < ask).toBe(true);
    // both sides of every trade are equal
    expect(bought).toBe(sold);
    // quantity conserved for every order ever accepted
    for (const [id, m] of model) {
      const r = book.order(id);
      const resting = r?.leaves ?? 0n;
      expect(m.filled + resting + m.canceled + m.expired).toBe(m.qty);
      if (r !== undefined) expect([r.side, r.price, r.qty, r.filled]).toEqual([m.side, m.price, m.qty, m.filled]);
    }
    // levels are sums of their orders, and the level events rebuild the depth exactly
    for (const s of ['buy', 'sell'] as const) {
      const depth = book.depth(s);
      for (const [price, size] of depth) {
        const orders = book.levelOrders(s, price);
        expect(orders.reduce((a, x) => a + x.leaves, 0n)).toBe(size);
        expect(orders.every((x, i) => i === 0 || orders[i - 1]!.priority < x.priority)).toBe(true);
      }
      for (let i = 1; i < depth.length; i++) expect(s === 'buy' ? depth[i - 1]![0] > depth[i]![0] : depth[i - 1]![0] < depth[i]![0]).toBe(true);
      expect(new Map(depth)).toEqual(mirror[s]);
    }
  }
}

/**
 * Price-time priority: the fills and STP cancels of resting orders must walk the opposite queue in
 * order, every maker but the last one fully consumed, each at the maker's own price.
 */
function checkPriority(ev: BookEvent[], agg: { id: string; side: Side; limit: bigint | undefined }, q: RestingOrder[]): void {
  let ptr = 0;
  let partial = false;
  for (const e of ev) {
    if (e.type === 'fill') {
      expect(partial).toBe(false);
      expect(e.takerId).toBe(agg.id);
      const maker = q[ptr];
      expect(maker?.id).toBe(e.makerId);
      expect(e.price).toBe(maker!.price);
      if (agg.limit !== undefined) expect(agg.side === 'buy' ? e.price <= agg.limit : e.price >= agg.limit).toBe(true);
      if (e.makerLeaves === 0n) ptr++;
      else partial = true;
    } else if (e.type === 'canceled' && e.reason === 'SELF_TRADE_PREVENTION' && e.id !== agg.id) {
      expect(q[ptr]?.id).toBe(e.id);
      ptr++;
    }
  }
}

describe('OrderBook properties', () => {
  for (const stp of ['none', 'cancelResting', 'cancelIncoming'] as const) {
    it(`random order flow keeps the book consistent (stp ${stp})`, () => {
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 120, size: 'max' }), (ops) => run(stp, ops)),
        { numRuns: 200, seed: 20260101 },
      );
    });
  }

  it('the checks catch a broken book (a taker that skips the best level)', () => {
    // guards against a vacuous property: the priority check must fail on an out-of-order fill
    const fake: BookEvent[] = [
      { type: 'fill', matchId: 1, price: BASE + TICK, qty: LOT, aggressor: 'buy', makerId: 'second', makerFilled: LOT, makerLeaves: 0n, makerFee: 0n, takerId: 't', takerFilled: LOT, takerLeaves: 0n, takerFee: 0n },
    ];
    const q = [{ id: 'first', price: BASE } as RestingOrder, { id: 'second', price: BASE + TICK } as RestingOrder];
    expect(() => checkPriority(fake, { id: 't', side: 'buy', limit: BASE + TICK }, q)).toThrow();
  });
});
