import * as path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatDecimal, mul, parseDecimal } from '../../src/core/fixed.js';
import { Journal } from '../../src/engine/journal.js';
import { isOpen } from '../../src/oms/order-state.js';
import type { OrderStatus } from '../../src/core/types.js';
import { NodeDatabase } from '../../src/storage/database.js';
import { currentPositions, openOrders, pnlSeries, todaysFills, todaysFillSummary, todaysOrders } from '../../src/storage/queries.js';
import { databaseRoutes } from '../../src/storage/routes.js';
import { SyntheticFlow } from '../../src/storage/synthetic-flow.js';
import { appendFlow, createTarget, describeDrivers, sorted, type Target } from './helpers.js';

const ORDERS = 600;
/**
 * A second into today (UTC), so that "today" holds the whole flow; 999,999 ns past the millisecond,
 * so that the times shown must cut the fraction to milliseconds, not round it.
 */
const DAY = new Date();
const T0 = BigInt(Date.UTC(DAY.getUTCFullYear(), DAY.getUTCMonth(), DAY.getUTCDate()) + 1000) * 1_000_000n + 999_999n;

/** Epoch nanoseconds (a decimal string) as the ISO-8601 text of their millisecond. */
function isoOfNs(ns: string): string {
  return new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
}

interface Expected {
  open: string[];
  all: string[];
  fills: string[];
  fillsByStrategy: Map<string, number>;
  positions: Map<string, { quantity: string; realizedPnl: string }>;
  netByStrategy: Map<string, string>;
}

/** What the dashboard must show, computed from the journal alone. */
function expectedFrom(dir: string): Expected {
  const last = new Map<string, string>();
  const fills: string[] = [];
  const fillsByStrategy = new Map<string, number>();
  const pos = new Map<string, { strategyId: string; symbol: string; quantity: string; costBasis: string; realizedPnl: string; fees: string }>();
  const marks = new Map<string, bigint>();
  type Loose = { type: string; order?: { id: string; status: string }; fill: { id: string; strategyId: string }; position: typeof pos extends Map<string, infer P> ? P : never; m: { symbol: string; bid: string; ask: string } };
  for (const e of Journal.read(dir)) {
    const p = e.payload as unknown as Loose;
    if (p.order?.id) last.set(p.order.id, p.order.status);
    if (p.type === 'fill') {
      fills.push(p.fill.id);
      fillsByStrategy.set(p.fill.strategyId, (fillsByStrategy.get(p.fill.strategyId) ?? 0) + 1);
    }
    if (p.type === 'position') pos.set(`${p.position.strategyId}|${p.position.symbol}`, p.position);
    if (p.type === 'md.quote') marks.set(p.m.symbol, (parseDecimal(p.m.bid) + parseDecimal(p.m.ask)) / 2n);
  }
  const netByStrategy = new Map<string, bigint>();
  for (const p of pos.values()) {
    const unrealized = mul(parseDecimal(p.quantity), marks.get(p.symbol)!) - parseDecimal(p.costBasis);
    const net = parseDecimal(p.realizedPnl) + unrealized - parseDecimal(p.fees);
    netByStrategy.set(p.strategyId, (netByStrategy.get(p.strategyId) ?? 0n) + net);
  }
  return {
    open: [...last].filter(([, s]) => isOpen(s as OrderStatus)).map(([id]) => id),
    all: [...last.keys()],
    fills,
    fillsByStrategy,
    positions: new Map([...pos].map(([k, p]) => [k, { quantity: p.quantity, realizedPnl: p.realizedPnl }])),
    netByStrategy: new Map([...netByStrategy].map(([k, v]) => [k, formatDecimal(v)])),
  };
}

describeDrivers('dashboard queries', (kind) => {
  let t: Target;
  let journal: Journal;
  let db: NodeDatabase;
  let want: Expected;

  beforeAll(async () => {
    t = await createTarget(kind);
    journal = await Journal.open(path.join(t.dataDir, 'journal'), { fsync: false });
    appendFlow(journal, new SyntheticFlow(11), 1, ORDERS, T0);
    await journal.flush();
    db = NodeDatabase.start(t.settings, journal);
    await db.whenProjected(journal.lastSeq);
    want = expectedFrom(journal.dir);
  });

  afterAll(async () => {
    await db?.stop();
    await journal?.close();
    await t?.cleanup();
  });

  it('lists the open orders and today\'s orders', async () => {
    const open = await openOrders(db.reader, { limit: 10_000 });
    expect(want.open.length).toBeGreaterThan(0);
    expect(sorted(open.map((o) => o.id))).toEqual(sorted(want.open));
    expect(open.every((o) => o.leavesQuantity !== '0')).toBe(true);
    // times as Date.toISOString writes them (milliseconds, cut not rounded), formatted by the database
    for (const o of open) expect([o.createdAt, o.updatedAt]).toEqual([isoOfNs(o.createdTs), isoOfNs(o.updatedTs)]);
    // newest first
    expect(open.map((o) => o.createdTs)).toEqual([...open.map((o) => o.createdTs)].sort((a, b) => (BigInt(b) > BigInt(a) ? 1 : -1)));
    const byStrategy = await openOrders(db.reader, { strategyId: 'mm-2', limit: 10_000 });
    expect(byStrategy.length).toBeGreaterThan(0);
    expect(byStrategy.every((o) => o.strategyId === 'mm-2')).toBe(true);
    expect(await openOrders(db.reader, { limit: 3 })).toHaveLength(3);
    const today = await todaysOrders(db.reader, { day: DAY, limit: 10_000 });
    expect(sorted(today.map((o) => o.id))).toEqual(sorted(want.all));
    expect(await todaysOrders(db.reader, { day: new Date(DAY.getTime() - 86_400_000) })).toEqual([]);
  });

  it('lists today\'s fills and sums them per strategy', async () => {
    const fills = await todaysFills(db.reader, { day: DAY, limit: 10_000 });
    expect(sorted(fills.map((f) => f.id))).toEqual(sorted(want.fills));
    const f = fills[0]!;
    for (const x of fills) expect(x.at).toBe(isoOfNs(x.ts));
    expect(f.notional).toBe(formatDecimal(mul(parseDecimal(f.price), parseDecimal(f.quantity))));
    const summary = await todaysFillSummary(db.reader, DAY);
    expect(new Map(summary.map((s) => [s.strategyId, s.fills]))).toEqual(want.fillsByStrategy);
  });

  it('shows the current positions', async () => {
    const positions = await currentPositions(db.reader);
    expect(new Map(positions.map((p) => [`${p.strategyId}|${p.symbol}`, { quantity: p.quantity, realizedPnl: p.realizedPnl }]))).toEqual(want.positions);
  });

  it('gives the P&L series per strategy, ending at the P&L of its positions at the last marks', async () => {
    for (const [strategyId, net] of want.netByStrategy) {
      for (const interval of ['hour', 'day'] as const) {
        const series = await pnlSeries(db.reader, { interval, strategyId, from: new Date(Number(T0 / 1_000_000n) - 86_400_000), to: new Date(Date.now() + 86_400_000) });
        expect(series.length).toBeGreaterThan(0);
        expect(series.at(-1)!.netPnl).toBe(net);
        expect(series.reduce((n, p) => n + p.fills, 0)).toBe(want.fillsByStrategy.get(strategyId));
        // the buckets' own P&L adds up to the total
        expect(formatDecimal(series.reduce((n, p) => n + parseDecimal(p.pnl), 0n))).toBe(net);
      }
    }
    const account = await pnlSeries(db.reader, { interval: 'day', account: 'FIRM-1', from: new Date(Number(T0 / 1_000_000n) - 86_400_000) });
    expect(account).toHaveLength(1);
    expect(account[0]!.netPnl).toBe(formatDecimal([...want.netByStrategy.values()].reduce((n, v) => n + parseDecimal(v), 0n)));
  });

  it('serves them over REST, with 400 for a bad parameter and 503 without a database', async () => {
    const app = Fastify();
    await app.register(databaseRoutes, { reader: () => db.reader });
    const open = await app.inject({ method: 'GET', url: '/db/orders/open?limit=10000' });
    expect(open.statusCode).toBe(200);
    expect(sorted((open.json() as { id: string }[]).map((o) => o.id))).toEqual(sorted(want.open));
    const fills = await app.inject({ method: 'GET', url: '/db/fills/today?limit=10000' });
    expect(fills.statusCode).toBe(200);
    expect((fills.json() as unknown[]).length).toBe(want.fills.length);
    const pnl = await app.inject({ method: 'GET', url: '/db/pnl?strategyId=mm-1&interval=day' });
    expect(pnl.statusCode).toBe(200);
    expect((pnl.json() as { netPnl: string }[]).at(-1)!.netPnl).toBe(want.netByStrategy.get('mm-1'));
    expect((await app.inject({ method: 'GET', url: '/db/positions' })).statusCode).toBe(200);

    const bad = await app.inject({ method: 'GET', url: '/db/pnl?interval=week' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'bad_request', field: 'interval' });
    const unknown = await app.inject({ method: 'GET', url: '/db/orders/open?colour=red' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({ field: 'colour' });
    for (const limit of ['0', '', 'abc', '1e3', '0x10', '10001', '-5', '2.5']) {
      const r = await app.inject({ method: 'GET', url: `/db/orders/open?limit=${encodeURIComponent(limit)}` });
      expect(r.statusCode, limit).toBe(400);
      expect(r.json(), limit).toMatchObject({ error: 'bad_request', field: 'limit', message: 'limit: must be an integer 1-10000' });
    }
    await app.close();

    const none = Fastify();
    await none.register(databaseRoutes, { reader: () => undefined });
    expect((await none.inject({ method: 'GET', url: '/db/orders/open' })).statusCode).toBe(503);
    await none.close();
  });
});
