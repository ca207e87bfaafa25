/** Test scaffolding: a kernel driven input by input, and a node configuration for in-process runs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { KernelConfig } from '../src/engine/kernel-config.js';
import { Kernel, type OutboundCommand, type ProcessResult } from '../src/engine/kernel.js';
import type { Event, Input, OrderRequestWire } from '../src/engine/messages.js';
import type { Actor } from '../src/core/types.js';
import type { Order } from '../src/oms/order.js';
import type { RiskConfig } from '../src/risk/config.js';
import type { ExecutionReportMsg, NewOrderMsg } from '../src/venues/venue.js';
import { loadConfig, type NodeConfig } from '../src/ops/config.js';
import { formatDecimal } from '../src/core/fixed.js';

export const T0 = 1_795_000_000_000_000_000n; // a Tuesday in 2026, 08:26:40 UTC

export const OPEN_RISK: RiskConfig = { rules: [], restricted: [], alertThresholdsPct: [80, 100], checkTradingHours: true };

export function kernelConfig(over: Partial<KernelConfig> = {}): KernelConfig {
  return {
    environment: 'dev',
    timerIntervalMs: 100,
    barIntervalMs: 1000,
    seed: 1,
    calendars: [],
    instruments: ['SIMX', 'SIMY'].flatMap((venue) =>
      ['AAPL', 'MSFT', 'NVDA'].map((symbol) => ({ symbol, venue, tickSize: '0.01', lotSize: '1', currency: 'USD' })),
    ),
    accounts: [
      { id: 'ACC1', currency: 'USD', cash: '1000000' },
      { id: 'ACC2', currency: 'USD', cash: '1000000' },
    ],
    strategies: [],
    risk: OPEN_RISK,
    ...over,
  };
}

export const TRADER: Actor = { id: 'dev-trader', role: 'trader', channel: 'api', address: '127.0.0.1' };

export class KernelHarness {
  readonly events: Event[] = [];
  readonly commands: OutboundCommand[] = [];
  readonly kernel: Kernel;
  seq = 0;
  ts = T0;
  private execNo = 0;

  constructor(cfg: KernelConfig = kernelConfig()) {
    this.kernel = new Kernel({ event: (e) => this.events.push(e), command: (c) => this.commands.push(c) });
    this.input({ type: 'system.start', config: cfg, nodeId: 'test', version: 'test', recovered: false });
  }

  input(i: Input): ProcessResult {
    this.ts += 1_000_000n; // 1 ms per input
    return this.kernel.process(++this.seq, this.ts, i);
  }

  advance(ms: number): void {
    this.ts += BigInt(ms) * 1_000_000n;
  }

  quote(venue: string, symbol: string, bid: string, ask: string, size = '1000'): void {
    this.input({ type: 'md.quote', m: { type: 'quote', venue, symbol, feedSeq: ++this.execNo, bid, bidSize: size, ask, askSize: size, venueTs: this.ts.toString() } });
  }

  order(o: Partial<OrderRequestWire> = {}, actor: Actor = TRADER): ProcessResult {
    return this.input({
      type: 'cmd.order.new',
      actor,
      order: { symbol: 'AAPL', venue: 'SIMX', side: 'buy', type: 'limit', quantity: '10', price: '100', timeInForce: 'DAY', clientOrderId: `c${this.seq}`, account: 'ACC1', ...o },
    });
  }

  lastNew(): NewOrderMsg {
    for (let i = this.commands.length - 1; i >= 0; i--) {
      const c = this.commands[i]!.cmd;
      if (c.type === 'new') return c;
    }
    throw new Error('no new-order command was sent');
  }

  report(o: Order, r: Partial<ExecutionReportMsg>): void {
    const rep: ExecutionReportMsg = {
      venue: o.venue,
      execId: `E${++this.execNo}`,
      execType: 'new',
      ordStatus: 'New',
      clOrdId: o.clOrdId,
      symbol: o.symbol,
      side: o.side,
      orderQty: formatDecimal(o.quantity),
      lastQty: '0',
      lastPx: '0',
      cumQty: formatDecimal(o.filledQuantity),
      leavesQty: formatDecimal(o.quantity - o.filledQuantity),
      avgPx: '0',
      fee: '0',
      venueTs: this.ts.toString(),
      ...r,
    };
    this.input({ type: 'exec', r: rep });
  }

  ack(o: Order): void {
    this.report(o, { execType: 'new', ordStatus: 'New', venueOrderId: `V-${o.id}` });
  }

  fill(o: Order, qty: string, px: string, fee = '0'): void {
    this.report(o, { execType: 'trade', ordStatus: 'PartiallyFilled', lastQty: qty, lastPx: px, fee, liquidity: 'taker' });
  }

  eventsOf<T extends Event['type']>(type: T): Extract<Event, { type: T }>[] {
    return this.events.filter((e) => e.type === type) as Extract<Event, { type: T }>[];
  }
}

export function tempDir(prefix = 'bulwark-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * For a test file that makes many scratch directories: returns a maker of temp dirs, each removed
 * after the test that made it (an afterEach registered here, at the call).
 */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

/** The default paper-trading firm, on a temp data dir and an ephemeral port. */
export function nodeConfig(dataDir: string, overrides: Record<string, unknown> = {}): NodeConfig {
  return loadConfig({ env: {}, overrides: { dataDir, api: { host: '127.0.0.1', port: 0 }, ...overrides } });
}
