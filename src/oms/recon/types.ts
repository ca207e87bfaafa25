/**
 * Reconciliation wire types: what the reconciler gathers from the venues (outside the core), the
 * policy it applies (journaled with the data, so a replay decides the same way whatever the config
 * file says later), and the report it produces.
 */
import type { Actor } from '../../core/types.js';
import type { ExecutionReportMsg } from '../../venues/venue.js';

export type ReconKind = 'periodic' | 'full' | 'startup' | 'manual';

export interface ReconPolicy {
  /** position breaks up to this quantity (decimal string) are booked as adjustments; larger ones only alert */
  autoCorrectMaxQty: string;
  /** what to do with a live venue order we do not know: cancel it at the venue, or only alert */
  unknownOrderPolicy: 'cancel' | 'alert';
  /** an order in a pending state (or unknown to the venue) for longer than this is stuck */
  stuckAfterMs: number;
}

export interface ReconAccountData {
  account: string;
  /** venue time (ns, decimal string) the execution history starts at */
  since: string;
  /** latest venue time among all reports the venue returned (before any were left out): the next run starts there */
  until?: string;
  openOrders: ExecutionReportMsg[];
  /** symbol → net position (decimal string) as the venue books it */
  positions: Record<string, string>;
  /** the venue's reports since `since`, less those the core had already applied when they were gathered */
  executions: ExecutionReportMsg[];
}

export interface ReconVenueData {
  venue: string;
  ok: boolean;
  error?: string;
  accounts: ReconAccountData[];
}

export const DISCREPANCY_CLASSES = [
  'missing_fill',
  'missing_report',
  'unknown_order',
  'stuck_pending',
  'missing_at_venue',
  'stuck_unanswered',
  'position_break',
  'venue_unavailable',
] as const;
export type DiscrepancyClass = (typeof DISCREPANCY_CLASSES)[number];

export type ReconAction = 'applied' | 'cancel_sent' | 'status_requested' | 'adjusted' | 'alert';

export interface ReconDiscrepancy {
  class: DiscrepancyClass;
  venue: string;
  account?: string;
  symbol?: string;
  orderId?: string;
  clOrdId?: string;
  execId?: string;
  severity: 'info' | 'warning' | 'critical';
  action: ReconAction;
  detail: Record<string, string>;
}

export interface ReconReport {
  runId: string;
  kind: ReconKind;
  actor: Actor;
  /** journal stamp of the result input */
  ts: string;
  seq: number;
  /** clean: nothing found; corrected: everything found was fixed; breaks: something needs a person; partial: a venue did not answer */
  status: 'clean' | 'corrected' | 'breaks' | 'partial';
  venues: { venue: string; ok: boolean; error?: string; accounts: { account: string; since: string; executions: number; openOrders: number; positions: number }[] }[];
  counts: Record<DiscrepancyClass, number>;
  corrections: number;
  alerts: number;
  /** the first 1,000 discrepancies (all of them are in the journal as events) */
  discrepancies: ReconDiscrepancy[];
  truncated: boolean;
}
