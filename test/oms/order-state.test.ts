import { describe, expect, it } from 'vitest';
import { ORDER_STATUSES, type OrderStatus } from '../../src/core/types.js';
import { canTransition, isOpen, isTerminal } from '../../src/oms/order-state.js';

/** The legal transitions, written out independently of the implementation's table. */
const LEGAL: Record<OrderStatus, OrderStatus[]> = {
  PendingNew: ['New', 'PartiallyFilled', 'Filled', 'Rejected', 'Canceled', 'Expired', 'PendingCancel'],
  New: ['PartiallyFilled', 'Filled', 'PendingCancel', 'PendingReplace', 'Canceled', 'Expired'],
  PartiallyFilled: ['PartiallyFilled', 'Filled', 'PendingCancel', 'PendingReplace', 'Canceled', 'Expired'],
  PendingCancel: ['Canceled', 'New', 'PartiallyFilled', 'Filled', 'Expired'],
  PendingReplace: ['Replaced', 'New', 'PartiallyFilled', 'Filled', 'Canceled', 'Expired', 'PendingCancel'],
  Filled: [],
  Canceled: [],
  Replaced: [],
  Rejected: [],
  Expired: [],
};

describe('order state machine', () => {
  for (const from of ORDER_STATUSES) {
    for (const to of ORDER_STATUSES) {
      const legal = LEGAL[from].includes(to);
      it(`${from} → ${to} is ${legal ? 'legal' : 'refused'}`, () => {
        expect(canTransition(from, to)).toBe(legal);
      });
    }
  }

  it('terminal states are exactly the ones with no way out', () => {
    for (const s of ORDER_STATUSES) {
      expect(isTerminal(s)).toBe(LEGAL[s].length === 0);
      expect(isOpen(s)).toBe(LEGAL[s].length > 0);
    }
  });
});
