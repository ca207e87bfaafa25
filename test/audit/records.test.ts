import { describe, expect, it } from 'vitest';
import { orderIdsOf } from '../../src/audit/records.js';

describe('orderIdsOf (GET /audit?orderId=)', () => {
  it('finds the orders a record names, one by one or in lists', () => {
    expect(orderIdsOf({ type: 'order.updated', order: { id: 'O1', replacedById: 'O2' } })).toEqual(['O1', 'O2']);
    expect(orderIdsOf({ type: 'exec', r: { clOrdId: 'O3-C1' } })).toEqual(['O3-C1', 'O3']);
    expect(orderIdsOf({ type: 'exec.massCancel', r: { affected: [{ clOrdId: 'O4' }, { clOrdId: 'O5-C2' }] } })).toEqual(['O4', 'O5-C2', 'O5']);
    // one venue mass cancel as the core booked it
    expect(orderIdsOf({ type: 'order.massCanceled', orders: [{ id: 'O6', from: 'New' }, { id: 'O7', from: 'PendingCancel' }] })).toEqual(['O6', 'O7']);
    // the kill switch's activation record, its escalation, and a recovery's gate
    expect(orderIdsOf({ type: 'kill.cancelsSent', orders: 2, massCancelledOrders: ['O8', 'O9'] })).toEqual(['O8', 'O9']);
    expect(orderIdsOf({ type: 'kill.escalated', uncertainOrders: ['O10'] })).toEqual(['O10']);
    expect(orderIdsOf({ type: 'recovery.started', orders: ['O11'] })).toEqual(['O11']);
    expect(orderIdsOf({ type: 'recovery.completed', timedOut: ['O12'] })).toEqual(['O12']);
  });

  it('ignores what is not an order id: numbers, empty strings, objects without an id', () => {
    expect(orderIdsOf({ type: 'kill.completed', orders: 10_000 })).toEqual([]);
    expect(orderIdsOf({ type: 'order.massCanceled', orders: [{ from: 'New' }, '', 7, null] })).toEqual([]);
  });
});
