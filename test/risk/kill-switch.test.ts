import { describe, expect, it } from 'vitest';
import type { Actor } from '../../src/core/types.js';
import type { KillScope } from '../../src/risk/kill-switch.js';
import { join } from 'node:path';
import type { Journal } from '../../src/engine/journal.js';
import { Snapshotter } from '../../src/engine/snapshots/snapshotter.js';
import { KernelHarness, kernelConfig, tempDir } from '../helpers.js';

const RISK: Actor = { id: 'dev-risk', role: 'risk_manager', channel: 'api' };
const SENIOR: Actor = { id: 'dev-senior', role: 'senior_management', channel: 'api' };
const RISK2: Actor = { id: 'risk-2', role: 'risk_manager', channel: 'api' };
const TRADER: Actor = { id: 'dev-trader', role: 'trader', channel: 'api' };

/** Open orders across accounts, venues, traders, strategies and symbols. */
function seeded(massCancel = true) {
  const h = new KernelHarness(
    kernelConfig({
      venues: [
        { id: 'SIMX', supportsMassCancel: massCancel },
        { id: 'SIMY', supportsMassCancel: false },
      ],
      strategies: [
        { id: 's1', class: 'market-maker', account: 'ACC1', traderId: 'dev-trader', autoStart: false, params: { venue: 'SIMX', symbols: ['AAPL'] } },
        { id: 's2', class: 'market-maker', account: 'ACC2', autoStart: false, params: { venue: 'SIMY', symbols: ['MSFT'] } },
      ],
    }),
  );
  const orders = [
    h.order({ account: 'ACC1', venue: 'SIMX', symbol: 'AAPL', strategyId: 's1' }).order!,
    h.order({ account: 'ACC1', venue: 'SIMY', symbol: 'MSFT', strategyId: 's1' }).order!,
    h.order({ account: 'ACC2', venue: 'SIMX', symbol: 'NVDA', strategyId: 's2' }).order!,
    h.order({ account: 'ACC2', venue: 'SIMY', symbol: 'AAPL', traderId: 'other-trader' }).order!,
  ];
  for (const o of orders) h.ack(o);
  return { h, orders };
}

function kill(h: KernelHarness, scope: KillScope, actor: Actor = RISK) {
  return h.input({ type: 'cmd.kill', actor, scope, reason: 'test' });
}

function confirmAll(h: KernelHarness) {
  for (const o of h.kernel.oms.openOrders()) h.report(o, { execType: 'canceled', ordStatus: 'Canceled' });
}

describe('kill switch', () => {
  const scopes: [KillScope, number[]][] = [
    [{ type: 'firm' }, [0, 1, 2, 3]],
    [{ type: 'venue', id: 'SIMX' }, [0, 2]],
    [{ type: 'account', id: 'ACC2' }, [2, 3]],
    [{ type: 'trader', id: 'other-trader' }, [3]],
    [{ type: 'strategy', id: 's1' }, [0, 1]],
    [{ type: 'symbol', id: 'AAPL' }, [0, 3]],
  ];
  for (const [scope, hit] of scopes) {
    it(`${scope.type} scope cancels exactly the orders in scope, blocks new ones with KILL_SWITCH, and completes on confirmation`, () => {
      const { h, orders } = seeded();
      const r = kill(h, scope);
      expect(r.kill).toBe('K1');
      // a cancel is out for exactly the orders in scope (individually: PendingCancel; by mass cancel: listed in the activation record)
      orders.forEach((o, i) => expect(o.cancelRequests > 0).toBe(hit.includes(i)));
      const individually = (o: { venue: string }) => o.venue === 'SIMY' || scope.type === 'strategy' || scope.type === 'trader';
      orders.forEach((o, i) => expect(o.status).toBe(hit.includes(i) && individually(o) ? 'PendingCancel' : 'New'));
      const sent = h.eventsOf('kill.cancelsSent')[0]!;
      expect(sent.orders).toBe(hit.length);
      const a = h.kernel.killSwitch.activations[0]!;
      expect(a.status).toBe('CANCELLING');
      expect(a.orders.size).toBe(hit.length);
      // in scope: refused; out of scope: still allowed
      const probe = { account: orders[hit[0]!]!.account, venue: orders[hit[0]!]!.venue, symbol: orders[hit[0]!]!.symbol, strategyId: orders[hit[0]!]!.strategyId ?? undefined, traderId: orders[hit[0]!]!.traderId ?? undefined };
      expect(h.order(probe).order!).toMatchObject({ status: 'Rejected', rejectReason: 'KILL_SWITCH' });
      if (scope.type !== 'firm') {
        const outside = orders.findIndex((_, i) => !hit.includes(i));
        const o = orders[outside]!;
        expect(h.order({ account: o.account, venue: o.venue, symbol: o.symbol, strategyId: o.strategyId ?? undefined, traderId: o.traderId ?? undefined }).order!.status).toBe('PendingNew');
      }
      for (const i of hit) h.report(orders[i]!, { execType: 'canceled', ordStatus: 'Canceled' });
      expect(a.status).toBe('COMPLETE');
      expect(h.eventsOf('kill.completed')).toHaveLength(1);
      expect(a.completedTs! - a.activatedTs).toBeGreaterThan(0n);
    });
  }

  it('uses a mass cancel per venue and account where the venue offers it, individual cancels elsewhere', () => {
    const { h } = seeded(true);
    const before = h.commands.length;
    kill(h, { type: 'firm' });
    const sent = h.commands.slice(before).map((c) => `${c.venue}:${c.cmd.type}`).sort();
    // SIMX: one mass cancel per account (ACC1, ACC2); SIMY has none: two individual cancels
    expect(sent).toEqual(['SIMX:massCancel', 'SIMX:massCancel', 'SIMY:cancel', 'SIMY:cancel']);
  });

  it('stops the strategies in scope', () => {
    const { h } = seeded();
    h.input({ type: 'cmd.strategy', actor: RISK, strategyId: 's1', action: 'start' });
    h.input({ type: 'cmd.strategy', actor: RISK, strategyId: 's2', action: 'start' });
    kill(h, { type: 'account', id: 'ACC1' });
    expect(h.kernel.strategyState('s1')).toBe('stopped');
    expect(h.kernel.strategyState('s2')).toBe('running');
  });

  it('puts off the periodic snapshot while an activation is cancelling, and takes it once the activation is complete', async () => {
    const { h } = seeded(false);
    const tmp = tempDir();
    try {
      // the snapshotter reads only these of the journal: where it stands, and when a seq is durable
      const journal = { lastSeq: 0, lastHash: Buffer.alloc(32), whenDurable: () => Promise.resolve() } as unknown as Journal;
      const snapper = new Snapshotter(h.kernel, journal, { dir: join(tmp.dir, 'snapshots'), intervalMs: 1000, keep: 2, nodeId: 'test', fsync: false });
      kill(h, { type: 'firm' });
      expect(h.kernel.killSwitch.cancelling).toBe(true);
      expect(await snapper.tick()).toBeNull();
      expect(snapper.stats).toMatchObject({ deferred: 1, taken: 0 });
      confirmAll(h);
      expect(h.kernel.killSwitch.activations[0]!.status).toBe('COMPLETE');
      expect(h.kernel.killSwitch.cancelling).toBe(false);
      expect(await snapper.tick()).not.toBeNull();
      expect(snapper.stats).toMatchObject({ deferred: 1, taken: 1 });
    } finally {
      tmp.cleanup();
    }
  });

  it('a venue that never confirms: orders become UNCERTAIN, cancels are retried, a critical alert is raised', () => {
    const { h, orders } = seeded(false);
    kill(h, { type: 'venue', id: 'SIMY' });
    const cancelsBefore = h.commands.filter((c) => c.cmd.type === 'cancel').length;
    h.advance(2500);
    h.input({ type: 'timer' });
    const a = h.kernel.killSwitch.activations[0]!;
    expect(a.status).toBe('UNCERTAIN');
    const view = h.kernel.killSwitch.view(a);
    expect(view.uncertainOrders.sort()).toEqual([orders[1]!.id, orders[3]!.id].sort());
    expect(view.unconfirmedOrders.sort()).toEqual(view.uncertainOrders);
    expect(orders[1]!.uncertain).toBe(true);
    const esc = h.eventsOf('kill.escalated');
    expect(esc).toHaveLength(1);
    expect(esc[0]).toMatchObject({ severity: 'critical', retrying: true });
    expect(esc[0]!.uncertainOrders.sort()).toEqual([orders[1]!.id, orders[3]!.id].sort());
    expect(h.commands.filter((c) => c.cmd.type === 'cancel').length).toBe(cancelsBefore + 2);
    // the venue finally answers
    h.report(orders[1]!, { execType: 'canceled', ordStatus: 'Canceled' });
    h.report(orders[3]!, { execType: 'trade', ordStatus: 'Filled', lastQty: '10', lastPx: '100' });
    expect(a.status).toBe('COMPLETE');
    expect(h.kernel.killSwitch.view(a)).toMatchObject({ uncertainOrders: [], unconfirmedOrders: [], uncertain: 0 });
  });

  it('orders still awaiting their first confirmation are unconfirmed, not uncertain', () => {
    const { h } = seeded(false);
    kill(h, { type: 'venue', id: 'SIMY' });
    const v = h.kernel.killSwitch.view(h.kernel.killSwitch.activations[0]!);
    expect(v.unconfirmedOrders.length).toBeGreaterThan(0);
    expect(v.uncertainOrders).toEqual([]);
  });

  describe('authorization', () => {
    it('a trader may kill their own strategy, not another one nor the firm', () => {
      const { h } = seeded();
      expect(kill(h, { type: 'strategy', id: 's1' }, TRADER).kill).toBe('K1');
      expect(kill(h, { type: 'strategy', id: 's2' }, TRADER).error?.code).toBe('FORBIDDEN');
      expect(kill(h, { type: 'firm' }, TRADER).error?.code).toBe('FORBIDDEN');
      expect(kill(h, { type: 'firm' }, { id: 'c', role: 'compliance', channel: 'api' }).error?.code).toBe('FORBIDDEN');
      expect(h.eventsOf('kill.refused')).toHaveLength(3);
    });

    it('reset needs risk_manager or higher; a firm-wide reset needs two approvers, one senior', () => {
      const { h } = seeded();
      kill(h, { type: 'firm' });
      confirmAll(h);
      const reset = (actor: Actor) => h.input({ type: 'cmd.kill.reset', actor, activationId: 'K1', reason: 'clear' });
      expect(reset(TRADER).error?.code).toBe('FORBIDDEN');
      expect(reset(RISK).awaiting).toBe('an approver with role senior_management');
      expect(reset(RISK).error?.code).toBe('SAME_APPROVER');
      expect(reset(RISK2).awaiting).toBe('an approver with role senior_management');
      expect(h.order().order!.rejectReason).toBe('KILL_SWITCH');
      const done = reset(SENIOR);
      expect(done.error).toBeUndefined();
      expect(done.awaiting).toBeUndefined();
      expect(h.kernel.killSwitch.activations[0]!.status).toBe('RESET');
      expect(h.order().order!.status).toBe('PendingNew');
    });

    it('a non-firm reset needs one risk manager', () => {
      const { h } = seeded();
      kill(h, { type: 'symbol', id: 'AAPL' });
      expect(h.input({ type: 'cmd.kill.reset', actor: RISK, activationId: 'K1', reason: 'clear' }).error).toBeUndefined();
      expect(h.kernel.killSwitch.activations[0]!.status).toBe('RESET');
    });
  });

  it('a daily-loss breach configured to KILL pulls the kill switch automatically', () => {
    const h = new KernelHarness(kernelConfig({ risk: { rules: [{ scope: 'account', id: 'ACC1', limits: { maxDailyLoss: '50', dailyLossAction: 'KILL' } }], restricted: [], alertThresholdsPct: [80, 100], checkTradingHours: true } }));
    h.input({ type: 'timer' });
    h.quote('SIMX', 'AAPL', '99.99', '100.01');
    const o = h.order({ quantity: '10', price: '100' }).order!;
    h.ack(o);
    h.fill(o, '10', '100');
    h.quote('SIMX', 'AAPL', '93.99', '94.01'); // −60
    h.input({ type: 'timer' });
    const a = h.kernel.killSwitch.activations[0];
    expect(a).toBeDefined();
    expect(a!.scope).toEqual({ type: 'account', id: 'ACC1' });
    expect(a!.actor.channel).toBe('auto');
    expect(h.order().order!.rejectReason).toBe('KILL_SWITCH');
  });
});
