/**
 * Each reconciliation discrepancy class, at the core: a `recon.result` input carries what the venues
 * said, and the core decides deterministically what it means.
 */
import { describe, expect, it } from 'vitest';
import { formatDecimal } from '../../src/core/fixed.js';
import type { Order } from '../../src/oms/order.js';
import type { ReconAccountData, ReconPolicy } from '../../src/oms/recon/types.js';
import type { ExecutionReportMsg } from '../../src/venues/venue.js';
import { KernelHarness } from '../helpers.js';

const POLICY: ReconPolicy = { autoCorrectMaxQty: '100', unknownOrderPolicy: 'cancel', stuckAfterMs: 1000 };
const SYS = { id: 'reconciliation', channel: 'system' };
let execNo = 1000;

/** A venue report about one of our orders (as the venue's log would hold it). */
function venueReport(h: KernelHarness, o: Order, r: Partial<ExecutionReportMsg>): ExecutionReportMsg {
  return {
    venue: o.venue,
    execId: `V${++execNo}`,
    execType: 'new',
    ordStatus: 'New',
    clOrdId: o.clOrdId,
    venueOrderId: `V-${o.id}`,
    symbol: o.symbol,
    side: o.side,
    orderQty: formatDecimal(o.quantity),
    lastQty: '0',
    lastPx: '0',
    cumQty: '0',
    leavesQty: formatDecimal(o.quantity),
    avgPx: '0',
    fee: '0',
    venueTs: h.ts.toString(),
    ...r,
  };
}

function account(over: Partial<ReconAccountData> = {}): ReconAccountData {
  return { account: 'ACC1', since: '0', openOrders: [], positions: {}, executions: [], ...over };
}

let run = 0;
function reconcile(h: KernelHarness, venues: { venue: string; accounts: ReconAccountData[] }[], policy: ReconPolicy = POLICY) {
  const runId = `T${++run}`;
  h.input({ type: 'recon.begin', runId, kind: 'manual', actor: SYS });
  const from = h.events.length;
  const c0 = h.commands.length;
  h.input({ type: 'recon.result', runId, kind: 'manual', actor: SYS, policy, venues: venues.map((v) => ({ ...v, ok: true })) });
  const report = h.kernel.recon.lastReport!;
  expect(report.runId).toBe(runId);
  return { report, events: h.events.slice(from), commands: h.commands.slice(c0) };
}

function liveOrder(h: KernelHarness, qty = '10'): Order {
  h.quote('SIMX', 'AAPL', '99.90', '100.10');
  const o = h.order({ quantity: qty, price: '100' }).order!;
  h.ack(o);
  return o;
}

describe('reconciliation discrepancy classes', () => {
  it('missing fill: a venue fill whose report never arrived is booked, once', () => {
    const h = new KernelHarness();
    const o = liveOrder(h);
    const fill = venueReport(h, o, { execType: 'trade', ordStatus: 'PartiallyFilled', lastQty: '4', lastPx: '100', cumQty: '4', leavesQty: '6', fee: '0.02', liquidity: 'maker' });
    const venue = { venue: 'SIMX', accounts: [account({ executions: [fill], openOrders: [venueReport(h, o, { execType: 'orderStatus', ordStatus: 'PartiallyFilled', cumQty: '4', leavesQty: '6' })], positions: { AAPL: '4' } })] };
    const r = reconcile(h, [venue]);
    expect(r.report.counts.missing_fill).toBe(1);
    expect(r.report.counts.position_break).toBe(0);
    expect(r.report.status).toBe('corrected');
    expect(h.kernel.oms.get(o.id)!.filledQuantity).toBe(4_00000000n);
    expect(h.kernel.oms.get(o.id)!.status).toBe('PartiallyFilled');
    expect(h.kernel.portfolio.peek('ACC1', null, 'AAPL')!.quantity).toBe(4_00000000n);
    expect(r.events.some((e) => e.type === 'fill')).toBe(true);
    expect(r.events.filter((e) => e.type === 'recon.correction').map((e) => (e as { discrepancy: { class: string } }).discrepancy.class)).toEqual(['missing_fill']);
    // the same answer again changes nothing
    const again = reconcile(h, [venue]);
    expect(again.report.status).toBe('clean');
    expect(h.kernel.portfolio.peek('ACC1', null, 'AAPL')!.quantity).toBe(4_00000000n);
  });

  it('unknown order: a live venue order we do not know is alerted on and cancelled (policy cancel) or only alerted on (policy alert)', () => {
    const h = new KernelHarness();
    const stranger: ExecutionReportMsg = { venue: 'SIMX', execId: 'V-S1', execType: 'orderStatus', ordStatus: 'New', clOrdId: 'NOT-OURS-1', venueOrderId: 'SIMX-77', symbol: 'MSFT', side: 'sell', orderQty: '50', lastQty: '0', lastPx: '0', cumQty: '0', leavesQty: '50', avgPx: '0', fee: '0', venueTs: h.ts.toString() };
    const r = reconcile(h, [{ venue: 'SIMX', accounts: [account({ openOrders: [stranger] })] }]);
    expect(r.report.counts.unknown_order).toBe(1);
    const cancel = r.commands.find((c) => c.cmd.type === 'cancel')!;
    expect(cancel.venue).toBe('SIMX');
    expect(cancel.cmd).toMatchObject({ type: 'cancel', origClOrdId: 'NOT-OURS-1', symbol: 'MSFT', side: 'sell' });
    expect(r.report.discrepancies[0]).toMatchObject({ class: 'unknown_order', action: 'cancel_sent', severity: 'critical' });

    const alertOnly = reconcile(h, [{ venue: 'SIMX', accounts: [account({ openOrders: [{ ...stranger, execId: 'V-S2' }] })] }], { ...POLICY, unknownOrderPolicy: 'alert' });
    expect(alertOnly.commands).toEqual([]);
    expect(alertOnly.report.discrepancies[0]).toMatchObject({ class: 'unknown_order', action: 'alert' });
    expect(alertOnly.report.status).toBe('breaks');
    expect(alertOnly.events.some((e) => e.type === 'recon.discrepancy')).toBe(true);
  });

  it('stuck pending: an order pending for too long is queried, then cancelled once the venue says it is live', () => {
    const h = new KernelHarness();
    h.quote('SIMX', 'AAPL', '99.90', '100.10');
    const o = h.order({ quantity: '10', price: '100' }).order!; // PendingNew: the ack was lost
    h.advance(2000);
    const r = reconcile(h, [{ venue: 'SIMX', accounts: [account()] }]);
    expect(r.report.counts.stuck_pending).toBe(1);
    expect(r.commands.map((c) => c.cmd)).toEqual([{ type: 'status', clOrdId: o.clOrdId, symbol: 'AAPL' }]);
    expect(h.kernel.oms.get(o.id)!.status).toBe('PendingNew');
    // the answer: live at the venue → acknowledged, then cancelled
    const c0 = h.commands.length;
    h.input({ type: 'exec', r: venueReport(h, o, { execType: 'orderStatus', ordStatus: 'New' }) });
    expect(h.kernel.oms.get(o.id)!.status).toBe('PendingCancel');
    expect(h.commands.slice(c0).map((c) => c.cmd.type)).toEqual(['cancel']);
    expect(h.eventsOf('recon.correction').at(-1)!.discrepancy).toMatchObject({ class: 'stuck_pending', action: 'cancel_sent', orderId: o.id });
  });

  it('stuck pending: a cancel that never reached the venue is sent again; an unknown answer closes the order', () => {
    const h = new KernelHarness();
    const o = liveOrder(h);
    h.input({ type: 'cmd.order.cancel', actor: { id: 't', role: 'trader', channel: 'api' }, orderId: o.id });
    expect(h.kernel.oms.get(o.id)!.status).toBe('PendingCancel');
    h.advance(2000);
    const live = venueReport(h, o, { execType: 'orderStatus', ordStatus: 'New' });
    const r = reconcile(h, [{ venue: 'SIMX', accounts: [account({ openOrders: [live] })] }]);
    expect(r.report.discrepancies.find((d) => d.class === 'stuck_pending')).toMatchObject({ action: 'cancel_sent', orderId: o.id });
    expect(r.commands.map((c) => c.cmd.type)).toEqual(['cancel']);

    const p = h.order({ quantity: '5', price: '100', clientOrderId: 'lost' }).order!;
    h.advance(2000);
    reconcile(h, [{ venue: 'SIMX', accounts: [account({ openOrders: [{ ...live, execId: 'V-L2' }] })] }]);
    const unknown: ExecutionReportMsg = { ...venueReport(h, p, { execType: 'rejected', ordStatus: 'Rejected', reason: 'UNKNOWN_ORDER', cumQty: '0', leavesQty: '0' }) };
    const c0 = h.commands.length;
    h.input({ type: 'exec', r: unknown });
    expect(h.kernel.oms.get(p.id)!.status).toBe('Rejected');
    expect(h.commands.slice(c0)).toEqual([]);
  });

  it('stuck unanswered: a query that got no answer by the next run raises a critical alert and marks the order uncertain', () => {
    const h = new KernelHarness();
    h.quote('SIMX', 'AAPL', '99.90', '100.10');
    const o = h.order({ quantity: '10', price: '100' }).order!;
    h.advance(2000);
    reconcile(h, [{ venue: 'SIMX', accounts: [account()] }]);
    h.advance(2000);
    const r = reconcile(h, [{ venue: 'SIMX', accounts: [account()] }]);
    expect(r.report.discrepancies[0]).toMatchObject({ class: 'stuck_unanswered', severity: 'critical', orderId: o.id });
    expect(h.kernel.oms.get(o.id)!.uncertain).toBe(true);
    expect(r.commands.filter((c) => c.cmd.type === 'status').length).toBe(1);
  });

  it('position break: booked as an adjustment within autoCorrectMaxQty, only alerted on above it', () => {
    const h = new KernelHarness();
    h.quote('SIMX', 'AAPL', '99.90', '100.10');
    const small = reconcile(h, [{ venue: 'SIMX', accounts: [account({ positions: { AAPL: '-30' } })] }]);
    expect(small.report.discrepancies[0]).toMatchObject({ class: 'position_break', action: 'adjusted', symbol: 'AAPL' });
    expect(small.report.discrepancies[0]!.detail).toMatchObject({ venuePosition: '-30', ourPosition: '0', difference: '-30', price: '100' });
    const p = h.kernel.portfolio.peek('ACC1', null, 'AAPL')!;
    expect(p.quantity).toBe(-30_00000000n);
    expect(h.kernel.portfolio.accounts.get('ACC1')!.cash).toBe(1_000_000_00000000n + 3000_00000000n);
    expect(h.kernel.recon.ledgerPosition('SIMX', 'ACC1', 'AAPL')).toBe(-30_00000000n);
    // risk sees the booking like a fill
    expect(h.kernel.risk.stateView().find((s) => s.scope === 'account:ACC1')!.grossExposure).toBe('3000');
    expect(reconcile(h, [{ venue: 'SIMX', accounts: [account({ positions: { AAPL: '-30' } })] }]).report.status).toBe('clean');

    const big = reconcile(h, [{ venue: 'SIMX', accounts: [account({ positions: { AAPL: '-30', MSFT: '500' } })] }]);
    expect(big.report.discrepancies[0]).toMatchObject({ class: 'position_break', action: 'alert', severity: 'critical', symbol: 'MSFT' });
    expect(big.report.status).toBe('breaks');
    expect(h.kernel.portfolio.peek('ACC1', null, 'MSFT')).toBeUndefined();
  });

  it('positions are compared as of the moment the venue answered: a fill that arrived meanwhile is no break', () => {
    const h = new KernelHarness();
    const o = liveOrder(h);
    const runId = 'race';
    h.input({ type: 'recon.begin', runId, kind: 'periodic', actor: SYS });
    // the venue answered (position 0), then a fill report arrived before the result was processed
    h.fill(o, '3', '100');
    h.input({ type: 'recon.result', runId, kind: 'periodic', actor: SYS, policy: POLICY, venues: [{ venue: 'SIMX', ok: true, accounts: [account({ positions: {} })] }] });
    expect(h.kernel.recon.lastReport!.counts.position_break).toBe(0);
    expect(h.kernel.recon.lastReport!.status).toBe('clean');
  });

  it('a venue that did not answer makes the run partial and raises an alert', () => {
    const h = new KernelHarness();
    h.input({ type: 'recon.begin', runId: 'down', kind: 'periodic', actor: SYS });
    h.input({ type: 'recon.result', runId: 'down', kind: 'periodic', actor: SYS, policy: POLICY, venues: [{ venue: 'SIMY', ok: false, error: 'SIMY: VENUE_DISCONNECTED', accounts: [] }] });
    expect(h.kernel.recon.lastReport).toMatchObject({ status: 'partial', counts: { venue_unavailable: 1 } });
  });
});
