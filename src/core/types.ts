/** Domain vocabulary shared by every engine. String unions so that they journal and serialize as-is. */

export type Side = 'buy' | 'sell';
export type OrderType = 'limit' | 'market';
export type TimeInForce = 'DAY' | 'GTC' | 'IOC' | 'FOK';

export const SIDES: readonly Side[] = ['buy', 'sell'];
export const ORDER_TYPES: readonly OrderType[] = ['limit', 'market'];
export const TIME_IN_FORCES: readonly TimeInForce[] = ['DAY', 'GTC', 'IOC', 'FOK'];

/** Order states with FIX 4.4 OrdStatus semantics. */
export type OrderStatus =
  | 'PendingNew'
  | 'New'
  | 'PartiallyFilled'
  | 'Filled'
  | 'PendingCancel'
  | 'Canceled'
  | 'PendingReplace'
  | 'Replaced'
  | 'Rejected'
  | 'Expired';

export const ORDER_STATUSES: readonly OrderStatus[] = [
  'PendingNew',
  'New',
  'PartiallyFilled',
  'Filled',
  'PendingCancel',
  'Canceled',
  'PendingReplace',
  'Replaced',
  'Rejected',
  'Expired',
];

/** Who or what asked for something: recorded with every command. */
export interface Actor {
  /** user id, strategy id, or 'system' */
  id: string;
  role?: string;
  /** api, cli, console, phone, strategy, system, runbook */
  channel: string;
  /** source address for human actors */
  address?: string;
}

export const SYSTEM_ACTOR: Actor = { id: 'system', channel: 'system' };

export function oppositeSide(s: Side): Side {
  return s === 'buy' ? 'sell' : 'buy';
}

export function sideSign(s: Side): 1n | -1n {
  return s === 'buy' ? 1n : -1n;
}
