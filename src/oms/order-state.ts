/**
 * The order state machine, with FIX 4.4 OrdStatus semantics. Every status change goes through
 * `canTransition`; the OMS refuses (and records) anything not in this table instead of applying it.
 *
 * A replace follows FIX: the order version being replaced ends in Replaced, and the replacement
 * continues as a new version (its own id and clOrdId) with the filled quantity carried over.
 */
import type { OrderStatus } from '../core/types.js';

export const TERMINAL_STATUSES: ReadonlySet<OrderStatus> = new Set<OrderStatus>(['Filled', 'Canceled', 'Replaced', 'Rejected', 'Expired']);

const TRANSITIONS: Record<OrderStatus, readonly OrderStatus[]> = {
  PendingNew: ['New', 'PartiallyFilled', 'Filled', 'Rejected', 'Canceled', 'Expired', 'PendingCancel'],
  New: ['PartiallyFilled', 'Filled', 'PendingCancel', 'PendingReplace', 'Canceled', 'Expired'],
  PartiallyFilled: ['PartiallyFilled', 'Filled', 'PendingCancel', 'PendingReplace', 'Canceled', 'Expired'],
  // From a pending state the order can return to where it was when the venue refuses the request.
  PendingCancel: ['Canceled', 'New', 'PartiallyFilled', 'Filled', 'Expired'],
  PendingReplace: ['Replaced', 'New', 'PartiallyFilled', 'Filled', 'Canceled', 'Expired', 'PendingCancel'],
  Filled: [],
  Canceled: [],
  Replaced: [],
  Rejected: [],
  Expired: [],
};

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function legalTargets(from: OrderStatus): readonly OrderStatus[] {
  return TRANSITIONS[from];
}

export function isTerminal(s: OrderStatus): boolean {
  return TERMINAL_STATUSES.has(s);
}

/** Open = could still trade at the venue (including orders whose acknowledgement is pending). */
export function isOpen(s: OrderStatus): boolean {
  return !TERMINAL_STATUSES.has(s);
}
