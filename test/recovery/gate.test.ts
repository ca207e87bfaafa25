/**
 * The recovery gate: after a restart nothing new leaves for a venue until the venues answered about
 * the orders in flight (and the startup reconciliation ran), or the gate times out.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/engine/kernel.js';
import type { KernelSnapshotDoc } from '../../src/engine/snapshots/kernel-snapshot.js';
import { formatDecimal } from '../../src/core/fixed.js';
import type { ExecutionReportMsg } from '../../src/venues/venue.js';
import type { Order } from '../../src/oms/order.js';
import { KernelHarness, kernelConfig, TRADER } from '../helpers.js';

const MM = { id: 'mm', class: 'market-maker', account: 'ACC1', autoStart: true, params: { venue: 'SIMX', symbols: ['AAPL'], quantity: '10', maxPosition: '100' } };
const cfg = kernelConfig({ strategies: [MM] });

/** A node that traded, crashed, and came back from a snapshot: a fresh kernel restored from the old one's state. */
function restarted(): { h: KernelHarness; open: Order[] } {
  const before = new KernelHarness(cfg);
  before.quote('SIMX', 'AAPL', '99.90', '100.10');
  const open = before.kernel.oms.openOrders();
  expect(open.length).toBe(2); // the market maker's bid and ask
  before.ack(open[0]!);
  const h = new KernelHarness(cfg);
  const k = new Kernel({ event: (e) => h.events.push(e), command: (c) => h.commands.push(c) });
  k.restore(JSON.parse(before.kernel.snapshotJson()) as KernelSnapshotDoc);
  Object.assign(h, { kernel: k, seq: before.seq, ts: before.ts });
  h.events.length = 0;
  h.commands.length = 0;
  h.input({ type: 'system.start', config: cfg, nodeId: 'test', version: 'test', recovered: true });
  return { h, open: k.oms.openOrders() };
}

function status(h: KernelHarness, o: Order, ordStatus: ExecutionReportMsg['ordStatus']): ExecutionReportMsg {
  return { venue: o.venue, execId: `S-${o.id}-${h.seq}`, execType: 'orderStatus', ordStatus, clOrdId: o.clOrdId, symbol: o.symbol, side: o.side, orderQty: formatDecimal(o.quantity), lastQty: '0', lastPx: '0', cumQty: '0', leavesQty: formatDecimal(o.quantity), avgPx: '0', fee: '0', venueTs: h.ts.toString() };
}

describe('recovery gate', () => {
  it('asks about every open order and holds new orders until the answers and the startup reconciliation are in', () => {
    const { h, open } = restarted();
    h.input({ type: 'recovery.begin', timeoutMs: 5000, awaitReconciliation: true });
    expect(h.commands.map((c) => c.cmd)).toEqual(open.map((o) => ({ type: 'status', clOrdId: o.clOrdId, symbol: o.symbol })));
    expect(h.kernel.gate.isActive).toBe(true);
    h.commands.length = 0;

    // the market moves: the strategy does not react; a manual order is refused; a cancel goes out
    h.quote('SIMX', 'AAPL', '101.90', '102.10');
    expect(h.commands).toEqual([]);
    const manual = h.order({ quantity: '1', price: '100' }, TRADER).order!;
    expect(manual.status).toBe('Rejected');
    expect(manual.rejectReason).toBe('RECOVERY_IN_PROGRESS');
    h.input({ type: 'cmd.order.cancel', actor: TRADER, orderId: open[0]!.id });
    expect(h.commands.map((c) => c.cmd.type)).toEqual(['cancel']);

    // the answers: the first is live (its cancel is on the way), the second never reached the venue
    h.input({ type: 'exec', r: status(h, open[0]!, 'New') });
    h.input({ type: 'exec', r: { ...status(h, open[1]!, 'Rejected'), execType: 'rejected', reason: 'UNKNOWN_ORDER' } });
    expect(h.kernel.oms.get(open[0]!.id)!.status).toBe('PendingCancel');
    expect(h.kernel.oms.get(open[1]!.id)!.status).toBe('Rejected');
    expect(h.kernel.gate.isActive).toBe(true); // still waiting for the reconciliation
    h.input({ type: 'recon.begin', runId: 'S1', kind: 'startup', actor: { id: 'reconciliation', channel: 'system' } });
    h.input({ type: 'recon.result', runId: 'S1', kind: 'startup', actor: { id: 'reconciliation', channel: 'system' }, policy: { autoCorrectMaxQty: '0', unknownOrderPolicy: 'alert', stuckAfterMs: 60_000 }, venues: [] });
    expect(h.kernel.gate.isActive).toBe(false);
    const done = h.eventsOf('recovery.completed');
    expect(done.length).toBe(1);
    expect(done[0]!.answered).toBe(2);
    expect(done[0]!.timedOut).toEqual([]);

    // open again: the strategy quotes
    h.commands.length = 0;
    h.quote('SIMX', 'AAPL', '102.90', '103.10');
    expect(h.commands.some((c) => c.cmd.type === 'new' || c.cmd.type === 'replace')).toBe(true);
  });

  it('opens after the timeout and marks the orders nobody answered about as uncertain', () => {
    const { h, open } = restarted();
    h.input({ type: 'recovery.begin', timeoutMs: 1000, awaitReconciliation: false });
    h.input({ type: 'exec', r: status(h, open[0]!, 'New') });
    h.advance(500);
    h.input({ type: 'timer' });
    expect(h.kernel.gate.isActive).toBe(true);
    h.advance(600);
    h.input({ type: 'timer' });
    expect(h.kernel.gate.isActive).toBe(false);
    expect(h.eventsOf('recovery.completed')[0]!.timedOut).toEqual([open[1]!.id]);
    expect(h.kernel.oms.get(open[1]!.id)!.uncertain).toBe(true);
    expect(h.kernel.oms.get(open[0]!.id)!.uncertain).toBe(false);
  });

  it('with nothing in flight and no reconciliation to wait for, the gate opens at once', () => {
    const h = new KernelHarness(cfg);
    h.input({ type: 'recovery.begin', timeoutMs: 1000, awaitReconciliation: false });
    expect(h.kernel.gate.isActive).toBe(false);
    expect(h.eventsOf('recovery.started')[0]!.orders).toEqual([]);
    expect(h.eventsOf('recovery.completed').length).toBe(1);
  });
});
