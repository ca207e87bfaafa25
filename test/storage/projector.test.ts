import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Journal } from '../../src/engine/journal.js';
import { NodeDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';
import { SyntheticFlow } from '../../src/storage/synthetic-flow.js';
import { appendFlow, createTarget, describeDrivers, expectMirrors, type Target } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function target(kind: Target['kind'], overrides: Parameters<typeof createTarget>[1] = {}): Promise<Target> {
  const t = await createTarget(kind, overrides);
  cleanups.push(() => t.cleanup());
  return t;
}

async function openJournal(t: Target): Promise<Journal> {
  const j = await Journal.open(path.join(t.dataDir, 'journal'), { fsync: false });
  cleanups.push(() => j.close());
  return j;
}


describeDrivers('projector', (kind) => {
  it('mirrors a journal into the database, in batches, with the hash chain intact', async () => {
    const t = await target(kind, { batchSize: 700 });
    const journal = await openJournal(t);
    appendFlow(journal, new SyntheticFlow(1), 1, 1500);
    await journal.flush();
    const db = NodeDatabase.start(t.settings, journal);
    cleanups.push(() => db.stop());
    await db.whenProjected(journal.lastSeq);
    expect(db.status()).toMatchObject({ status: 'up', lag: 0, lastSeq: journal.lastSeq, malformed: 0 });
    expect(db.status().batches).toBeGreaterThan(1);
    await db.stop();
    await expectMirrors(t, journal.dir);
  });

  it('carries any text through COPY: tabs, newlines, backslashes, quotes, unicode (NUL becomes U+FFFD)', async () => {
    const t = await target(kind);
    const journal = await openJournal(t);
    const nasty = 'tab\there\nnew line\r\\N \\ back\\slash "quoted" \\u0000 é€😀 \u0000 end';
    journal.append('input', 1, 1_767_225_600_000_000_000n, { type: 'system.note', event: 'odd', detail: { text: nasty, actor: 'x' } });
    journal.append('event', 2, 1_767_225_600_000_000_001n, {
      type: 'order.cancelRequested',
      orderId: 'O\t1\\',
      actor: { id: 'user\twith\ntabs\\', channel: 'api' },
    });
    await journal.flush();
    const db = NodeDatabase.start(t.settings, journal);
    cleanups.push(() => db.stop());
    await db.whenProjected(2);
    await db.stop();
    const c = await t.open();
    try {
      const rows = await c.query<{ seq: string; text: string | null; actor_id: string | null }>(
        `SELECT seq::text AS seq, payload->'detail'->>'text' AS text, actor_id FROM audit_log ORDER BY seq`,
      );
      expect(rows.rows).toEqual([
        { seq: '1', text: nasty.replace('\u0000', '\ufffd'), actor_id: null },
        { seq: '2', text: null, actor_id: 'user\twith\ntabs\\' },
      ]);
      const ev = await c.query<{ order_id: string }>('SELECT order_id FROM order_events');
      expect(ev.rows).toEqual([{ order_id: 'O\t1\\' }]);
    } finally {
      await c.close();
    }
  });

  it('books a mass cancel (order.massCanceled) onto orders of an earlier batch, keeping their fills, and one order_events row per order', async () => {
    const t = await target(kind, { batchSize: 2 });
    const journal = await openJournal(t);
    const T = 1_767_225_600_000_000_000n;
    const order = (id: string, status: string, filled: string, avg: string | null, fees: string) => ({
      id, clOrdId: id, clientOrderId: `c-${id}`, account: 'A1', strategyId: null, traderId: null, symbol: 'AAPL', venue: 'X', side: 'buy',
      type: 'limit', timeInForce: 'GTC', quantity: '10', price: '100', status, filledQuantity: filled, leavesQuantity: String(10 - Number(filled)), averagePrice: avg,
      fees, venueOrderId: `V-${id}`, rejectReason: null, rejectDetail: null, replacesId: null, replacedById: null, uncertain: id === 'O2', createdTs: T.toString(), updatedTs: T.toString(),
    });
    journal.append('event', 1, T, { type: 'order.created', order: order('O1', 'PartiallyFilled', '3', '99.5', '0.25'), actor: { id: 'u1', channel: 'api' } });
    journal.append('event', 2, T + 1n, { type: 'order.created', order: order('O2', 'New', '0', null, '0'), actor: { id: 'u1', channel: 'api' } });
    journal.append('event', 3, T + 2n, {
      type: 'order.massCanceled', venue: 'X', reportId: 'M1', requestId: 'K1-1', cause: 'venue mass cancel K1-1', updatedTs: (T + 2n).toString(),
      orders: [{ id: 'O1', from: 'PartiallyFilled' }, { id: 'O2', from: 'New' }],
    });
    await journal.flush();
    const db = NodeDatabase.start(t.settings, journal);
    cleanups.push(() => db.stop());
    await db.whenProjected(3);
    expect(db.status()).toMatchObject({ lastSeq: 3, malformed: 0 });
    await db.stop();
    await expectMirrors(t, journal.dir);
    const c = await t.open();
    try {
      const rows = await c.query<Record<string, unknown>>(
        `SELECT id, status, is_open, filled_quantity::text AS filled, leaves_quantity::text AS leaves, average_price::text AS avg, fees::text AS fees,
                venue_order_id, uncertain, updated_ts_ns::text AS updated, last_seq::int AS last_seq FROM orders ORDER BY id`,
      );
      expect(rows.rows).toEqual([
        { id: 'O1', status: 'Canceled', is_open: false, filled: '3.00000000', leaves: '0.00000000', avg: '99.50000000', fees: '0.25000000', venue_order_id: 'V-O1', uncertain: false, updated: (T + 2n).toString(), last_seq: 3 },
        { id: 'O2', status: 'Canceled', is_open: false, filled: '0.00000000', leaves: '0.00000000', avg: null, fees: '0.00000000', venue_order_id: 'V-O2', uncertain: true, updated: (T + 2n).toString(), last_seq: 3 },
      ]);
      const ev = await c.query<Record<string, unknown>>(`SELECT seq::int AS seq, order_id, type, from_status, status FROM order_events WHERE seq = 3 ORDER BY order_id`);
      expect(ev.rows).toEqual([
        { seq: 3, order_id: 'O1', type: 'order.massCanceled', from_status: 'PartiallyFilled', status: 'Canceled' },
        { seq: 3, order_id: 'O2', type: 'order.massCanceled', from_status: 'New', status: 'Canceled' },
      ]);
    } finally {
      await c.close();
    }
  });

  it('resumes where it stopped, also after being cut off mid-catch-up: nothing lost, nothing doubled', async () => {
    // drainTimeoutMs 0: stop() aborts at once, wherever the projector is
    const t = await target(kind, { batchSize: 300, drainTimeoutMs: 0 });
    const journal = await openJournal(t);
    const flow = new SyntheticFlow(2);
    appendFlow(journal, flow, 1, 800);
    await journal.flush();
    const first = NodeDatabase.start(t.settings, journal);
    await first.whenProjected(1);
    await first.stop();
    const reached = first.lastSeq;
    expect(reached).toBeGreaterThan(0);
    expect(reached).toBeLessThanOrEqual(journal.lastSeq);

    appendFlow(journal, flow, 801, 400);
    await journal.flush();
    const second = NodeDatabase.start({ ...t.settings, drainTimeoutMs: 60_000 }, journal);
    cleanups.push(() => second.stop());
    await second.whenProjected(journal.lastSeq);
    await second.stop();
    await expectMirrors(t, journal.dir);

    // and a third start with nothing new changes nothing
    const third = NodeDatabase.start({ ...t.settings, drainTimeoutMs: 60_000 }, journal);
    cleanups.push(() => third.stop());
    await until(() => third.status().status === 'up');
    expect(third.lastSeq).toBe(journal.lastSeq);
    await third.stop();
    await expectMirrors(t, journal.dir);
  });

  it('restarts a worker that died and resumes exactly where the database is', async () => {
    const t = await target(kind, { batchSize: 100 });
    const journal = await openJournal(t);
    const flow = new SyntheticFlow(7);
    appendFlow(journal, flow, 1, 100);
    await journal.flush();
    const db = NodeDatabase.start(t.settings, journal);
    cleanups.push(() => db.stop());
    await db.whenProjected(journal.lastSeq);
    appendFlow(journal, flow, 101, 300);
    await journal.flush();
    db.injectWorkerCrash();
    await until(() => db.status().workerRestarts === 1);
    await db.whenProjected(journal.lastSeq);
    expect(db.status()).toMatchObject({ status: 'up', workerRestarts: 1, lag: 0 });
    await db.stop();
    await expectMirrors(t, journal.dir);
  });

  it('refuses to project a different journal into a database that mirrors another one', async () => {
    const t = await target(kind);
    const journal = await openJournal(t);
    appendFlow(journal, new SyntheticFlow(3), 1, 50);
    await journal.flush();
    const db = NodeDatabase.start(t.settings, journal);
    await db.whenProjected(journal.lastSeq);
    await db.stop();

    const other = await Journal.open(path.join(t.dataDir, 'other-journal'), { fsync: false });
    cleanups.push(() => other.close());
    appendFlow(other, new SyntheticFlow(4), 1, 60);
    await other.flush();
    const wrong = NodeDatabase.start(t.settings, other);
    cleanups.push(() => wrong.stop());
    await until(() => wrong.status().status === 'down');
    expect(wrong.status().error).toMatch(/mirrors another journal/);
    expect(wrong.lastSeq).toBe(0);
    await wrong.stop();
    await expectMirrors(t, journal.dir);
  });

  it('refuses to run on a schema whose applied migration changed, and says so in its status', async () => {
    const t = await target(kind);
    const journal = await openJournal(t);
    appendFlow(journal, new SyntheticFlow(5), 1, 10);
    await journal.flush();
    const setup = await t.open();
    await migrate(setup);
    await setup.query(`UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 2`);
    await setup.close();
    const db = NodeDatabase.start(t.settings, journal);
    cleanups.push(() => db.stop());
    await until(() => db.status().status === 'down');
    expect(db.status().error).toMatch(/does not match this build.*version 2/);
    expect(db.lastSeq).toBe(0);
  });

  it('answers reads from the node thread, and refuses writes through the reader', async () => {
    const t = await target(kind);
    const journal = await openJournal(t);
    appendFlow(journal, new SyntheticFlow(6), 1, 20);
    await journal.flush();
    const db = NodeDatabase.start(t.settings, journal);
    cleanups.push(() => db.stop());
    await db.whenProjected(journal.lastSeq);
    const rows = await db.reader.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_log WHERE seq <= $1', [journal.lastSeq]);
    expect(rows).toEqual([{ n: String(journal.lastSeq) }]);
    await expect(db.reader.query(`DELETE FROM orders`)).rejects.toThrow(/read-only/);
    await expect(db.reader.query(`SELECT * FROM no_such_table`)).rejects.toThrow(/no_such_table/);
  });
});

async function until(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
