/**
 * Everything that enters the core is an Input; everything the core concludes is an Event. Both are
 * JSON-safe (decimals as strings) so that the journal, a shared-memory ring between threads, NATS
 * and the WebSocket can carry them without conversion. The sequencer gives each one a sequence
 * number and a nanosecond timestamp and journals it; inputs are replayed, events are the record.
 */
import type { Actor, OrderStatus, OrderType, Side, TimeInForce } from '../core/types.js';
import type { ExecutionReportMsg, InstrumentStatusMsg, MassCancelReportMsg, QuoteMsg, TradeMsg } from '../venues/venue.js';
import type { FillWire, OrderChangeWire, OrderMassCancelWire, OrderWire } from '../oms/order.js';
import type { PositionWire } from '../portfolio/portfolio.js';
import type { KernelConfig } from './kernel-config.js';
import type { RiskConfig } from '../risk/config.js';
import type { RiskAlert, TradingState } from '../risk/engine.js';
import type { KillScope } from '../risk/kill-switch.js';
import type { ReconDiscrepancy, ReconKind, ReconPolicy, ReconReport, ReconVenueData } from '../oms/recon/types.js';

export interface OrderRequestWire {
  symbol: string;
  venue: string;
  side: Side;
  type: OrderType;
  quantity: string;
  price?: string;
  timeInForce: TimeInForce;
  clientOrderId: string;
  account: string;
  strategyId?: string;
  traderId?: string;
}

export type Input =
  | { type: 'system.start'; config: KernelConfig; nodeId: string; version: string; recovered: boolean }
  | { type: 'system.stop'; reason: string; actor: Actor }
  | { type: 'system.note'; event: string; detail: Record<string, unknown> }
  | { type: 'timer' }
  | { type: 'md.quote'; m: QuoteMsg }
  | { type: 'md.trade'; m: TradeMsg }
  | { type: 'md.status'; m: InstrumentStatusMsg }
  | { type: 'exec'; r: ExecutionReportMsg }
  /** reports that arrived together (one venue read): one journal record instead of many */
  | { type: 'exec.batch'; rs: ExecutionReportMsg[] }
  /** a venue's answer to a mass cancel: every order it cancelled, in one report (FIX OrderMassCancelReport) */
  | { type: 'exec.massCancel'; r: MassCancelReportMsg }
  | { type: 'venue.connection'; venue: string; up: boolean }
  | { type: 'cmd.order.new'; actor: Actor; order: OrderRequestWire }
  | { type: 'cmd.order.cancel'; actor: Actor; orderId: string }
  | { type: 'cmd.order.replace'; actor: Actor; orderId: string; quantity?: string; price?: string }
  | { type: 'cmd.strategy'; actor: Actor; strategyId: string; action: 'start' | 'stop' | 'pause'; reason?: string }
  | { type: 'cmd.risk.limits'; actor: Actor; reason: string; config: RiskConfig }
  | { type: 'cmd.risk.state'; actor: Actor; reason: string; scope: string; state: TradingState }
  | { type: 'cmd.kill'; actor: Actor; scope: KillScope; reason: string }
  | { type: 'cmd.kill.reset'; actor: Actor; activationId: string; reason: string }
  /** after a restart: ask the venues about every open order; no new order until answered or timed out */
  | { type: 'recovery.begin'; timeoutMs: number; awaitReconciliation: boolean }
  /** a reconciliation run starts gathering venue answers (marks where our fills stood) */
  | { type: 'recon.begin'; runId: string; kind: ReconKind; actor: Actor }
  /** the venues' answers, gathered outside the core, with the policy to apply to them */
  | { type: 'recon.result'; runId: string; kind: ReconKind; actor: Actor; policy: ReconPolicy; venues: ReconVenueData[] };

export type InputType = Input['type'];

export type Event =
  | { type: 'system.started'; nodeId: string; version: string; recovered: boolean; openOrders: number }
  | { type: 'system.stopping'; reason: string; actor: Actor; openOrders: number }
  | { type: 'order.created'; order: OrderWire; actor: Actor }
  | { type: 'order.updated'; order: OrderChangeWire; from: OrderStatus; cause: string; actor?: Actor }
  /**
   * One venue OrderMassCancelReport as the core booked it: every order it ended Canceled at
   * updatedTs (leaves 0; filled quantity, average price and fees unchanged), each with the status it
   * left. One record for the whole report instead of one order.updated per order (docs/architecture.md).
   */
  | { type: 'order.massCanceled'; venue: string; reportId: string; requestId: string; cause: string; updatedTs: string; orders: OrderMassCancelWire[] }
  | { type: 'order.rejected'; order: OrderWire; reason: string; detail: Record<string, string>; actor: Actor }
  | { type: 'order.transitionRefused'; orderId: string; from: OrderStatus; to: OrderStatus; cause: string }
  | { type: 'order.replaceRequested'; orderId: string; newOrderId: string; quantity: string; price: string | null; actor: Actor }
  | { type: 'order.requestRefused'; orderId: string; request: 'cancel' | 'replace'; reason: string; actor: Actor }
  | { type: 'fill'; fill: FillWire }
  | { type: 'position'; position: PositionWire }
  | { type: 'exec.ignored'; venue: string; execId: string; clOrdId: string; reason: 'duplicate' | 'unknown_order' | 'stale' }
  | { type: 'exec.anomaly'; orderId: string; detail: string }
  | { type: 'strategy.state'; strategyId: string; from: string; to: string; actor: Actor; reason: string }
  | { type: 'strategy.error'; strategyId: string; error: string; callback: string }
  | { type: 'strategy.log'; strategyId: string; message: string; data?: Record<string, unknown> }
  | { type: 'venue.connection'; venue: string; up: boolean }
  | { type: 'system.note'; event: string; detail: Record<string, unknown> }
  | { type: 'risk.alert'; alert: RiskAlert }
  | { type: 'risk.limitsChanged'; old: RiskConfig; new: RiskConfig; actor: Actor; reason: string }
  | { type: 'risk.stateChanged'; scope: string; from: TradingState; to: TradingState; actor: Actor; reason: string; detail: Record<string, string> }
  | { type: 'kill.activated'; activationId: string; scope: string; actor: Actor; reason: string }
  | { type: 'kill.refused'; scope: string; actor: Actor; reason: string }
  | {
      type: 'kill.cancelsSent';
      activationId: string;
      orders: number;
      massCancels: number;
      cancels: number;
      massCancelRequests: { venue: string; account: string; requestId: string }[];
      /** orders covered by the mass cancels (no individual cancel was sent for them) */
      massCancelledOrders: string[];
      strategiesStopped: string[];
    }
  | { type: 'kill.completed'; activationId: string; orders: number; durationNs: string }
  | { type: 'kill.escalated'; activationId: string; severity: 'critical'; uncertainOrders: string[]; retry: number; retrying: boolean; message: string }
  | { type: 'kill.resetApproved'; activationId: string; actor: Actor; reason: string; approvals: number }
  | { type: 'kill.reset'; activationId: string; scope: string; actors: Actor[]; reason: string }
  | { type: 'recovery.started'; orders: string[]; timeoutMs: number; awaitReconciliation: boolean }
  | { type: 'recovery.completed'; answered: number; timedOut: string[]; durationNs: string }
  /** a discrepancy the reconciliation fixed (applied a missed report, cancelled, adjusted, queried) */
  | { type: 'recon.correction'; runId: string; discrepancy: ReconDiscrepancy }
  /** a discrepancy that needs a person (alert only) */
  | { type: 'recon.discrepancy'; runId: string; discrepancy: ReconDiscrepancy }
  | { type: 'recon.completed'; runId: string; report: ReconReport };

export type EventType = Event['type'];
