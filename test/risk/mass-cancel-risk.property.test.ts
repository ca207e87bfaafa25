/**
 * A venue's mass cancel report is booked in one go: risk moves its scope totals once per group of
 * orders (RiskEngine.onOrdersEnded) instead of once per order. Whatever orders are open (buys and
 * sells, several accounts and symbols, partly filled, with pending replaces, with positions that
 * make sells short), ending them by one mass cancel report must leave risk exactly as ending them
 * by one cancel report each does.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isOpen } from '../../src/oms/order-state.js';
import type { MassCancelReportMsg } from '../../src/venues/venue.js';
import { KernelHarness, kernelConfig } from '../helpers.js';

interface Placed {
  account: 'ACC1' | 'ACC2';
  symbol: 'AAPL' | 'MSFT';
  side: 'buy' | 'sell';
  qty: number;
  px: number;
  /** 0: leave at New; otherwise fill this many first */
  fill: number;
  replaceTo: number;
}

const placed: fc.Arbitrary<Placed> = fc.record({
  account: fc.constantFrom('ACC1' as const, 'ACC2' as const),
  symbol: fc.constantFrom('AAPL' as const, 'MSFT' as const),
  side: fc.constantFrom('buy' as const, 'sell' as const),
  qty: fc.integer({ min: 1, max: 50 }),
  px: fc.integer({ min: 95, max: 105 }),
  fill: fc.integer({ min: 0, max: 60 }),
  replaceTo: fc.integer({ min: 0, max: 80 }),
});

function trade(orders: Placed[]): KernelHarness {
  const h = new KernelHarness(kernelConfig({ risk: { rules: [], restricted: [], alertThresholdsPct: [80, 100], checkTradingHours: false } }));
  h.quote('SIMX', 'AAPL', '99.99', '100.01');
  h.quote('SIMX', 'MSFT', '99.99', '100.01');
  for (const p of orders) {
    const o = h.order({ account: p.account, symbol: p.symbol, side: p.side, quantity: String(p.qty), price: String(p.px) }).order!;
    if (o.status === 'Rejected') continue;
    h.ack(o);
    // a fill of at most the order's size: positions (and so short sells) differ per scope
    if (p.fill > 0) h.fill(o, String(Math.min(p.fill, p.qty)), String(p.px));
    if (isOpen(o.status) && p.replaceTo > 0) h.input({ type: 'cmd.order.replace', actor: { id: 'u', channel: 'api' }, orderId: o.id, quantity: String(p.replaceTo) });
  }
  return h;
}

describe('mass cancel: risk books the orders together exactly as one by one', () => {
  it('one mass cancel report leaves the same risk state as one cancel report per order', () => {
    fc.assert(
      fc.property(fc.array(placed, { minLength: 1, maxLength: 40 }), (orders) => {
        const together = trade(orders);
        const oneByOne = trade(orders);
        const open = together.kernel.oms.openOrders();
        expect(oneByOne.kernel.oms.openOrders().map((o) => o.id)).toEqual(open.map((o) => o.id));
        const report: MassCancelReportMsg = {
          venue: 'SIMX',
          reportId: 'M1',
          requestId: 'R1',
          affected: open.map((o, i) => ({ clOrdId: o.clOrdId, venueOrderId: `V-${o.id}`, execId: `MC${i}`, cumQty: String(o.filledQuantity / 100_000_000n) })),
          venueTs: together.ts.toString(),
        };
        together.input({ type: 'exec.massCancel', r: report });
        for (const o of oneByOne.kernel.oms.openOrders()) oneByOne.report(o, { execType: 'canceled', ordStatus: 'Canceled', leavesQty: '0' });
        expect(together.kernel.oms.openOrders()).toEqual([]);
        expect(oneByOne.kernel.oms.openOrders()).toEqual([]);
        expect(together.eventsOf('exec.anomaly')).toEqual([]);
        expect(together.kernel.risk.snapshot()).toEqual(oneByOne.kernel.risk.snapshot());
      }),
      { numRuns: 200 },
    );
  });
});
