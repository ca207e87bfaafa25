/**
 * The recovery gate: after a restart, nothing new leaves for a venue until the venues have told us
 * what became of the orders that were in flight at the crash. It lives in the deterministic core
 * and is driven only by journaled inputs:
 *
 *   recovery.begin  → a status request for every open order (through the outbox), gate closed
 *   exec (orderStatus / UNKNOWN_ORDER / any terminal report) → that order is answered
 *   recon.result (kind 'startup') → the venues' execution history was applied (missed fills)
 *   timer past the deadline → the gate opens anyway; unanswered orders are marked uncertain
 *
 * While closed, every new order and replace is refused (RECOVERY_IN_PROGRESS) and strategies get
 * no market-data, bar or timer callbacks (they do get their orders' updates and fills, which are
 * facts). Cancels and the kill switch work as always: reducing risk is never blocked.
 */
import type { Nanos } from '../../core/time.js';
import type { Event } from '../messages.js';
import type { Order } from '../../oms/order.js';
import { isOpen } from '../../oms/order-state.js';
import type { OrderManager } from '../../oms/oms.js';
import type { RiskVerdict } from '../../risk/types.js';
import type { VenueCommand } from '../../venues/venue.js';

export interface GateHost {
  readonly oms: OrderManager;
  now(): Nanos;
  emit(e: Event): void;
  send(venue: string, cmd: VenueCommand): void;
}

export interface GateSnapshot {
  active: boolean;
  pending: string[];
  awaitReconciliation: boolean;
  startedTs: string;
  deadline: string;
  answered: number;
}

export class RecoveryGate {
  private active = false;
  private readonly pending = new Set<string>();
  private awaitRecon = false;
  private startedTs: Nanos = 0n;
  private deadline: Nanos = 0n;
  private answered = 0;

  constructor(private readonly host: GateHost) {}

  get isActive(): boolean {
    return this.active;
  }

  view(): { active: boolean; pendingOrders: string[]; awaitingReconciliation: boolean; deadline: string | null } {
    return { active: this.active, pendingOrders: [...this.pending], awaitingReconciliation: this.awaitRecon, deadline: this.active ? this.deadline.toString() : null };
  }

  /** Risk guard: while the gate is closed, no new order or replace goes out. */
  readonly guard = (_o: Order): RiskVerdict | null =>
    this.active ? { code: 'RECOVERY_IN_PROGRESS', detail: { pendingOrders: String(this.pending.size), awaitingReconciliation: String(this.awaitRecon) } } : null;

  begin(timeoutMs: number, awaitReconciliation: boolean): void {
    const now = this.host.now();
    this.pending.clear();
    this.active = true;
    this.awaitRecon = awaitReconciliation;
    this.startedTs = now;
    this.deadline = now + BigInt(Math.max(0, Math.trunc(timeoutMs))) * 1_000_000n;
    this.answered = 0;
    const orders = this.host.oms.openOrders();
    for (const o of orders) {
      this.pending.add(o.id);
      this.host.send(o.venue, { type: 'status', clOrdId: o.clOrdId, symbol: o.symbol });
    }
    this.host.emit({ type: 'recovery.started', orders: orders.map((o) => o.id), timeoutMs, awaitReconciliation });
    this.maybeComplete([]);
  }

  onStatusAnswer(o: Order): void {
    if (!this.active || !this.pending.delete(o.id)) return;
    this.answered++;
    this.maybeComplete([]);
  }

  /** An order that ended (a late report, a reconciliation) needs no answer any more. */
  onOrderUpdate(o: Order): void {
    if (!this.active || isOpen(o.status) || !this.pending.delete(o.id)) return;
    this.answered++;
    this.maybeComplete([]);
  }

  onReconciled(): void {
    if (!this.active || !this.awaitRecon) return;
    this.awaitRecon = false;
    this.maybeComplete([]);
  }

  onTimer(now: Nanos): void {
    if (!this.active || now < this.deadline) return;
    // fail safe: what was not answered stays live in our books, flagged for operators and reconciliation
    const timedOut = [...this.pending];
    for (const id of timedOut) {
      const o = this.host.oms.get(id);
      if (o && isOpen(o.status)) o.uncertain = true;
    }
    this.pending.clear();
    this.awaitRecon = false;
    this.maybeComplete(timedOut);
  }

  private maybeComplete(timedOut: string[]): void {
    if (!this.active || this.pending.size > 0 || this.awaitRecon) return;
    this.active = false;
    this.host.emit({ type: 'recovery.completed', answered: this.answered, timedOut, durationNs: (this.host.now() - this.startedTs).toString() });
  }

  snapshot(): GateSnapshot {
    return { active: this.active, pending: [...this.pending], awaitReconciliation: this.awaitRecon, startedTs: String(this.startedTs), deadline: String(this.deadline), answered: this.answered };
  }

  restore(s: GateSnapshot): void {
    this.active = s.active;
    this.pending.clear();
    for (const id of s.pending) this.pending.add(id);
    this.awaitRecon = s.awaitReconciliation;
    this.startedTs = BigInt(s.startedTs);
    this.deadline = BigInt(s.deadline);
    this.answered = s.answered;
  }
}
