import { describe, expect, it } from 'vitest';
import { KernelHarness } from '../helpers.js';

describe('order management', () => {
  it('runs an order through ack, partial fill and fill, booking the position', () => {
    const h = new KernelHarness();
    const o = h.order({ quantity: '10', price: '100' }).order!;
    expect(o.status).toBe('PendingNew');
    expect(h.lastNew()).toMatchObject({ clOrdId: o.clOrdId, quantity: '10', price: '100', side: 'buy' });
    h.ack(o);
    expect(o.status).toBe('New');
    h.fill(o, '4', '100', '0.12');
    expect(o.status).toBe('PartiallyFilled');
    h.fill(o, '6', '99.5');
    expect(o.status).toBe('Filled');
    expect(h.kernel.oms.open.has(o.id)).toBe(false);
    const p = h.kernel.portfolio.peek('ACC1', null, 'AAPL')!;
    expect(p.quantity).toBe(1_000_000_000n);
    // cash: 1,000,000 − 400 − 597 − 0.12
    expect(h.kernel.portfolio.accounts.get('ACC1')!.cash).toBe(99_900_288_000_000n);
  });

  it('refuses and records an illegal transition instead of applying it', () => {
    const h = new KernelHarness();
    const o = h.order().order!;
    h.ack(o);
    h.fill(o, '10', '100');
    expect(o.status).toBe('Filled');
    h.report(o, { execType: 'canceled', ordStatus: 'Canceled' });
    expect(o.status).toBe('Filled');
    const refused = h.eventsOf('order.transitionRefused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ orderId: o.id, from: 'Filled', to: 'Canceled' });
  });

  it('ignores a duplicated execution report (same execId)', () => {
    const h = new KernelHarness();
    const o = h.order().order!;
    h.ack(o);
    const rep = { execType: 'trade' as const, ordStatus: 'PartiallyFilled' as const, lastQty: '3', lastPx: '100', execId: 'DUP-1' };
    h.report(o, rep);
    h.report(o, rep);
    expect(o.filledQuantity).toBe(300_000_000n);
    expect(h.eventsOf('exec.ignored').map((e) => e.reason)).toEqual(['duplicate']);
  });

  it('cancels: PendingCancel then Canceled; a refused cancel restores the state', () => {
    const h = new KernelHarness();
    const o = h.order().order!;
    h.ack(o);
    h.input({ type: 'cmd.order.cancel', actor: { id: 'u', channel: 'api' }, orderId: o.id });
    expect(o.status).toBe('PendingCancel');
    const cancel = h.commands.at(-1)!.cmd;
    expect(cancel).toMatchObject({ type: 'cancel', origClOrdId: o.clOrdId });
    h.report(o, { execType: 'cancelRejected', ordStatus: 'New', clOrdId: (cancel as { clOrdId: string }).clOrdId, origClOrdId: o.clOrdId, reason: 'TOO_LATE' });
    expect(o.status).toBe('New');
    h.input({ type: 'cmd.order.cancel', actor: { id: 'u', channel: 'api' }, orderId: o.id });
    h.report(o, { execType: 'canceled', ordStatus: 'Canceled' });
    expect(o.status).toBe('Canceled');
  });

  it('replaces: the old version ends Replaced, the new one carries the fills', () => {
    const h = new KernelHarness();
    const o = h.order({ quantity: '10', price: '100' }).order!;
    h.ack(o);
    h.fill(o, '2', '100');
    const r = h.input({ type: 'cmd.order.replace', actor: { id: 'u', channel: 'api' }, orderId: o.id, quantity: '8', price: '101' });
    expect(r.error).toBeUndefined();
    expect(o.status).toBe('PendingReplace');
    const cmd = h.commands.at(-1)!.cmd as { type: string; clOrdId: string; origClOrdId: string; quantity: string; price: string };
    expect(cmd).toMatchObject({ type: 'replace', origClOrdId: o.clOrdId, quantity: '8', price: '101' });
    h.report(o, { execType: 'replaced', ordStatus: 'PartiallyFilled', clOrdId: cmd.clOrdId, origClOrdId: o.clOrdId });
    expect(o.status).toBe('Replaced');
    const n = h.kernel.oms.get(o.replacedById!)!;
    expect(n.status).toBe('PartiallyFilled');
    expect(n.quantity).toBe(800_000_000n);
    expect(n.price).toBe(10_100_000_000n);
    expect(n.filledQuantity).toBe(200_000_000n);
    expect(n.replacesId).toBe(o.id);
    h.fill(n, '6', '101');
    expect(n.status).toBe('Filled');
  });

  it('rejects unknown instruments and bad prices with a reason code on the order', () => {
    const h = new KernelHarness();
    expect(h.order({ symbol: 'ZZZZ' }).order!).toMatchObject({ status: 'Rejected', rejectReason: 'UNKNOWN_INSTRUMENT' });
    // a market order needs a reference price to be valued
    expect(h.order({ type: 'market', price: undefined }).order!).toMatchObject({ status: 'Rejected', rejectReason: 'NO_REFERENCE_PRICE' });
    h.quote('SIMX', 'AAPL', '99.99', '100.01');
    expect(h.order({ type: 'market', price: undefined }).order!.status).toBe('PendingNew');
    expect(h.order({ type: 'limit', price: undefined }).order!).toMatchObject({ status: 'Rejected', rejectReason: 'MISSING_PRICE' });
    expect(h.eventsOf('order.rejected').length).toBe(3);
  });

  it('a venue reject moves PendingNew to Rejected with the venue reason', () => {
    const h = new KernelHarness();
    const o = h.order().order!;
    h.report(o, { execType: 'rejected', ordStatus: 'Rejected', reason: 'HALTED' });
    expect(o).toMatchObject({ status: 'Rejected', rejectReason: 'VENUE_HALTED' });
  });
});

describe('mass cancel report', () => {
  it('cancels each order it names once, flags a cumQty above what was booked, and ignores a duplicate or an unknown order', () => {
    const h = new KernelHarness();
    const a = h.order({ quantity: '10', price: '100' }).order!;
    const b = h.order({ quantity: '10', price: '100' }).order!;
    const c = h.order({ quantity: '10', price: '100' }).order!;
    for (const o of [a, b, c]) h.ack(o);
    h.fill(a, '4', '100');
    const venue = a.venue;
    const report = {
      venue,
      reportId: 'M1',
      requestId: 'K1-1',
      affected: [
        { clOrdId: a.clOrdId, venueOrderId: 'V-a', execId: 'X-a', cumQty: '4' },
        { clOrdId: b.clOrdId, venueOrderId: 'V-b', execId: 'X-b', cumQty: '1' },
        { clOrdId: 'nobody', venueOrderId: 'V-n', execId: 'X-n', cumQty: '0' },
      ],
      venueTs: '1',
    };
    h.input({ type: 'exec.massCancel', r: report });
    expect([a.status, b.status, c.status]).toEqual(['Canceled', 'Canceled', 'New']);
    expect(a.filledQuantity).toBe(400_000_000n);
    expect(h.kernel.oms.hasSeenExec(venue, 'X-a')).toBe(true);
    expect(h.kernel.oms.hasSeenExec(venue, 'X-b')).toBe(true);
    // an order we do not know: its cancellation stays unseen, for reconciliation to report
    expect(h.kernel.oms.hasSeenExec(venue, 'X-n')).toBe(false);
    expect(h.eventsOf('exec.anomaly').map((e) => e.orderId)).toEqual([b.id]);
    expect(h.eventsOf('exec.ignored').map((e) => [e.execId, e.reason])).toEqual([['X-n', 'unknown_order']]);
    // one record for the whole report, naming each order it ended with its change and former status
    expect(h.eventsOf('order.updated').filter((e) => e.cause === 'venue mass cancel K1-1')).toEqual([]);
    const booked = h.eventsOf('order.massCanceled');
    expect(booked).toHaveLength(1);
    expect(booked[0]).toMatchObject({ venue, reportId: 'M1', requestId: 'K1-1', cause: 'venue mass cancel K1-1', updatedTs: a.updatedTs.toString() });
    expect(booked[0]!.orders).toEqual([
      { id: a.id, from: 'PartiallyFilled' },
      { id: b.id, from: 'New' },
    ]);
    h.input({ type: 'exec.massCancel', r: report });
    expect(h.eventsOf('exec.ignored').map((e) => [e.execId, e.reason])).toEqual([['X-n', 'unknown_order'], ['M1', 'duplicate']]);
    expect(h.eventsOf('order.massCanceled')).toHaveLength(1);
  });
});
