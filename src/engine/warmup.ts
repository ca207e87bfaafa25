/**
 * JIT warm-up of the kill switch's path, run once when the node starts, on a scratch kernel of its
 * own: nothing of it reaches the node's kernel, journal, venues or database.
 *
 * Why: the kill switch is the control of last resort, and in a running node its path (activation
 * over every open order, the venues' mass cancel reports, risk booking the ended orders) has
 * usually never run: V8 then executes it in the interpreter, collecting type feedback as it goes.
 * Measured with bench/kill.bench.ts (10,000 orders on 3 venues, 2026-11-28): a process's first
 * activation took 92–149 ms, the later ones 50–80 ms. Running the same code once over a few
 * thousand scratch orders at start gives V8 the feedback and compiled code up front, so that the
 * first real kill runs as fast as the later ones. Cost: tens of milliseconds at start.
 *
 * The scratch kernel gets the node's instruments and venues, one account of its own, no
 * strategies and no risk rules (so that every order is accepted), and a quote per instrument.
 */
import type { Input } from './messages.js';
import { Kernel } from './kernel.js';
import type { KernelConfig } from './kernel-config.js';

const T0 = 1_700_000_000_000_000_000n;
const ACCOUNT = 'WARMUP';

export interface WarmupResult {
  orders: number;
  /** orders a venue's mass cancel report ended; the rest were cancelled one by one */
  massCanceled: number;
  ms: number;
}

/**
 * Places `orders` resting orders across the configured instruments on a scratch kernel, has each
 * acknowledged, pulls a firm-wide kill and answers it as the venues would (one mass cancel report
 * per venue that offers it, a canceled report per order elsewhere). Throws if the scratch kernel
 * does not end with every order closed: the caller logs that and starts anyway.
 */
export function warmKillPath(cfg: KernelConfig, orders = 3000): WarmupResult {
  const t0 = performance.now();
  const commands: { venue: string; cmd: { type: string; clOrdId?: string; origClOrdId?: string; requestId?: string } }[] = [];
  const kernel = new Kernel({ event: () => {}, command: (c) => commands.push(c) });
  let seq = 0;
  let ts = T0;
  const input = (i: Input): ReturnType<Kernel['process']> => kernel.process(++seq, (ts += 1000n), i);
  input({
    type: 'system.start',
    config: {
      ...cfg,
      strategies: [],
      accounts: [{ id: ACCOUNT, currency: 'USD', cash: '1000000000000' }],
      risk: { rules: [], restricted: [], alertThresholdsPct: cfg.risk.alertThresholdsPct, checkTradingHours: false },
    },
    nodeId: 'warmup',
    version: 'warmup',
    recovered: false,
  });
  const instruments = cfg.instruments;
  if (instruments.length === 0) return { orders: 0, massCanceled: 0, ms: performance.now() - t0 };
  for (const inst of instruments) {
    input({ type: 'md.quote', m: { type: 'quote', venue: inst.venue, symbol: inst.symbol, feedSeq: seq, bid: '99', bidSize: '1000', ask: '101', askSize: '1000', venueTs: ts.toString() } });
  }
  let execNo = 0;
  const report = (venue: string, clOrdId: string, symbol: string, side: 'buy' | 'sell', execType: 'new' | 'canceled', ordStatus: 'New' | 'Canceled'): void => {
    input({
      type: 'exec',
      r: { venue, execId: `W${++execNo}`, execType, ordStatus, clOrdId, venueOrderId: `V-${clOrdId}`, symbol, side, orderQty: '1', lastQty: '0', lastPx: '0', cumQty: '0', leavesQty: execType === 'new' ? '1' : '0', avgPx: '0', fee: '0', venueTs: ts.toString() },
    });
  };
  for (let i = 0; i < orders; i++) {
    const inst = instruments[i % instruments.length]!;
    const side = i % 2 === 0 ? 'buy' : 'sell';
    const r = input({
      type: 'cmd.order.new',
      actor: { id: 'warmup', channel: 'system' },
      order: { symbol: inst.symbol, venue: inst.venue, side, type: 'limit', quantity: '1', price: side === 'buy' ? '90' : '110', timeInForce: 'GTC', clientOrderId: `w-${i}`, account: ACCOUNT },
    });
    const o = r.order;
    if (o === undefined || o.status === 'Rejected') continue;
    report(o.venue, o.clOrdId, o.symbol, o.side, 'new', 'New');
  }
  const placed = kernel.oms.openOrders().length;
  commands.length = 0;
  input({ type: 'cmd.kill', actor: { id: 'warmup', role: 'risk_manager', channel: 'system' }, scope: { type: 'firm' }, reason: 'JIT warm-up' });
  // answer as the venues would: one report per mass cancel request, one canceled report per individual cancel
  let massCanceled = 0;
  for (const c of commands.splice(0)) {
    if (c.cmd.type === 'massCancel') {
      const mine = kernel.oms.openOrders((o) => o.venue === c.venue);
      massCanceled += mine.length;
      input({
        type: 'exec.massCancel',
        r: { venue: c.venue, reportId: `WM${++execNo}`, requestId: c.cmd.requestId!, affected: mine.map((o) => ({ clOrdId: o.clOrdId, venueOrderId: `V-${o.clOrdId}`, execId: `W${++execNo}`, cumQty: '0' })), venueTs: ts.toString() },
      });
    } else if (c.cmd.type === 'cancel') {
      const o = kernel.oms.findByClOrdId(c.venue, c.cmd.origClOrdId!);
      if (o !== undefined) report(c.venue, c.cmd.clOrdId!, o.symbol, o.side, 'canceled', 'Canceled');
    }
  }
  const left = kernel.oms.openOrders().length;
  if (left > 0) throw new Error(`kill-switch warm-up: ${left} of ${placed} scratch orders still open after the kill`);
  return { orders: placed, massCanceled, ms: performance.now() - t0 };
}
