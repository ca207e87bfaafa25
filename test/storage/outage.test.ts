/**
 * The database goes away while the node trades: trading must go on (orders keep being journaled
 * and acknowledged), health must say so, and once the database is back every journaled order and
 * fill must be in it exactly once.
 *
 * PostgreSQL: the projector's connections are killed with pg_terminate_backend, over and over,
 * for the whole outage (it reconnects between kills, so batches also die mid-transaction).
 * PGlite: every database call in the worker fails and the instance is closed (injected outage).
 */
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { UserDirectory } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { Journal } from '../../src/engine/journal.js';
import { BulwarkNode } from '../../src/engine/node.js';
import { loadConfig } from '../../src/ops/config.js';
import { createTarget, describeDrivers, expectMirrors, journalTruth, type Target } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function startOutage(t: Target, node: BulwarkNode): () => void {
  if (t.kind === 'pglite') {
    node.database!.injectOutage(true);
    return () => node.database!.injectOutage(false);
  }
  const kill = () =>
    void t.admin!.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [t.settings.applicationName]).catch(() => {});
  kill();
  const timer = setInterval(kill, 15);
  return () => clearInterval(timer);
}

describeDrivers('database outage under trading', (kind) => {
  it('keeps trading, reports the outage, and catches up with every order and fill exactly once', async () => {
    const t = await createTarget(kind);
    cleanups.push(() => t.cleanup());
    const config = loadConfig({
      env: {},
      overrides: { dataDir: t.dataDir, journal: { fsync: false, segmentMiB: 1 }, database: { ...t.section, batchSize: 200 }, sim: { agentIntervalMs: 5, symbols: [{ symbol: 'AAPL', fairValue: '227.50' }, { symbol: 'MSFT', fairValue: '415.20' }] } },
    });
    const node = await BulwarkNode.start(config);
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await node.stop();
    });
    const api = await buildApi({ node, users: UserDirectory.forEnvironment('dev', []) });
    cleanups.push(() => api.close());
    expect(node.database).not.toBeNull();
    await node.database!.whenProjected(node.journal.durableSeq);

    let manual = 0;
    const order = async () => {
      manual++;
      const s = await node.command({
        type: 'cmd.order.new',
        actor: { id: 'tester', channel: 'test' },
        // marketable, so that fills (and positions) are journaled during the outage too
        order: { symbol: 'AAPL', venue: 'SIMX', side: manual % 2 ? 'buy' : 'sell', type: 'market', quantity: '5', timeInForce: 'IOC', clientOrderId: `manual-${manual}`, account: 'FIRM-1' },
      });
      return s.result.order!.id;
    };
    const before = [await order(), await order()];

    // --- the database goes down ---
    const endOutage = startOutage(t, node);
    await until('health reports the database down', () => node.database!.status().status === 'down');
    const health = await api.inject({ method: 'GET', url: '/health' });
    const down = health.json() as { status: string; degraded?: string[]; components: { database: { status: string; error?: string } } };
    // trading goes on (200), but the node as a whole says what is impaired
    expect(health.statusCode).toBe(200);
    expect(down.status).toBe('degraded');
    expect(down.degraded).toContain('database down');
    expect(down.components.database.status).toBe('down');
    expect(down.components.database.error).toBeTruthy();
    const durableAtOutage = node.journal.durableSeq;
    const during: string[] = [];
    for (let i = 0; i < 30; i++) during.push(await order()); // each resolves only once journaled
    await until('strategies and venues keep journaling', () => node.journal.durableSeq > durableAtOutage + 500);
    expect(node.journal.error).toBeUndefined();
    const st = node.database!.status();
    expect(st.lag).toBeGreaterThan(0);
    expect(st.lastSeq).toBeLessThan(node.journal.durableSeq);

    // --- and comes back ---
    endOutage();
    const after = [await order(), await order()];
    await node.database!.whenProjected(node.journal.durableSeq);
    expect(node.database!.status().status).toBe('up');
    const healed = (await api.inject({ method: 'GET', url: '/health' })).json() as { status: string; degraded?: string[] };
    expect(healed.degraded ?? []).not.toContain('database down');
    const open = await api.inject({ method: 'GET', url: '/db/orders/open' });
    expect(open.statusCode).toBe(200);

    await node.stop();
    stopped = true;
    expect(node.database!.lastSeq).toBe(node.journal.lastSeq);

    // the outage is in the audit trail: the database going down (with the error), then up again
    const notes = [...Journal.read(path.join(t.dataDir, 'journal'))].filter(
      (e) => e.kind === 'input' && e.payload.type === 'system.note' && String(e.payload.event).startsWith('database.') && e.payload.event !== 'database.auditPruned',
    );
    const events = notes.map((e) => e.payload.event);
    expect(events[0]).toBe('database.down');
    expect(events.at(-1)).toBe('database.up');
    // strictly alternating: a note per change of state, none repeated
    events.forEach((ev, i) => expect(ev).toBe(i % 2 === 0 ? 'database.down' : 'database.up'));
    const first = notes[0]!.payload.detail as { driver: string; error: string; fatal: boolean; lastSeq: number };
    expect(first).toMatchObject({ driver: kind, fatal: false });
    expect(first.error.length).toBeGreaterThan(0);
    expect(first.lastSeq).toBeGreaterThan(0);
    expect(notes[0]!.seq).toBeGreaterThan(durableAtOutage - 1000);
    expect((notes.at(-1)!.payload.detail as { downForMs: number }).downForMs).toBeGreaterThan(0);

    const truth = journalTruth(path.join(t.dataDir, 'journal'));
    expect(truth.orderIds.size).toBeGreaterThan(manual);
    expect(truth.fillIds.length).toBeGreaterThan(0);
    for (const id of [...before, ...during, ...after]) expect(truth.orderIds.has(id)).toBe(true);
    await expectMirrors(t, path.join(t.dataDir, 'journal'), truth);
  });
});
