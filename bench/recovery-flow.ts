/**
 * A synthetic trading day for recovery tests and the recovery benchmark: quotes and trades on six
 * listings, two strategies (a market maker and a momentum taker) and occasional manual orders,
 * against a scripted venue that acknowledges, fills (partly), cancels, replaces and answers status
 * requests. Deterministic from its seed; it reacts to the commands the kernel sends, so the
 * journal it produces looks like a real node's (orders, fills, positions, risk, strategies).
 *
 * `JournalWriter` is the sequencer's recording rule without its clock and outbox: input, then the
 * events it produced, each with the next sequence number.
 */
import { Rng } from '../src/core/random.js';
import { formatDecimal } from '../src/core/fixed.js';
import type { KernelConfig } from '../src/engine/kernel-config.js';
import { Kernel, type OutboundCommand } from '../src/engine/kernel.js';
import type { Journal } from '../src/engine/journal.js';
import type { Event, Input } from '../src/engine/messages.js';
import type { ExecutionReportMsg, VenueCommand } from '../src/venues/venue.js';

export const FLOW_T0 = 1_795_000_000_000_000_000n;

export function flowConfig(): KernelConfig {
  return {
    environment: 'dev',
    timerIntervalMs: 100,
    barIntervalMs: 1000,
    seed: 3,
    calendars: [],
    instruments: ['SIMX', 'SIMY'].flatMap((venue) => ['AAPL', 'MSFT', 'NVDA'].map((symbol) => ({ symbol, venue, tickSize: '0.01', lotSize: '1', currency: 'USD' }))),
    accounts: [
      { id: 'ACC1', currency: 'USD', cash: '100000000' },
      { id: 'ACC2', currency: 'USD', cash: '100000000' },
    ],
    strategies: [
      { id: 'mm', class: 'market-maker', account: 'ACC1', traderId: 't1', autoStart: true, params: { venue: 'SIMX', symbols: ['AAPL', 'MSFT'], quantity: '10', maxPosition: '500', requoteTicks: 1 } },
      { id: 'mom', class: 'momentum-taker', account: 'ACC2', autoStart: true, params: { venue: 'SIMY', symbols: ['NVDA', 'AAPL'], quantity: '5', maxPosition: '200', cooldownMs: 50 } },
    ],
    risk: {
      rules: [
        { scope: 'firm', limits: { maxOrderQty: '1000', maxOrdersPerSecond: 5000, maxMessagesPerSecond: 20000 } },
        { scope: 'strategy', id: 'mm', limits: { maxLongPosition: '5000', maxShortPosition: '5000', maxOpenOrders: 100 } },
        { scope: 'account', id: 'ACC2', limits: { maxDailyLoss: '10000000' } },
      ],
      restricted: [],
      alertThresholdsPct: [80, 100],
      checkTradingHours: true,
    },
    venues: [
      { id: 'SIMX', supportsMassCancel: true },
      { id: 'SIMY', supportsMassCancel: false },
    ],
    killSwitch: { timeoutMs: 2000, maxRetries: 3 },
  };
}

interface VenueOrder {
  clOrdId: string;
  venue: string;
  symbol: string;
  side: 'buy' | 'sell';
  qty: bigint;
  cum: bigint;
  price: bigint | null;
  live: boolean;
}

const SCALE = 100_000_000n;

/** The market, the venue and the operators of the synthetic day. */
export class SyntheticFlow {
  private readonly rng: Rng;
  private ts = FLOW_T0;
  private execNo = 0;
  private feedNo = 0;
  private clientNo = 0;
  private readonly mids = new Map<string, bigint>();
  private readonly orders = new Map<string, VenueOrder>();
  private readonly alias = new Map<string, string>();
  private pending: ExecutionReportMsg[] = [];
  /** live orders, oldest first: the venue expires the oldest now and then (keeps the book a realistic size) */
  private readonly ageQueue: VenueOrder[] = [];
  private ageHead = 0;
  private lastTimer = FLOW_T0;

  constructor(seed: number | string = 1) {
    this.rng = new Rng(`flow:${String(seed)}`);
    for (const v of ['SIMX', 'SIMY']) for (const [s, px] of [['AAPL', 227], ['MSFT', 415], ['NVDA', 138]] as const) this.mids.set(`${v}:${s}`, BigInt(px) * SCALE);
  }

  get now(): bigint {
    return this.ts;
  }

  /** The first input of a journal. */
  start(config: KernelConfig = flowConfig()): Input {
    return { type: 'system.start', config, nodeId: 'synthetic', version: 'bench', recovered: false };
  }

  /** The venue takes the kernel's commands (answers become inputs later). */
  accept(commands: readonly OutboundCommand[]): void {
    for (const c of commands) this.onCommand(c.venue, c.cmd);
  }

  /** The next input: venue answers first, then timers, market data and now and then an operator. */
  next(): Input {
    this.ts += BigInt(this.rng.int(50_000, 400_000));
    if (this.pending.length > 0) {
      const n = Math.min(this.pending.length, this.rng.int(1, 4));
      const rs = this.pending.splice(0, n);
      return rs.length === 1 ? { type: 'exec', r: rs[0]! } : { type: 'exec.batch', rs };
    }
    if (this.ts - this.lastTimer >= 100_000_000n) {
      this.lastTimer = this.ts;
      return { type: 'timer' };
    }
    if (this.rng.next() < 0.02) this.expireOldest();
    const u = this.rng.next();
    const key = this.rng.pick([...this.mids.keys()]);
    const [venue, symbol] = key.split(':') as [string, string];
    if (u < 0.7) {
      const mid = this.walk(key);
      return {
        type: 'md.quote',
        m: { type: 'quote', venue, symbol, feedSeq: ++this.feedNo, bid: formatDecimal(mid - 2_000_000n), bidSize: '500', ask: formatDecimal(mid + 2_000_000n), askSize: '500', venueTs: this.ts.toString() },
      };
    }
    if (u < 0.97) {
      const mid = this.mids.get(key)!;
      return {
        type: 'md.trade',
        m: { type: 'trade', venue, symbol, feedSeq: ++this.feedNo, tradeId: `T${this.feedNo}`, price: formatDecimal(mid), quantity: String(this.rng.int(1, 300)), aggressor: this.rng.next() < 0.5 ? 'buy' : 'sell', venueTs: this.ts.toString() },
      };
    }
    const mid = this.mids.get(key)!;
    const side = this.rng.next() < 0.5 ? 'buy' : 'sell';
    return {
      type: 'cmd.order.new',
      actor: { id: 'desk', role: 'trader', channel: 'api' },
      order: { symbol, venue, side, type: 'limit', quantity: String(this.rng.int(1, 50)), price: formatDecimal(side === 'buy' ? mid - 5_000_000n : mid + 5_000_000n), timeInForce: 'DAY', clientOrderId: `m${++this.clientNo}`, account: this.rng.next() < 0.5 ? 'ACC1' : 'ACC2' },
    };
  }

  private expireOldest(): void {
    while (this.ageHead < this.ageQueue.length) {
      const o = this.ageQueue[this.ageHead++]!;
      if (!o.live) continue;
      o.live = false;
      this.pending.push({ ...this.report(o, 'expired'), ordStatus: 'Expired' });
      break;
    }
    if (this.ageHead > 10_000) {
      this.ageQueue.splice(0, this.ageHead);
      this.ageHead = 0;
    }
  }

  private walk(key: string): bigint {
    const m = this.mids.get(key)! + BigInt(this.rng.int(-3, 3)) * 1_000_000n;
    this.mids.set(key, m);
    return m;
  }

  private report(o: VenueOrder, execType: ExecutionReportMsg['execType'], extra: Partial<ExecutionReportMsg> = {}): ExecutionReportMsg {
    return {
      venue: o.venue,
      execId: `${o.venue}-X${++this.execNo}`,
      execType,
      ordStatus: !o.live ? (o.cum >= o.qty ? 'Filled' : 'Canceled') : o.cum > 0n ? 'PartiallyFilled' : 'New',
      clOrdId: o.clOrdId,
      venueOrderId: `V-${o.clOrdId}`,
      symbol: o.symbol,
      side: o.side,
      orderQty: formatDecimal(o.qty),
      lastQty: '0',
      lastPx: '0',
      cumQty: formatDecimal(o.cum),
      leavesQty: formatDecimal(o.live ? o.qty - o.cum : 0n),
      avgPx: '0',
      fee: '0',
      venueTs: this.ts.toString(),
      ...extra,
    };
  }

  private find(clOrdId: string): VenueOrder | undefined {
    return this.orders.get(this.alias.get(clOrdId) ?? clOrdId);
  }

  private onCommand(venue: string, cmd: VenueCommand): void {
    switch (cmd.type) {
      case 'new': {
        const o: VenueOrder = { clOrdId: cmd.clOrdId, venue, symbol: cmd.symbol, side: cmd.side, qty: BigInt(cmd.quantity) * SCALE, cum: 0n, price: cmd.price ? BigInt(Math.round(Number(cmd.price) * 100)) * 1_000_000n : null, live: true };
        this.orders.set(o.clOrdId, o);
        this.ageQueue.push(o);
        this.pending.push(this.report(o, 'new'));
        const r = this.rng.next();
        if (r < 0.45 || cmd.tif === 'IOC') {
          const part = r < 0.2 && o.qty > SCALE ? o.qty / 2n - ((o.qty / 2n) % SCALE) : o.qty;
          this.fill(o, part);
          if (cmd.tif === 'IOC' && o.live) {
            o.live = false;
            this.pending.push(this.report(o, 'canceled', { text: 'IOC remainder' }));
          }
        }
        return;
      }
      case 'cancel': {
        const o = this.find(cmd.origClOrdId);
        if (!o || !o.live) {
          this.pending.push({ ...this.report(o ?? { clOrdId: cmd.clOrdId, venue, symbol: cmd.symbol, side: cmd.side, qty: 0n, cum: 0n, price: null, live: false }, 'cancelRejected', { reason: 'TOO_LATE_TO_CANCEL' }), clOrdId: cmd.clOrdId, origClOrdId: cmd.origClOrdId });
          return;
        }
        if (this.rng.next() < 0.1) this.fill(o, o.qty - o.cum);
        if (!o.live) return;
        o.live = false;
        this.pending.push({ ...this.report(o, 'canceled'), clOrdId: cmd.clOrdId, origClOrdId: o.clOrdId });
        return;
      }
      case 'replace': {
        const o = this.find(cmd.origClOrdId);
        if (!o || !o.live) {
          this.pending.push({ ...this.report(o ?? { clOrdId: cmd.clOrdId, venue, symbol: cmd.symbol, side: cmd.side, qty: 0n, cum: 0n, price: null, live: false }, 'cancelRejected', { reason: 'TOO_LATE_TO_CANCEL' }), clOrdId: cmd.clOrdId, origClOrdId: cmd.origClOrdId });
          return;
        }
        const orig = o.clOrdId;
        o.qty = BigInt(Math.round(Number(cmd.quantity) * 1e8));
        this.alias.set(cmd.clOrdId, orig);
        o.clOrdId = cmd.clOrdId;
        this.pending.push({ ...this.report(o, 'replaced'), origClOrdId: orig });
        if (this.rng.next() < 0.3) this.fill(o, o.qty - o.cum);
        return;
      }
      case 'massCancel': {
        for (const o of this.orders.values()) {
          if (!o.live || o.venue !== venue) continue;
          o.live = false;
          this.pending.push(this.report(o, 'canceled'));
        }
        return;
      }
      case 'status': {
        const o = this.find(cmd.clOrdId);
        if (!o) this.pending.push({ ...this.report({ clOrdId: cmd.clOrdId, venue, symbol: cmd.symbol, side: 'buy', qty: 0n, cum: 0n, price: null, live: false }, 'rejected', { reason: 'UNKNOWN_ORDER' }), ordStatus: 'Rejected' });
        else this.pending.push(this.report(o, 'orderStatus'));
        return;
      }
    }
  }

  private fill(o: VenueOrder, qty: bigint): void {
    if (qty <= 0n || !o.live) return;
    o.cum += qty;
    if (o.cum >= o.qty) o.live = false;
    const px = o.price ?? this.mids.get(`${o.venue}:${o.symbol}`)!;
    this.pending.push(this.report(o, 'trade', { lastQty: formatDecimal(qty), lastPx: formatDecimal(px), fee: '0.01', liquidity: 'maker' }));
  }
}

/** Records like the sequencer: the input, then each event it produced, with consecutive seqs. */
export class JournalWriter {
  seq = 0;
  private readonly events: Event[] = [];
  private readonly commands: OutboundCommand[] = [];
  readonly kernel: Kernel;

  constructor(
    private readonly journal: Journal | null,
    kernel?: Kernel,
  ) {
    this.kernel = kernel ?? new Kernel({ event: () => {}, command: () => {} });
    this.kernel.setSink({ event: (e) => this.events.push(e), command: (c) => this.commands.push(c) });
    if (journal) this.seq = journal.lastSeq;
  }

  /** Processes one input at ts; returns the commands it produced (the venue's next work). */
  submit(input: Input, ts: bigint): { events: Event[]; commands: OutboundCommand[] } {
    const seq = ++this.seq;
    this.journal?.append('input', seq, ts, input as unknown as { type: string });
    try {
      this.kernel.process(seq, ts, input);
    } catch (e) {
      this.events.length = 0;
      this.commands.length = 0;
      this.events.push({ type: 'system.note', event: 'core.exception', detail: { input: input.type, error: String(e) } });
    }
    const events = this.events.splice(0);
    for (const e of events) this.journal?.append('event', ++this.seq, ts, e as unknown as { type: string });
    return { events, commands: this.commands.splice(0) };
  }
}

/** Drives `writer` with the synthetic day until `untilSeq` records are written (or `inputs` inputs). */
export function runFlow(flow: SyntheticFlow, writer: JournalWriter, opts: { untilSeq?: number; inputs?: number; start?: boolean }): void {
  if (opts.start !== false) flow.accept(writer.submit(flow.start(), flow.now).commands);
  let n = 0;
  while ((opts.untilSeq === undefined || writer.seq < opts.untilSeq) && (opts.inputs === undefined || n < opts.inputs)) {
    const input = flow.next();
    flow.accept(writer.submit(input, flow.now).commands);
    n++;
  }
}
