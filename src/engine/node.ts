/**
 * The node: wires adapters (venues, feeds, timers, API) to the sequencer and the deterministic core,
 * recovers state from the journal at start, and shuts down cleanly (cancel everything, flush, print
 * the state digest). All I/O lives here and in the adapters, never in the kernel.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { WallClock, type Clock } from '../core/time.js';
import { buildCalendars, buildInstrument } from '../core/instruments.js';
import { SYSTEM_ACTOR, type Actor } from '../core/types.js';
import type { NodeConfig } from '../ops/config.js';
import { kernelConfigOf } from '../ops/config.js';
import { SimMarket } from '../venues/sim/sim-market.js';
import { SimVenue } from '../venues/sim/sim-venue.js';
import type { ExecutionReportMsg, MarketDataMsg, MassCancelReportMsg, VenueGateway } from '../venues/venue.js';
import { Journal, type JournalRepair } from './journal.js';
import { FeedHandler } from '../marketdata/feed-handler.js';
import { Kernel, type OutboundCommand } from './kernel.js';
import type { Input } from './messages.js';
import { recoverKernel, type RecoveryInfo } from './snapshots/recovery.js';
import { Snapshotter } from './snapshots/snapshotter.js';
import { Reconciler } from '../oms/recon/reconciler.js';
import { Sequencer, type Submitted } from './sequencer.js';
import { startDatabase, type NodeDatabase } from '../storage/database.js';
import { AuditTrail } from '../audit/trail.js';
import { warmKillPath } from './warmup.js';

export const VERSION = '0.1.0';

export interface NodeOptions {
  clock?: Clock;
  /** start sim venues' background traders (default true) */
  startAgents?: boolean;
  log?: (msg: string, data?: Record<string, unknown>) => void;
}

export interface StopResult {
  digest: string;
  lastSeq: number;
  openOrders: number;
}

export class BulwarkNode {
  readonly kernel: Kernel;
  readonly venues = new Map<string, VenueGateway>();
  readonly simVenues: SimVenue[] = [];
  readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private stopping: Promise<StopResult> | null = null;
  private accepting = true;
  readonly recovered: { records: number; openOrders: number; repaired: JournalRepair | null; recovery: RecoveryInfo };
  /** periodic snapshots of the core (src/engine/snapshots); null when disabled */
  snapshotter: Snapshotter | null = null;
  /** reconciliation with the venues (src/oms/recon); null when disabled */
  reconciler: Reconciler | null = null;
  /** The journal's queryable projection (src/storage), off the hot path; null when disabled. */
  database: NodeDatabase | null = null;
  /** Merkle tree, signed checkpoints and WORM archive over the journal (src/audit). */
  audit: AuditTrail | null = null;
  private readonly log: (msg: string, data?: Record<string, unknown>) => void;

  private constructor(
    readonly config: NodeConfig,
    readonly journal: Journal,
    readonly sequencer: Sequencer,
    kernel: Kernel,
    readonly clock: Clock,
    recovered: { records: number; openOrders: number; repaired: JournalRepair | null; recovery: RecoveryInfo },
    log: (msg: string, data?: Record<string, unknown>) => void,
  ) {
    this.kernel = kernel;
    this.recovered = recovered;
    this.log = log;
  }

  static async start(config: NodeConfig, opts: NodeOptions = {}): Promise<BulwarkNode> {
    const log = opts.log ?? (() => {});
    const clock = opts.clock ?? new WallClock();
    mkdirSync(config.dataDir, { recursive: true });
    const journal = await Journal.open(join(config.dataDir, 'journal'), {
      fsync: config.journal.fsync,
      segmentBytes: config.journal.segmentMiB * 1024 * 1024,
    });
    // recovery: the newest valid snapshot plus the journal after it (or the whole journal)
    const { kernel, info: recovery } = recoverKernel(join(config.dataDir, 'journal'), config.snapshots.enabled ? join(config.dataDir, 'snapshots') : null, journal.lastSeq, log);
    const records = recovery.inputs;
    const recovered = { records, openOrders: kernel.oms.open.size, repaired: journal.repaired ?? null, recovery };

    const holder: { node?: BulwarkNode } = {};
    const sequencer = new Sequencer(journal, kernel, clock, (c) => holder.node!.route(c));
    const node = new BulwarkNode(config, journal, sequencer, kernel, clock, recovered, log);
    holder.node = node;
    journal.onError((e) => log('journal write failed: outbound traffic is held until it recovers', { error: e.message }));
    node.audit = await AuditTrail.attach({ dataDir: config.dataDir, nodeId: config.nodeId, environment: config.environment, config: config.audit, journal, sequencer, clock, log });

    // venues
    const kc = kernelConfigOf(config);
    // the kill switch's path compiled before it is needed, on a scratch kernel (src/engine/warmup.ts)
    try {
      const w = warmKillPath(kc);
      log('kill switch path warmed up on a scratch kernel', { orders: w.orders, massCanceled: w.massCanceled, ms: Math.round(w.ms) });
    } catch (e) {
      log('kill switch warm-up failed; starting anyway', { error: e instanceof Error ? e.message : String(e) });
    }
    const calendars = buildCalendars(kc.calendars);
    const market = new SimMarket({
      seed: config.sim.seed,
      clock,
      symbols: config.sim.symbols.map((s) => ({ symbol: s.symbol, fairValue: s.fairValue, tickSize: s.tickSize, ...(s.volatilityPerSec !== undefined ? { volatilityPerSec: s.volatilityPerSec } : {}) })),
    });
    for (const v of config.venues) {
      const instruments = kc.instruments.filter((i) => i.venue === v.id).map((spec, i) => buildInstrument(spec, calendars, `venues.${v.id}.instruments[${i}]`));
      const venue = new SimVenue({
        id: v.id,
        instruments,
        fees: { makerBps: v.makerBps, takerBps: v.takerBps },
        stp: v.stp,
        clock,
        seed: `${config.sim.seed}:${v.id}`,
        market,
        latencyMs: v.latencyMs,
        agentIntervalMs: config.sim.agentIntervalMs,
        supportsMassCancel: v.supportsMassCancel,
        ...(v.faults ? { faults: v.faults } : {}),
        ...(config.sim.persistState ? { persistDir: join(config.dataDir, 'venues', v.id), persistFsync: config.sim.persistFsync } : {}),
        onListenerError: (err) => log('venue listener error', { venue: v.id, error: String(err) }),
      });
      node.venues.set(v.id, venue);
      node.simVenues.push(venue);
    }
    for (const venue of node.venues.values()) {
      venue.subscribe({
        onExecutionReport: (r) => node.onExecutionReport(r),
        onMassCancelReport: (r) => node.onMassCancelReport(r),
        onMarketData: (m) => node.onMarketData(m),
        onConnectionChange: (venueId, up) => {
          // a reconnect starts a fresh feed session with its own sequence
          node.feeds.get(venueId)?.resetSequence();
          node.submitQuiet({ type: 'venue.connection', venue: venueId, up });
        },
      });
    }

    sequencer.submit({ type: 'system.start', config: kc, nodeId: config.nodeId, version: VERSION, recovered: records > 0 });
    if (recovered.repaired) {
      sequencer.submit({ type: 'system.note', event: 'journal.repaired', detail: { ...recovered.repaired } });
    }
    if (records > 0) {
      const snap = recovery.snapshot;
      sequencer.submit({
        type: 'system.note',
        event: 'node.recovered',
        detail: { inputsReplayed: recovery.replayedInputs, inputs: records, openOrders: recovered.openOrders, snapshotSeq: snap?.seq ?? null, snapshotsRejected: recovery.rejected, digest: recovery.digest, ms: Math.round(recovery.ms) },
      });
    }
    node.audit.start();
    // orders that were in flight when the node went down: the core asks their venues (status
    // requests through the outbox) and sends nothing new until they answered or the gate times out
    const reconOnStart = records > 0 && config.reconciliation.enabled && config.reconciliation.onStart;
    if (kernel.oms.open.size > 0 || reconOnStart) sequencer.submit({ type: 'recovery.begin', timeoutMs: config.recovery.gateTimeoutMs, awaitReconciliation: reconOnStart });
    await journal.flush();
    // the projector asks for system notes: `database.auditPruned`, the audit_log prunes (its own,
    // and `bulwark db prune-audit`'s, also while the node was down) the journal has not been told of
    node.database = startDatabase(
      config.database,
      config.dataDir,
      journal,
      (level, msg, data) => log(msg, { level, ...data }),
      (event, detail) => node.submitQuiet({ type: 'system.note', event, detail }),
    );

    if (config.snapshots.enabled) {
      node.snapshotter = new Snapshotter(kernel, journal, { dir: join(config.dataDir, 'snapshots'), intervalMs: config.snapshots.intervalMs, keep: config.snapshots.keep, nodeId: config.nodeId, fsync: config.journal.fsync, log });
      node.snapshotter.start();
    }
    if (config.reconciliation.enabled) {
      const rc = config.reconciliation;
      node.reconciler = new Reconciler(node, { intervalMs: rc.intervalMs, endOfDay: rc.endOfDay, autoCorrectMaxQty: rc.autoCorrectMaxQty, unknownOrderPolicy: rc.unknownOrderPolicy, stuckAfterMs: rc.stuckAfterMs, venueTimeoutMs: rc.venueTimeoutMs, log });
      node.reconciler.start();
      if (reconOnStart) void node.reconciler.run('startup');
    }
    node.timer = setInterval(() => node.submitQuiet({ type: 'timer' }), config.timerIntervalMs);
    if (opts.startAgents !== false) for (const v of node.simVenues) v.start();
    log('node started', { nodeId: config.nodeId, recoveredRecords: records, openOrders: recovered.openOrders, lastSeq: sequencer.lastSeq });
    return node;
  }

  private route(c: OutboundCommand): void {
    const v = this.venues.get(c.venue);
    if (!v) {
      this.log('outbound command for an unknown venue dropped', { venue: c.venue, type: c.cmd.type });
      return;
    }
    v.send(c.cmd);
  }

  /** execution reports and mass cancel reports of this turn, in arrival order */
  private pendingReports: (ExecutionReportMsg | MassCancelReportMsg)[] = [];
  private flushScheduled = false;
  readonly feeds = new Map<string, FeedHandler>();

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flushAdapters());
  }

  /**
   * Reports that a venue delivers in one go (a mass cancel's confirmations, one socket read) are
   * coalesced into one input at the end of the current task: one journal record, same order.
   * Execution reports go in before the market data of the same turn.
   */
  private onExecutionReport(r: ExecutionReportMsg): void {
    this.pendingReports.push(r);
    this.scheduleFlush();
  }

  private onMassCancelReport(r: MassCancelReportMsg): void {
    this.pendingReports.push(r);
    this.scheduleFlush();
  }

  private flushAdapters(): void {
    this.flushScheduled = false;
    const pending = this.pendingReports;
    if (pending.length > 0) {
      this.pendingReports = [];
      let rs: ExecutionReportMsg[] = [];
      const flushReports = (): void => {
        if (rs.length > 0) this.submitQuiet(rs.length === 1 ? { type: 'exec', r: rs[0]! } : { type: 'exec.batch', rs });
        rs = [];
      };
      for (const m of pending) {
        if ('affected' in m) {
          flushReports();
          this.submitQuiet({ type: 'exec.massCancel', r: m });
        } else rs.push(m);
      }
      flushReports();
    }
    if (!this.accepting) return;
    for (const f of this.feeds.values()) {
      if (!f.hasPending) continue;
      for (const item of f.drain()) this.submitQuiet(item);
    }
  }

  private onMarketData(m: MarketDataMsg): void {
    if (!this.accepting) return;
    let f = this.feeds.get(m.venue);
    if (!f) {
      f = new FeedHandler(m.venue);
      f.onGap = (venue, expected, got) => this.log('market data gap', { venue, expected, got });
      this.feeds.set(m.venue, f);
    }
    if (f.accept(m)) this.scheduleFlush();
  }

  /** Submits an input from an adapter; the node must never crash on one. */
  submitQuiet(input: Input): Submitted | null {
    if (this.stopped) return null;
    try {
      return this.sequencer.submit(input);
    } catch (e) {
      this.log('input refused', { type: input.type, error: (e as Error).message });
      return null;
    }
  }

  /** Submits a command and resolves once it and its events are durable (the acknowledgement point). */
  async command(input: Input): Promise<Submitted> {
    if (this.stopped) throw new Error('node is stopping');
    const s = this.sequencer.submit(input);
    await this.journal.whenDurable(s.lastSeq);
    return s;
  }

  private stopped = false;

  get isStopping(): boolean {
    return this.stopping !== null;
  }

  /** Cancels every open order, waits for the venues to confirm, flushes the journal. */
  stop(reason = 'shutdown', actor: Actor = SYSTEM_ACTOR): Promise<StopResult> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      const reconStopped = this.reconciler?.stop();
      for (const v of this.simVenues) v.stopAgents();
      this.accepting = false;
      this.sequencer.submit({ type: 'system.stop', reason, actor });
      const deadline = Date.now() + this.config.shutdownTimeoutMs;
      while (this.kernel.oms.open.size > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      this.stopped = true;
      for (const v of this.simVenues) v.stop();
      this.sequencer.submit({ type: 'system.note', event: 'node.stopped', detail: { reason, openOrders: this.kernel.oms.open.size, digest: this.kernel.digest() } });
      await reconStopped;
      // a last snapshot: the next start replays nothing
      await this.snapshotter?.stop(true);
      await this.audit?.close();
      await this.journal.close();
      await this.database?.stop();
      const result = { digest: this.kernel.digest(), lastSeq: this.sequencer.lastSeq, openOrders: this.kernel.oms.open.size };
      this.log('node stopped', { ...result });
      return result;
    })();
    return this.stopping;
  }
}
