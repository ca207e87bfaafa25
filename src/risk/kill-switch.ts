/**
 * The kill switch (FINRA 15-09, SEC 15c3-5, MiFID II RTS 6): the control of last resort. Activation
 * blocks new orders in scope (risk rejects them with KILL_SWITCH), stops the strategies in scope,
 * and cancels every open order in scope on every venue — one mass cancel per venue and account
 * where the venue offers it, individual cancels otherwise. It then tracks confirmations: complete
 * when every order in scope is confirmed cancelled (or filled); an order not confirmed within the
 * timeout is marked UNCERTAIN, its cancel is re-sent, and a critical alert is raised.
 *
 * It lives in the deterministic core: activations, confirmations and resets are journaled inputs and
 * events, so a restart rebuilds the same kill state and never re-enables trading by itself.
 */
import type { Nanos } from '../core/time.js';
import type { Actor } from '../core/types.js';
import type { Event } from '../engine/messages.js';
import type { Order } from '../oms/order.js';
import { isOpen } from '../oms/order-state.js';
import type { OrderManager } from '../oms/oms.js';
import type { VenueCommand } from '../venues/venue.js';
import type { RiskVerdict } from './types.js';
import type { KillSwitchSnapshot } from '../engine/snapshots/parts.js';

export const KILL_SCOPES = ['firm', 'venue', 'account', 'trader', 'strategy', 'symbol'] as const;
export type KillScopeType = (typeof KILL_SCOPES)[number];

export interface KillScope {
  type: KillScopeType;
  /** absent for firm */
  id?: string;
}

export type ActivationStatus = 'CANCELLING' | 'COMPLETE' | 'UNCERTAIN' | 'RESET';

export interface KillActivation {
  id: string;
  scope: KillScope;
  actor: Actor;
  reason: string;
  /** journal stamp of the activation input: the receipt time */
  activatedTs: Nanos;
  status: ActivationStatus;
  /** orders in scope at activation → confirmation state */
  orders: Map<string, 'pending' | 'canceled' | 'filled' | 'uncertain'>;
  /** orders not yet confirmed (pending or uncertain): completion is a counter check, not a scan */
  unconfirmed: number;
  massCancels: number;
  cancelsSent: number;
  retries: number;
  strategiesStopped: string[];
  completedTs: Nanos | null;
  resetTs: Nanos | null;
  resetBy: Actor[];
  /** approvals collected for a reset that needs two */
  approvals: Actor[];
  lastRetryTs: Nanos;
}

export interface KillHost {
  readonly oms: OrderManager;
  readonly now: Nanos;
  emit(e: Event): void;
  send(venue: string, cmd: VenueCommand): void;
  supportsMassCancel(venue: string): boolean;
  /** strategies in scope: id, account, traderId */
  strategies(): { id: string; account: string; traderId: string | null; running: boolean }[];
  stopStrategy(id: string, actor: Actor, reason: string): void;
}

const RESET_ROLES = new Set(['risk_manager', 'senior_management']);
const ACTIVATE_ANY_ROLES = new Set(['risk_manager', 'senior_management']);

export function scopeLabel(s: KillScope): string {
  return s.type === 'firm' ? 'firm' : `${s.type}:${s.id}`;
}

export class KillSwitch {
  readonly activations: KillActivation[] = [];

  /** Some activation is still waiting for its confirmations (before its timeout). */
  get cancelling(): boolean {
    for (let i = this.activations.length - 1; i >= 0; i--) if (this.activations[i]!.status === 'CANCELLING') return true;
    return false;
  }
  private nextId = 1;
  timeoutNs: Nanos = 2_000_000_000n;
  maxRetries = 5;

  constructor(private readonly host: KillHost) {}

  configure(timeoutMs: number, maxRetries: number): void {
    this.timeoutNs = BigInt(timeoutMs) * 1_000_000n;
    this.maxRetries = maxRetries;
  }

  active(): KillActivation[] {
    return this.activations.filter((a) => a.status !== 'RESET');
  }

  inScope(s: KillScope, o: { venue: string; account: string; traderId: string | null; strategyId: string | null; symbol: string }): boolean {
    switch (s.type) {
      case 'firm':
        return true;
      case 'venue':
        return o.venue === s.id;
      case 'account':
        return o.account === s.id;
      case 'trader':
        return o.traderId === s.id;
      case 'strategy':
        return o.strategyId === s.id;
      case 'symbol':
        return o.symbol === s.id;
    }
  }

  /** Risk guard: new orders in the scope of any activation that is not reset are refused. */
  readonly guard = (o: Order): RiskVerdict | null => {
    for (let i = 0; i < this.activations.length; i++) {
      const a = this.activations[i]!;
      if (a.status !== 'RESET' && this.inScope(a.scope, o)) return { code: 'KILL_SWITCH', detail: { activation: a.id, scope: scopeLabel(a.scope), reason: a.reason } };
    }
    return null;
  };

  /** Who may pull it: risk managers and senior management anywhere; a trader for their own strategies. */
  authorize(actor: Actor, scope: KillScope): string | null {
    if (actor.channel === 'system' || actor.channel === 'auto') return null;
    if (actor.role !== undefined && ACTIVATE_ANY_ROLES.has(actor.role)) return null;
    if (actor.role === 'trader') {
      if (scope.type === 'strategy' && this.host.strategies().some((s) => s.id === scope.id && s.traderId === actor.id)) return null;
      if (scope.type === 'trader' && scope.id === actor.id) return null;
      return `trader ${actor.id} may only kill their own strategies`;
    }
    return `role ${actor.role ?? 'none'} may not activate the kill switch`;
  }

  activate(scope: KillScope, actor: Actor, reason: string): { activation?: KillActivation; error?: RiskVerdict } {
    const refused = this.authorize(actor, scope);
    if (refused) {
      this.host.emit({ type: 'kill.refused', scope: scopeLabel(scope), actor, reason: refused });
      return { error: { code: 'FORBIDDEN', detail: { reason: refused } } };
    }
    const now = this.host.now;
    const a: KillActivation = {
      id: 'K' + this.nextId++,
      scope,
      actor,
      reason,
      activatedTs: now,
      status: 'CANCELLING',
      orders: new Map(),
      unconfirmed: 0,
      massCancels: 0,
      cancelsSent: 0,
      retries: 0,
      strategiesStopped: [],
      completedTs: null,
      resetTs: null,
      resetBy: [],
      approvals: [],
      lastRetryTs: now,
    };
    this.activations.push(a);
    this.host.emit({ type: 'kill.activated', activationId: a.id, scope: scopeLabel(scope), actor, reason });

    // 1. cancel everything in scope: mass cancel per (venue, account) where the venue offers it
    const inScope = this.host.oms.openOrders((o) => this.inScope(scope, o));
    // venue → accounts asked to mass cancel (no key string built per order)
    const massSent = new Map<string, Set<string>>();
    const massOrders: string[] = [];
    const massRequests: { venue: string; account: string; requestId: string }[] = [];
    const massByScope = scope.type === 'firm' || scope.type === 'venue' || scope.type === 'account' || scope.type === 'symbol';
    for (const o of inScope) {
      a.orders.set(o.id, 'pending');
      a.unconfirmed++;
      if (massByScope && this.host.supportsMassCancel(o.venue)) {
        let accounts = massSent.get(o.venue);
        if (accounts === undefined) massSent.set(o.venue, (accounts = new Set()));
        if (!accounts.has(o.account)) {
          accounts.add(o.account);
          const requestId = `${a.id}-${massRequests.length + 1}`;
          massRequests.push({ venue: o.venue, account: o.account, requestId });
          this.host.send(o.venue, {
            type: 'massCancel',
            requestId,
            account: o.account,
            ...(scope.type === 'symbol' ? { symbol: scope.id! } : {}),
          });
          a.massCancels++;
        }
        // no per-order state change or record: the order stays as it is until the venue confirms;
        // the activation's kill.cancelsSent record lists every order the mass cancels cover
        o.cancelRequests++;
        massOrders.push(o.id);
      } else {
        this.host.oms.forceCancel(o, actor);
        a.cancelsSent++;
      }
    }
    // 2. stop the strategies in scope (their orders are already being cancelled) (a venue or symbol kill leaves strategies running elsewhere)
    if (scope.type === 'firm' || scope.type === 'account' || scope.type === 'trader' || scope.type === 'strategy') {
      for (const s of this.host.strategies()) {
        if (!s.running) continue;
        const hit = scope.type === 'firm' || (scope.type === 'account' && s.account === scope.id) || (scope.type === 'trader' && s.traderId === scope.id) || (scope.type === 'strategy' && s.id === scope.id);
        if (hit) {
          this.host.stopStrategy(s.id, actor, `kill switch ${a.id}: ${reason}`);
          a.strategiesStopped.push(s.id);
        }
      }
    }

    this.host.emit({ type: 'kill.cancelsSent', activationId: a.id, orders: inScope.length, massCancels: a.massCancels, cancels: a.cancelsSent, massCancelRequests: massRequests, massCancelledOrders: massOrders, strategiesStopped: a.strategiesStopped });
    this.checkComplete(a);
    return { activation: a };
  }

  /** Every order update: confirmations for activations still cancelling. */
  onOrderUpdate(o: Order): void {
    if (isOpen(o.status)) return;
    for (const a of this.activations) {
      if (a.status !== 'CANCELLING' && a.status !== 'UNCERTAIN') continue;
      const st = a.orders.get(o.id);
      if (st === undefined || st === 'canceled' || st === 'filled') continue;
      // the order.updated event already records the confirmation; no second record per order
      a.orders.set(o.id, o.status === 'Filled' ? 'filled' : 'canceled');
      a.unconfirmed--;
      this.checkComplete(a);
    }
  }

  private checkComplete(a: KillActivation): void {
    if (a.unconfirmed > 0 || a.status === 'COMPLETE') return;
    a.status = 'COMPLETE';
    a.completedTs = this.host.now;
    this.host.emit({ type: 'kill.completed', activationId: a.id, orders: a.orders.size, durationNs: (a.completedTs - a.activatedTs).toString() });
  }

  /** Timer: unconfirmed orders past the timeout become UNCERTAIN, are re-cancelled, and escalate. */
  onTimer(now: Nanos): void {
    for (const a of this.activations) {
      if (a.status !== 'CANCELLING' && a.status !== 'UNCERTAIN') continue;
      if (now - a.lastRetryTs < this.timeoutNs) continue;
      const stuck: string[] = [];
      for (const [id, st] of a.orders) {
        if (st !== 'pending' && st !== 'uncertain') continue;
        const o = this.host.oms.get(id);
        if (!o || !isOpen(o.status)) {
          // ended without an update reaching us (cannot normally happen): count it as confirmed
          a.orders.set(id, o?.status === 'Filled' ? 'filled' : 'canceled');
          a.unconfirmed--;
          continue;
        }
        a.orders.set(id, 'uncertain');
        o.uncertain = true;
        stuck.push(id);
      }
      if (stuck.length === 0) {
        this.checkComplete(a);
        continue;
      }
      a.status = 'UNCERTAIN';
      a.lastRetryTs = now;
      const retry = a.retries < this.maxRetries;
      if (retry) {
        a.retries++;
        for (const id of stuck) {
          const o = this.host.oms.get(id)!;
          this.host.oms.forceCancel(o, { id: 'kill-switch', channel: 'system' });
          a.cancelsSent++;
        }
      }
      this.host.emit({ type: 'kill.escalated', activationId: a.id, severity: 'critical', uncertainOrders: stuck, retry: a.retries, retrying: retry, message: `${stuck.length} order(s) not confirmed cancelled within ${this.timeoutNs / 1_000_000n} ms` });
    }
  }

  /**
   * Reset (re-enables trading in the scope). Needs a risk manager or senior management; a firm-wide
   * kill needs two different approvers, one of them senior management.
   */
  reset(activationId: string, actor: Actor, reason: string): { done: boolean; error?: RiskVerdict; awaiting?: string } {
    const a = this.activations.find((x) => x.id === activationId);
    if (!a) return { done: false, error: { code: 'UNKNOWN_ACTIVATION', detail: { activationId } } };
    if (a.status === 'RESET') return { done: false, error: { code: 'ALREADY_RESET', detail: { activationId } } };
    if (actor.role === undefined || !RESET_ROLES.has(actor.role)) {
      this.host.emit({ type: 'kill.refused', scope: scopeLabel(a.scope), actor, reason: `role ${actor.role ?? 'none'} may not reset the kill switch` });
      return { done: false, error: { code: 'FORBIDDEN', detail: { reason: 'reset needs risk_manager or senior_management' } } };
    }
    if (a.scope.type === 'firm') {
      if (a.approvals.some((x) => x.id === actor.id)) {
        return { done: false, error: { code: 'SAME_APPROVER', detail: { reason: 'a firm-wide reset needs a second, different approver' } } };
      }
      a.approvals.push(actor);
      const ids = new Set(a.approvals.map((x) => x.id));
      const senior = a.approvals.some((x) => x.role === 'senior_management');
      this.host.emit({ type: 'kill.resetApproved', activationId: a.id, actor, reason, approvals: a.approvals.length });
      if (ids.size < 2 || !senior) {
        return { done: false, awaiting: senior ? 'a second approver' : 'an approver with role senior_management' };
      }
    } else {
      a.approvals.push(actor);
    }
    a.status = 'RESET';
    a.resetTs = this.host.now;
    a.resetBy = [...a.approvals];
    this.host.emit({ type: 'kill.reset', activationId: a.id, scope: scopeLabel(a.scope), actors: a.resetBy, reason });
    return { done: true };
  }

  view(a: KillActivation) {
    const counts = { pending: 0, canceled: 0, filled: 0, uncertain: 0 };
    for (const v of a.orders.values()) counts[v]++;
    return {
      id: a.id,
      scope: scopeLabel(a.scope),
      status: a.status,
      reason: a.reason,
      actor: a.actor,
      activatedTs: a.activatedTs.toString(),
      completedTs: a.completedTs?.toString() ?? null,
      durationMs: a.completedTs === null ? null : Number(a.completedTs - a.activatedTs) / 1e6,
      orders: a.orders.size,
      ...counts,
      // not yet confirmed cancelled or filled; the uncertain ones (past the timeout) separately
      unconfirmedOrders: [...a.orders].filter(([, v]) => v === 'uncertain' || v === 'pending').map(([k]) => k),
      uncertainOrders: [...a.orders].filter(([, v]) => v === 'uncertain').map(([k]) => k),
      massCancels: a.massCancels,
      cancelsSent: a.cancelsSent,
      retries: a.retries,
      strategiesStopped: a.strategiesStopped,
      approvals: a.approvals.map((x) => ({ id: x.id, role: x.role ?? null, channel: x.channel })),
      resetTs: a.resetTs?.toString() ?? null,
      resetBy: a.resetBy.map((x) => x.id),
    };
  }

  /** JSON-safe copy of every activation and the settings (src/engine/snapshots). */
  snapshot(): KillSwitchSnapshot {
    return {
      activations: this.activations.map((a) => ({
        id: a.id,
        scope: { ...a.scope },
        actor: { ...a.actor },
        reason: a.reason,
        activatedTs: String(a.activatedTs),
        status: a.status,
        orders: [...a.orders],
        unconfirmed: a.unconfirmed,
        massCancels: a.massCancels,
        cancelsSent: a.cancelsSent,
        retries: a.retries,
        strategiesStopped: [...a.strategiesStopped],
        completedTs: a.completedTs === null ? null : String(a.completedTs),
        resetTs: a.resetTs === null ? null : String(a.resetTs),
        resetBy: a.resetBy.map((x) => ({ ...x })),
        approvals: a.approvals.map((x) => ({ ...x })),
        lastRetryTs: String(a.lastRetryTs),
      })),
      nextId: this.nextId,
      timeoutNs: String(this.timeoutNs),
      maxRetries: this.maxRetries,
    };
  }

  restore(s: KillSwitchSnapshot): void {
    this.activations.length = 0;
    for (const a of s.activations) {
      this.activations.push({
        ...a,
        scope: a.scope as KillScope,
        status: a.status as ActivationStatus,
        activatedTs: BigInt(a.activatedTs),
        orders: new Map(a.orders as [string, 'pending' | 'canceled' | 'filled' | 'uncertain'][]),
        completedTs: a.completedTs === null ? null : BigInt(a.completedTs),
        resetTs: a.resetTs === null ? null : BigInt(a.resetTs),
        lastRetryTs: BigInt(a.lastRetryTs),
      });
    }
    this.nextId = s.nextId;
    this.timeoutNs = BigInt(s.timeoutNs);
    this.maxRetries = s.maxRetries;
  }
}
