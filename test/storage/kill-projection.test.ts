/**
 * A firm-wide kill switch on a node with its database: the venues answer with mass cancel reports,
 * the core books each as one order.massCanceled record, and the projector must turn those records
 * back into every order closed in `orders` and one `order_events` row per order, with the orders'
 * fills left as they were.
 */
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { BulwarkNode } from '../../src/engine/node.js';
import { Journal } from '../../src/engine/journal.js';
import { loadConfig } from '../../src/ops/config.js';
import { createTarget, describeDrivers, expectMirrors } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describeDrivers('kill switch, projected', (kind) => {
  it('closes every cancelled order in the database and writes one order_events row per order of each mass cancel', async () => {
    const t = await createTarget(kind);
    cleanups.push(() => t.cleanup());
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir: t.dataDir,
        journal: { fsync: false },
        database: { ...t.section, batchSize: 100 },
        strategies: [],
        // no limits in the way: the orders rest far from the market on purpose
        risk: { rules: [], restricted: [], alertThresholdsPct: [80, 100], checkTradingHours: false },
        sim: { symbols: [{ symbol: 'AAPL', fairValue: '227.50' }, { symbol: 'MSFT', fairValue: '415.20' }] },
      },
    });
    const node = await BulwarkNode.start(config, { startAgents: false });
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await node.stop();
    });
    const venues = node.simVenues.map((v) => v.id);
    expect(venues.length).toBeGreaterThanOrEqual(2);
    // resting orders on every venue, far from the market
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const buy = i % 2 === 0;
      const s = await node.command({
        type: 'cmd.order.new',
        actor: { id: 'tester', channel: 'test' },
        order: { symbol: i % 3 === 0 ? 'MSFT' : 'AAPL', venue: venues[i % venues.length]!, side: buy ? 'buy' : 'sell', type: 'limit', quantity: '2', price: buy ? '100' : '900', timeInForce: 'GTC', clientOrderId: `k-${i}`, account: 'FIRM-1' },
      });
      expect(s.result.order?.status).toBe('PendingNew');
      ids.push(s.result.order!.id);
    }
    const deadline = Date.now() + 20_000;
    while ([...node.kernel.oms.open.values()].some((o) => o.status === 'PendingNew')) {
      if (Date.now() > deadline) throw new Error('orders never acknowledged');
      await new Promise((r) => setTimeout(r, 5));
    }
    await node.database!.whenProjected(node.journal.durableSeq);

    const k = await node.command({ type: 'cmd.kill', actor: { id: 'dev-risk', role: 'risk_manager', channel: 'test' }, scope: { type: 'firm' }, reason: 'test' });
    const a = node.kernel.killSwitch.activations.find((x) => x.id === k.result.kill)!;
    while (a.status !== 'COMPLETE') {
      if (Date.now() > deadline + 20_000) throw new Error(`kill switch ${a.status}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await node.journal.flush();
    await node.database!.whenProjected(node.journal.durableSeq);
    await node.stop();
    stopped = true;

    // the journal: one order.massCanceled per venue report, together naming every order
    const journalDir = path.join(t.dataDir, 'journal');
    const booked: string[] = [];
    let records = 0;
    for (const e of Journal.read(journalDir)) {
      if (e.payload.type !== 'order.massCanceled') continue;
      records++;
      for (const o of e.payload.orders as { id: string }[]) booked.push(o.id);
    }
    expect(records).toBe(venues.length);
    expect(booked.sort()).toEqual([...ids].sort());
    await expectMirrors(t, journalDir);

    const db = await t.open();
    try {
      const open = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM orders WHERE is_open`);
      expect(open.rows[0]!.n).toBe('0');
      const rows = await db.query<{ id: string; status: string; leaves: string; filled: string }>(
        `SELECT id, status, leaves_quantity::text AS leaves, filled_quantity::text AS filled FROM orders ORDER BY id`,
      );
      expect(rows.rows.map((r) => r.id).sort()).toEqual([...ids].sort());
      for (const r of rows.rows) expect(r).toMatchObject({ status: 'Canceled', leaves: '0.00000000', filled: '0.00000000' });
      const ev = await db.query<{ n: string; orders: string }>(
        `SELECT count(*)::text AS n, count(DISTINCT order_id)::text AS orders FROM order_events WHERE type = 'order.massCanceled' AND from_status = 'New' AND status = 'Canceled'`,
      );
      expect(ev.rows[0]).toEqual({ n: String(ids.length), orders: String(ids.length) });
    } finally {
      await db.close();
    }
  });
});
