/**
 * Reconciliation, the adapter's half (outside the core): schedules runs — every `intervalMs`, a full
 * one at the end of the UTC day, one right after a restart, and on request (API, CLI) — gathers the
 * venues' answers asynchronously and hands them to the core as one journaled input.
 *
 * A run is two inputs: `recon.begin` (the core notes where our fills stand), the venue calls, then
 * `recon.result` with everything the venues said. The core's decisions (engine.ts) depend only on
 * those inputs, so a replay of the journal reconciles exactly as the live node did.
 *
 * To keep the journal record small, executions the core had already applied when they were
 * gathered are left out (the core would skip them anyway), except fills applied after `recon.begin`:
 * the core needs to know they were part of the venue's answer to compare positions as of the moment
 * the venues were asked.
 */
import type { Actor } from '../../core/types.js';
import type { Kernel } from '../../engine/kernel.js';
import type { Input } from '../../engine/messages.js';
import type { ExecutionReportMsg, VenueGateway } from '../../venues/venue.js';
import type { ReconAccountData, ReconKind, ReconPolicy, ReconReport, ReconVenueData } from './types.js';

export interface ReconcilerOptions extends ReconPolicy {
  intervalMs: number;
  /** "HH:MM" UTC of the daily full run */
  endOfDay: string;
  venueTimeoutMs: number;
  log?: (msg: string, data?: Record<string, unknown>) => void;
}

export interface ReconNode {
  readonly kernel: Kernel;
  readonly venues: ReadonlyMap<string, VenueGateway>;
  readonly isStopping: boolean;
  /** submits an input and resolves once it is durable */
  command(input: Input): Promise<unknown>;
}

const SYSTEM: Actor = { id: 'reconciliation', channel: 'system' };

export class Reconciler {
  private queue: Promise<unknown> = Promise.resolve();
  private busy = 0;
  private interval: NodeJS.Timeout | undefined;
  private eod: NodeJS.Timeout | undefined;
  private stopped = false;
  private n = 0;
  runs = 0;
  failures = 0;

  constructor(
    private readonly node: ReconNode,
    private readonly opts: ReconcilerOptions,
  ) {}

  get policy(): ReconPolicy {
    return { autoCorrectMaxQty: this.opts.autoCorrectMaxQty, unknownOrderPolicy: this.opts.unknownOrderPolicy, stuckAfterMs: this.opts.stuckAfterMs };
  }

  start(): void {
    this.interval = setInterval(() => {
      if (this.busy === 0) void this.run('periodic');
    }, this.opts.intervalMs);
    this.interval.unref();
    this.scheduleEndOfDay();
  }

  private scheduleEndOfDay(): void {
    if (this.stopped) return;
    const [h, m] = this.opts.endOfDay.split(':').map(Number) as [number, number];
    const now = Date.now();
    const d = new Date(now);
    let at = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), h, m);
    if (at <= now) at += 86_400_000;
    this.eod = setTimeout(() => {
      void this.run('full').finally(() => this.scheduleEndOfDay());
    }, at - now);
    this.eod.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.interval) clearInterval(this.interval);
    if (this.eod) clearTimeout(this.eod);
    await this.queue.catch(() => {});
  }

  /** Runs one reconciliation (after any run in progress); resolves with its report, or null if it could not run. */
  run(kind: ReconKind, actor: Actor = SYSTEM): Promise<ReconReport | null> {
    this.busy++;
    const p = this.queue.then(() => this.once(kind, actor));
    this.queue = p.catch(() => {});
    return p.finally(() => this.busy--);
  }

  private async once(kind: ReconKind, actor: Actor): Promise<ReconReport | null> {
    if (this.stopped || this.node.isStopping) return null;
    const k = this.node.kernel;
    const runId = `R${Date.now().toString(36)}-${++this.n}`;
    try {
      await this.node.command({ type: 'recon.begin', runId, kind, actor });
      const accounts = (k.kernelConfig?.accounts ?? []).map((a) => a.id);
      const startOfDay = BigInt(Math.floor(Date.now() / 86_400_000) * 86_400_000) * 1_000_000n;
      const venues: ReconVenueData[] = await Promise.all(
        [...this.node.venues.values()].map(async (v): Promise<ReconVenueData> => {
          try {
            const data = await Promise.all(
              accounts.map(async (account): Promise<ReconAccountData> => {
                const wm = BigInt(k.recon.since(v.id, account));
                const since = kind === 'full' && startOfDay < wm ? startOfDay : wm;
                const [openOrders, positions, executions] = await this.timed(v.id, Promise.all([v.openOrders(account), v.positions(account), v.executionsSince(account, since)]));
                return { account, since: since.toString(), ...untilOf(executions), openOrders, positions, executions };
              }),
            );
            return { venue: v.id, ok: true, accounts: this.leaveOutApplied(v.id, runId, data) };
          } catch (e) {
            return { venue: v.id, ok: false, error: e instanceof Error ? e.message : String(e), accounts: [] };
          }
        }),
      );
      if (this.stopped || this.node.isStopping) return null;
      await this.node.command({ type: 'recon.result', runId, kind, actor, policy: this.policy, venues });
      this.runs++;
      const report = k.recon.lastReport;
      if (report && report.runId === runId && report.status !== 'clean') {
        this.opts.log?.('reconciliation found discrepancies', { runId, kind, status: report.status, counts: report.counts });
      }
      return report && report.runId === runId ? report : null;
    } catch (e) {
      this.failures++;
      this.opts.log?.('reconciliation run failed', { runId, kind, error: e instanceof Error ? e.message : String(e) });
      return null;
    }
  }

  /** Drops reports the core already applied, keeping fills it applied since recon.begin (see the module note). */
  private leaveOutApplied(venue: string, runId: string, data: ReconAccountData[]): ReconAccountData[] {
    const oms = this.node.kernel.oms;
    const cur = this.node.kernel.recon.currentRun;
    const since = new Set<string>();
    if (cur && cur.runId === runId) for (let i = cur.fillsMark; i < oms.fills.length; i++) if (oms.fills[i]!.venue === venue) since.add(oms.fills[i]!.execId);
    return data.map((a) => ({ ...a, executions: a.executions.filter((r) => !oms.hasSeenExec(venue, r.execId) || (r.execType === 'trade' && since.has(r.execId))) }));
  }

  private timed<T>(venue: string, p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${venue}: no answer within ${this.opts.venueTimeoutMs} ms`)), this.opts.venueTimeoutMs);
      p.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(t);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }
}

function untilOf(rs: ExecutionReportMsg[]): { until?: string } {
  let max = -1n;
  for (const r of rs) {
    try {
      const t = BigInt(r.venueTs);
      if (t > max) max = t;
    } catch {
      // a malformed timestamp does not move the watermark
    }
  }
  return max >= 0n ? { until: max.toString() } : {};
}
