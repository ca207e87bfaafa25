/**
 * Reconciliation, the core's half. The reconciler (reconciler.ts, outside the core) asks each venue
 * for its open orders, positions and execution history, and submits the answers as one journaled
 * `recon.result` input; this engine decides, deterministically, what they mean:
 *
 *  1. missing_fill / missing_report — a venue report we never applied (dropped, or lost in a crash):
 *     applied now through the OMS, exactly as if it had arrived (fills book into the portfolio).
 *  2. unknown_order — a live venue order we do not know (or think closed): alert; cancelled at the
 *     venue when the policy says so.
 *  3. stuck_pending / missing_at_venue — an order of ours pending for too long, or open in our books
 *     but not at the venue: queried (status request) and, once the venue answers that it is live,
 *     cancelled; an unknown answer closes it. stuck_unanswered when the query got no answer.
 *  4. position_break — the venue's net position per (account, symbol) differs from ours: alert;
 *     booked as an adjustment (firm book, at the mark) when it is within autoCorrectMaxQty.
 *
 * Positions are compared as of the moment the venues were asked: fills applied after `recon.begin`
 * that are not in the venue's answer happened after it, and are taken out of our side first.
 */
import { abs, formatDecimal, parseDecimal, type Price, type Qty } from '../../core/fixed.js';
import type { Nanos } from '../../core/time.js';
import type { Actor } from '../../core/types.js';
import type { Event } from '../../engine/messages.js';
import type { Portfolio } from '../../portfolio/portfolio.js';
import type { RiskEngine } from '../../risk/engine.js';
import type { ExecutionReportMsg, VenueCommand } from '../../venues/venue.js';
import type { OrderManager } from '../oms.js';
import type { Fill, Order } from '../order.js';
import { isOpen } from '../order-state.js';
import { DISCREPANCY_CLASSES, type DiscrepancyClass, type ReconDiscrepancy, type ReconKind, type ReconPolicy, type ReconReport, type ReconVenueData } from './types.js';

export interface ReconHost {
  readonly oms: OrderManager;
  readonly portfolio: Portfolio;
  readonly risk: RiskEngine;
  now(): Nanos;
  seq(): number;
  markPrice(symbol: string): Price | null;
  emit(e: Event): void;
  send(venue: string, cmd: VenueCommand): void;
}

export interface ReconSnapshot {
  ledger: [string, string][];
  watermarks: [string, string][];
  current: { runId: string; fillsMark: number } | null;
  awaiting: [string, string][];
  cancels: number;
  adjustments: number;
  lastReport: ReconReport | null;
  history: ReconSummary[];
}

export type ReconSummary = Pick<ReconReport, 'runId' | 'kind' | 'ts' | 'seq' | 'status' | 'counts' | 'corrections' | 'alerts'>;

const PENDING = new Set(['PendingNew', 'PendingCancel', 'PendingReplace']);
const MAX_LISTED = 1000;
const HISTORY = 50;

const key3 = (venue: string, account: string, symbol: string) => venue + '|' + account + '|' + symbol;

export class ReconciliationEngine {
  /** net quantity per (venue, account, symbol) from our fills and adjustments: what each venue should hold */
  private readonly ledger = new Map<string, Qty>();
  /** per (venue, account): venue time up to which the execution history has been reconciled */
  private readonly watermarks = new Map<string, string>();
  private current: { runId: string; fillsMark: number } | null = null;
  /** stuck orders queried by a run: order id → run id */
  private readonly awaiting = new Map<string, string>();
  private cancels = 0;
  private adjustments = 0;
  lastReport: ReconReport | null = null;
  readonly history: ReconSummary[] = [];

  constructor(private readonly host: ReconHost) {}

  /** Every fill the core books (called by the kernel). */
  onFill(f: Fill): void {
    const k = key3(f.venue, f.account, f.symbol);
    this.ledger.set(k, (this.ledger.get(k) ?? 0n) + (f.side === 'buy' ? f.quantity : -f.quantity));
  }

  /** Where the next incremental run starts for (venue, account): venue ns, "0" for everything. */
  since(venue: string, account: string): string {
    return this.watermarks.get(venue + '|' + account) ?? '0';
  }

  ledgerPosition(venue: string, account: string, symbol: string): Qty {
    return this.ledger.get(key3(venue, account, symbol)) ?? 0n;
  }

  begin(runId: string): void {
    this.current = { runId, fillsMark: this.host.oms.fills.length };
  }

  /** The run between its recon.begin and recon.result: where our fills stood when the venues were asked. */
  get currentRun(): { runId: string; fillsMark: number } | null {
    return this.current;
  }

  /** A venue answered a status request: a stuck order we queried that is still live gets cancelled. */
  onStatusAnswer(o: Order): void {
    const runId = this.awaiting.get(o.id);
    if (runId === undefined) return;
    this.awaiting.delete(o.id);
    if (!isOpen(o.status)) return;
    this.host.oms.forceCancel(o, { id: 'reconciliation', channel: 'system' });
    this.cancels++;
    this.host.emit({
      type: 'recon.correction',
      runId,
      discrepancy: { class: 'stuck_pending', venue: o.venue, account: o.account, symbol: o.symbol, orderId: o.id, clOrdId: o.clOrdId, severity: 'warning', action: 'cancel_sent', detail: { status: o.status, reason: 'live at the venue after a stuck pending state' } },
    });
  }

  result(input: { runId: string; kind: ReconKind; actor: Actor; policy: ReconPolicy; venues: ReconVenueData[] }): ReconReport {
    const { runId, policy } = input;
    const fillsMark = this.current?.runId === runId ? this.current.fillsMark : this.host.oms.fills.length;
    this.current = null;
    const now = this.host.now();
    const maxAuto = parseDecimal(policy.autoCorrectMaxQty, 'reconciliation.autoCorrectMaxQty');
    const stuckNs = BigInt(Math.max(0, Math.trunc(policy.stuckAfterMs))) * 1_000_000n;
    const counts = Object.fromEntries(DISCREPANCY_CLASSES.map((c) => [c, 0])) as Record<DiscrepancyClass, number>;
    const listed: ReconDiscrepancy[] = [];
    let corrections = 0;
    let alerts = 0;
    let partial = false;
    const record = (d: ReconDiscrepancy): void => {
      counts[d.class]++;
      if (listed.length < MAX_LISTED) listed.push(d);
      const correction = d.action !== 'alert';
      if (correction) corrections++;
      else alerts++;
      this.host.emit(correction ? { type: 'recon.correction', runId, discrepancy: d } : { type: 'recon.discrepancy', runId, discrepancy: d });
    };

    // queries of earlier runs that got no answer: escalate, mark uncertain, ask again
    for (const [id, rid] of [...this.awaiting]) {
      const o = this.host.oms.get(id);
      if (!o || !isOpen(o.status)) {
        this.awaiting.delete(id);
        continue;
      }
      if (rid === runId) continue;
      o.uncertain = true;
      this.awaiting.set(id, runId);
      this.host.send(o.venue, { type: 'status', clOrdId: o.clOrdId, symbol: o.symbol });
      record({ class: 'stuck_unanswered', venue: o.venue, account: o.account, symbol: o.symbol, orderId: o.id, clOrdId: o.clOrdId, severity: 'critical', action: 'alert', detail: { status: o.status, queriedBy: rid } });
    }

    for (const v of input.venues) {
      if (!v.ok) {
        partial = true;
        record({ class: 'venue_unavailable', venue: v.venue, severity: 'critical', action: 'alert', detail: { error: v.error ?? 'no answer' } });
        continue;
      }
      for (const a of v.accounts) {
        // 1. the venue's execution history: apply every report we never saw, in venue order
        const answered = new Set<string>();
        let maxTs = -1n;
        for (const r of a.executions) {
          answered.add(r.execId);
          const ts = safeBig(r.venueTs);
          if (ts !== null && ts > maxTs) maxTs = ts;
          if (this.host.oms.hasSeenExec(v.venue, r.execId)) continue;
          const o = this.host.oms.findByClOrdId(v.venue, r.clOrdId, r.origClOrdId);
          if (!o) {
            if (r.execType === 'trade') {
              record({ class: 'unknown_order', venue: v.venue, account: a.account, symbol: r.symbol, clOrdId: r.clOrdId, execId: r.execId, severity: 'critical', action: 'alert', detail: { execType: 'trade', side: r.side, lastQty: r.lastQty, lastPx: r.lastPx } });
            }
            continue;
          }
          const cls: DiscrepancyClass = r.execType === 'trade' ? 'missing_fill' : 'missing_report';
          this.host.oms.onExecutionReport(r);
          record({
            class: cls,
            venue: v.venue,
            account: a.account,
            symbol: r.symbol,
            orderId: o.id,
            clOrdId: r.clOrdId,
            execId: r.execId,
            severity: cls === 'missing_fill' ? 'warning' : 'info',
            action: 'applied',
            detail: cls === 'missing_fill' ? { lastQty: r.lastQty, lastPx: r.lastPx, fee: r.fee } : { execType: r.execType, ordStatus: r.ordStatus },
          });
        }
        const until = a.until === undefined ? null : safeBig(a.until);
        if (until !== null && until > maxTs) maxTs = until;
        if (maxTs >= 0n) {
          const wk = v.venue + '|' + a.account;
          const prev = safeBig(this.watermarks.get(wk) ?? '0') ?? 0n;
          if (maxTs > prev) this.watermarks.set(wk, maxTs.toString());
        }

        // 2. the venue's open orders: ours are brought in line, strangers are alerted on (and cancelled)
        const liveAtVenue = new Set<string>();
        for (const r of a.openOrders) {
          const o = this.host.oms.findByClOrdId(v.venue, r.clOrdId, r.origClOrdId);
          if (o && isOpen(o.status)) {
            liveAtVenue.add(o.id);
            if (!this.host.oms.hasSeenExec(v.venue, r.execId)) this.host.oms.onExecutionReport(r);
            continue;
          }
          const d: ReconDiscrepancy = {
            class: 'unknown_order',
            venue: v.venue,
            account: a.account,
            symbol: r.symbol,
            clOrdId: r.clOrdId,
            ...(o ? { orderId: o.id } : {}),
            severity: 'critical',
            action: 'alert',
            detail: { side: r.side, orderQty: r.orderQty, leavesQty: r.leavesQty, ordStatus: r.ordStatus, ours: o ? o.status : 'unknown' },
          };
          if (policy.unknownOrderPolicy === 'cancel') {
            const clOrdId = `RC${++this.cancels}-${runId}`;
            this.host.send(v.venue, { type: 'cancel', clOrdId, origClOrdId: r.clOrdId, symbol: r.symbol, side: r.side });
            d.action = 'cancel_sent';
            d.detail.cancelClOrdId = clOrdId;
          }
          record(d);
        }

        // 3. our open orders at this venue: stuck in a pending state, or not live at the venue at all
        for (const o of this.host.oms.openOrders((x) => x.venue === v.venue && x.account === a.account)) {
          if (now - o.updatedTs < stuckNs || this.awaiting.has(o.id)) continue;
          const atVenue = liveAtVenue.has(o.id);
          if (atVenue && !PENDING.has(o.status)) continue;
          if (atVenue) {
            // we asked (the venue's open-order list is the answer): it is live, so cancel it
            this.host.oms.forceCancel(o, { id: 'reconciliation', channel: 'system' });
            record({ class: 'stuck_pending', venue: v.venue, account: a.account, symbol: o.symbol, orderId: o.id, clOrdId: o.clOrdId, severity: 'warning', action: 'cancel_sent', detail: { status: o.status } });
          } else {
            this.awaiting.set(o.id, runId);
            this.host.send(o.venue, { type: 'status', clOrdId: o.clOrdId, symbol: o.symbol });
            record({ class: PENDING.has(o.status) ? 'stuck_pending' : 'missing_at_venue', venue: v.venue, account: a.account, symbol: o.symbol, orderId: o.id, clOrdId: o.clOrdId, severity: 'warning', action: 'status_requested', detail: { status: o.status } });
          }
        }

        // 4. positions, as of the moment the venue was asked
        const later = new Map<string, Qty>();
        const fills = this.host.oms.fills;
        for (let i = fillsMark; i < fills.length; i++) {
          const f = fills[i]!;
          if (f.venue !== v.venue || f.account !== a.account || answered.has(f.execId)) continue;
          later.set(f.symbol, (later.get(f.symbol) ?? 0n) + (f.side === 'buy' ? f.quantity : -f.quantity));
        }
        const symbols = new Set<string>(Object.keys(a.positions));
        const prefix = v.venue + '|' + a.account + '|';
        for (const k of this.ledger.keys()) if (k.startsWith(prefix)) symbols.add(k.slice(prefix.length));
        for (const symbol of [...symbols].sort()) {
          const venuePos = safeDecimal(a.positions[symbol] ?? '0');
          if (venuePos === null) continue;
          const ours = this.ledgerPosition(v.venue, a.account, symbol) - (later.get(symbol) ?? 0n);
          const diff = venuePos - ours;
          if (diff === 0n) continue;
          const detail = { venuePosition: formatDecimal(venuePos), ourPosition: formatDecimal(ours), difference: formatDecimal(diff), autoCorrectMaxQty: formatDecimal(maxAuto) };
          if (abs(diff) <= maxAuto) {
            const px = this.adjust(runId, v.venue, a.account, symbol, diff);
            record({ class: 'position_break', venue: v.venue, account: a.account, symbol, severity: 'warning', action: 'adjusted', detail: { ...detail, price: px === null ? 'none' : formatDecimal(px) } });
          } else {
            record({ class: 'position_break', venue: v.venue, account: a.account, symbol, severity: 'critical', action: 'alert', detail });
          }
        }
      }
    }

    const report: ReconReport = {
      runId,
      kind: input.kind,
      actor: input.actor,
      ts: now.toString(),
      seq: this.host.seq(),
      status: partial ? 'partial' : alerts > 0 ? 'breaks' : corrections > 0 ? 'corrected' : 'clean',
      venues: input.venues.map((v) => ({
        venue: v.venue,
        ok: v.ok,
        ...(v.error !== undefined ? { error: v.error } : {}),
        accounts: v.accounts.map((a) => ({ account: a.account, since: a.since, executions: a.executions.length, openOrders: a.openOrders.length, positions: Object.keys(a.positions).length })),
      })),
      counts,
      corrections,
      alerts,
      discrepancies: listed,
      truncated: corrections + alerts > listed.length,
    };
    this.lastReport = report;
    this.history.push({ runId, kind: report.kind, ts: report.ts, seq: report.seq, status: report.status, counts, corrections, alerts });
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY);
    this.host.emit({ type: 'recon.completed', runId, report: { ...report, discrepancies: [] } });
    return report;
  }

  /**
   * Books a position break as an adjustment: a synthetic trade of `diff` in the firm book (no
   * strategy) of the account, at the symbol's mark (cash moves by the mark value; with no mark the
   * price is zero and only the quantity moves). Risk aggregates see it like a fill.
   */
  private adjust(runId: string, venue: string, account: string, symbol: string, diff: Qty): Price | null {
    const px = this.host.markPrice(symbol);
    const side = diff > 0n ? 'buy' : 'sell';
    const qty = abs(diff);
    const now = this.host.now();
    const n = ++this.adjustments;
    const f: Fill = { id: `${venue}:ADJ${n}`, orderId: `ADJ${n}`, execId: `ADJ${n}`, account, strategyId: null, symbol, venue, side, quantity: qty, price: px ?? 0n, fee: 0n, liquidity: null, ts: now, seq: this.host.seq() };
    const pos = this.host.portfolio.applyFill(account, null, symbol, side, qty, px ?? 0n, 0n);
    const pseudo: Order = {
      id: f.orderId, clOrdId: f.orderId, clientOrderId: `recon-${runId}`, account, strategyId: null, traderId: null, symbol, venue, side, type: 'market', timeInForce: 'IOC',
      quantity: qty, price: px, status: 'Filled', filledQuantity: qty, filledNotional: 0n, fees: 0n, venueOrderId: null, rejectReason: null, rejectDetail: null, replacesId: null,
      replacedById: null, prevStatus: null, pendingReplace: null, cancelRequests: 0, uncertain: false, createdTs: now, updatedTs: now, createdSeq: this.host.seq(),
    };
    this.host.risk.onFill(f, pseudo);
    this.onFill(f);
    this.host.emit({ type: 'position', position: this.host.portfolio.toWire(pos, px) });
    return px;
  }

  snapshot(): ReconSnapshot {
    return {
      ledger: [...this.ledger].map(([k, v]) => [k, v.toString()]),
      watermarks: [...this.watermarks],
      current: this.current === null ? null : { ...this.current },
      awaiting: [...this.awaiting],
      cancels: this.cancels,
      adjustments: this.adjustments,
      lastReport: this.lastReport,
      history: [...this.history],
    };
  }

  restore(s: ReconSnapshot): void {
    this.ledger.clear();
    for (const [k, v] of s.ledger) this.ledger.set(k, BigInt(v));
    this.watermarks.clear();
    for (const [k, v] of s.watermarks) this.watermarks.set(k, v);
    this.current = s.current === null ? null : { ...s.current };
    this.awaiting.clear();
    for (const [k, v] of s.awaiting) this.awaiting.set(k, v);
    this.cancels = s.cancels;
    this.adjustments = s.adjustments;
    this.lastReport = s.lastReport;
    this.history.length = 0;
    this.history.push(...s.history);
  }
}

function safeBig(s: string): bigint | null {
  try {
    return BigInt(s);
  } catch {
    return null;
  }
}

function safeDecimal(s: string): Qty | null {
  try {
    return parseDecimal(s);
  } catch {
    return null;
  }
}

export type { ExecutionReportMsg };
