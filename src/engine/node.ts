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
import type { ExecutionReportMsg, MarketDataMsg, VenueGateway } from '../venues/venue.js';
import { Journal, type JournalRepair } from './journal.js';
import { Kernel, type OutboundCommand } from './kernel.js';
import type { Input } from './messages.js';
import { replayInto } from './replay.js';
import { Sequencer, type Submitted } from './sequencer.js';

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
  readonly recovered: { records: number; openOrders: number; repaired: JournalRepair | null };
  private readonly log: (msg: string, data?: Record<string, unknown>) => void;

  private constructor(
    readonly config: NodeConfig,
    readonly journal: Journal,
    readonly sequencer: Sequencer,
    kernel: Kernel,
    readonly clock: Clock,
    recovered: { records: number; openOrders: number; repaired: JournalRepair | null },
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
    const kernel = new Kernel({ event: () => {}, command: () => {} });
    // recovery: the state is a fold over the journal
    const records = journal.lastSeq === 0 ? 0 : replayInto(kernel, join(config.dataDir, 'journal')).inputs;
    const recovered = { records, openOrders: kernel.oms.open.size, repaired: journal.repaired ?? null };

    const holder: { node?: BulwarkNode } = {};
    const sequencer = new Sequencer(journal, kernel, clock, (c) => holder.node!.route(c));
    const node = new BulwarkNode(config, journal, sequencer, kernel, clock, recovered, log);
    holder.node = node;
    journal.onError((e) => log('journal write failed: outbound traffic is held until it recovers', { error: e.message }));

    // venues
    const kc = kernelConfigOf(config);
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
        onListenerError: (err) => log('venue listener error', { venue: v.id, error: String(err) }),
      });
      node.venues.set(v.id, venue);
      node.simVenues.push(venue);
    }
    for (const venue of node.venues.values()) {
      venue.subscribe({
        onExecutionReport: (r) => node.onExecutionReport(r),
        onMarketData: (m) => node.onMarketData(m),
        onConnectionChange: (venueId, up) => node.submitQuiet({ type: 'venue.connection', venue: venueId, up }),
      });
    }

    sequencer.submit({ type: 'system.start', config: kc, nodeId: config.nodeId, version: VERSION, recovered: records > 0 });
    if (recovered.repaired) {
      sequencer.submit({ type: 'system.note', event: 'journal.repaired', detail: { ...recovered.repaired } });
    }
    // orders that were open when the node last stopped: ask their venue before doing anything else
    for (const o of kernel.oms.openOrders()) {
      const venue = node.venues.get(o.venue);
      venue?.send({ type: 'status', clOrdId: o.clOrdId, symbol: o.symbol });
    }
    await journal.flush();

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

  private onExecutionReport(r: ExecutionReportMsg): void {
    this.submitQuiet({ type: 'exec', r });
  }

  private onMarketData(m: MarketDataMsg): void {
    if (!this.accepting) return;
    switch (m.type) {
      case 'quote':
        this.submitQuiet({ type: 'md.quote', m });
        return;
      case 'trade':
        this.submitQuiet({ type: 'md.trade', m });
        return;
      case 'instrumentStatus':
        this.submitQuiet({ type: 'md.status', m });
        return;
      default:
        // depth is for books outside the core; the core trades on top of book and trades
        return;
    }
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
      for (const v of this.simVenues) v.stopAgents();
      this.accepting = false;
      this.sequencer.submit({ type: 'system.stop', reason, actor });
      const deadline = Date.now() + this.config.shutdownTimeoutMs;
      while (this.kernel.oms.open.size > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      this.stopped = true;
      for (const v of this.simVenues) v.stop();
      await this.journal.close();
      const result = { digest: this.kernel.digest(), lastSeq: this.sequencer.lastSeq, openOrders: this.kernel.oms.open.size };
      this.log('node stopped', { ...result });
      return result;
    })();
    return this.stopping;
  }
}
