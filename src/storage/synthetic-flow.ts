/**
 * A synthetic order flow in the journal's shape (the payloads the sequencer and OMS write), for the
 * database tests and bench: they need many journal records quickly and deterministically, without
 * running venues. Not used by the node.
 */
import { formatDecimal, mul, parseDecimal } from '../core/fixed.js';
import type { JournalKind, JournalPayload } from '../engine/journal.js';
import type { OrderWire } from '../oms/order.js';
import type { PositionWire } from '../portfolio/portfolio.js';

export interface FlowRecord {
  kind: JournalKind;
  payload: JournalPayload;
}

export interface FlowOptions {
  strategies?: string[];
  symbols?: string[];
  account?: string;
  /** Share of orders that fill completely (default 0.4); 0.1 more are canceled, the rest stay open. */
  fillRatio?: number;
}

/** Deterministic xorshift: the same seed gives the same flow. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

export class SyntheticFlow {
  private readonly rand: () => number;
  private readonly strategies: string[];
  private readonly symbols: string[];
  private readonly account: string;
  private readonly fillRatio: number;
  private readonly positions = new Map<string, { qty: bigint; cost: bigint; realized: bigint; fees: bigint; bought: bigint; sold: bigint }>();
  private exec = 0;
  private fill = 0;
  private feed = 0;

  constructor(seed = 1, o: FlowOptions = {}) {
    this.rand = rng(seed);
    this.strategies = o.strategies ?? ['mm-1', 'mm-2', 'mom-1'];
    this.symbols = o.symbols ?? ['AAPL', 'MSFT', 'NVDA', 'SPY'];
    this.account = o.account ?? 'FIRM-1';
    this.fillRatio = o.fillRatio ?? 0.4;
  }

  /** The system.start input every journal begins with. */
  start(): FlowRecord {
    return {
      kind: 'input',
      payload: {
        type: 'system.start',
        nodeId: 'synthetic',
        version: '0.0.0',
        recovered: false,
        config: {
          environment: 'dev',
          instruments: this.symbols.map((s) => ({ symbol: s, venue: 'SIMX', tickSize: '0.01', lotSize: '1', currency: 'USD' })),
          accounts: [{ id: this.account, currency: 'USD', cash: '10000000' }],
          strategies: this.strategies.map((id) => ({ id, class: 'market-maker', account: this.account, autoStart: true, params: {} })),
          risk: { rules: [] },
        },
      },
    };
  }

  /** The records of order number `i` (1-based) from entry to its end state, stamped at `tsNs`. */
  order(i: number, tsNs: bigint): FlowRecord[] {
    const r = this.rand;
    const strategyId = this.strategies[i % this.strategies.length]!;
    const symbol = this.symbols[Math.floor(r() * this.symbols.length)]!;
    const side = r() < 0.5 ? 'buy' : 'sell';
    const mid = 100_00 + Math.floor(r() * 2000);
    const price = formatDecimal(BigInt(mid) * 1_000_000n);
    const bid = formatDecimal(BigInt(mid - 1) * 1_000_000n);
    const ask = formatDecimal(BigInt(mid + 1) * 1_000_000n);
    const qty = String(1 + Math.floor(r() * 100));
    const ts = tsNs.toString();
    const id = `O${i}`;
    const actor = { id: strategyId, channel: 'strategy' };
    const base: OrderWire = {
      id,
      clOrdId: id,
      clientOrderId: `${strategyId}-${i}`,
      account: this.account,
      strategyId,
      traderId: null,
      symbol,
      venue: 'SIMX',
      side,
      type: 'limit',
      timeInForce: 'DAY',
      quantity: qty,
      price,
      status: 'PendingNew',
      filledQuantity: '0',
      leavesQuantity: qty,
      averagePrice: null,
      fees: '0',
      venueOrderId: null,
      rejectReason: null,
      rejectDetail: null,
      replacesId: null,
      replacedById: null,
      uncertain: false,
      createdTs: ts,
      updatedTs: ts,
    };
    const report = (execType: string, ordStatus: string, lastQty: string, cumQty: string, leaves: string) => ({
      kind: 'input' as const,
      payload: {
        type: 'exec',
        r: {
          venue: 'SIMX',
          execId: `E${++this.exec}`,
          execType,
          ordStatus,
          clOrdId: id,
          venueOrderId: `V${i}`,
          symbol,
          side,
          orderQty: qty,
          lastQty,
          lastPx: lastQty === '0' ? '0' : price,
          cumQty,
          leavesQty: leaves,
          avgPx: cumQty === '0' ? '0' : price,
          fee: '0',
          venueTs: ts,
        },
      },
    });
    // order.updated carries the change only, as the OMS writes it (OrderChangeWire)
    const change = (status: string, extra: Record<string, unknown> = {}) => ({
      id, status, filledQuantity: '0', leavesQuantity: qty, averagePrice: null, fees: '0', venueOrderId: `V${i}`, uncertain: false, updatedTs: ts, ...extra,
    });
    const out: FlowRecord[] = [
      { kind: 'input', payload: { type: 'md.quote', m: { type: 'quote', venue: 'SIMX', symbol, feedSeq: ++this.feed, bid, bidSize: '500', ask, askSize: '500', venueTs: ts } } },
      { kind: 'input', payload: { type: 'cmd.order.new', actor, order: { symbol, venue: 'SIMX', side, type: 'limit', quantity: qty, price, timeInForce: 'DAY', clientOrderId: base.clientOrderId, account: this.account, strategyId } } },
      { kind: 'event', payload: { type: 'order.created', order: base, actor } },
      report('new', 'New', '0', '0', qty),
      { kind: 'event', payload: { type: 'order.updated', order: change('New'), from: 'PendingNew', cause: 'exec new' } },
    ];
    const u = r();
    if (u < this.fillRatio) {
      const fee = formatDecimal(mul(mul(parseDecimal(price), parseDecimal(qty)), 30_000n)); // 3 bps
      out.push(report('trade', 'Filled', qty, qty, '0'));
      out.push({
        kind: 'event',
        payload: { type: 'order.updated', order: change('Filled', { filledQuantity: qty, leavesQuantity: '0', averagePrice: price, fees: fee }), from: 'New', cause: 'exec trade' },
      });
      out.push({
        kind: 'event',
        payload: {
          type: 'fill',
          fill: { id: `F${++this.fill}`, orderId: id, execId: `E${this.exec}`, account: this.account, strategyId, symbol, venue: 'SIMX', side, quantity: qty, price, fee, liquidity: 'maker', ts, seq: 0 },
        },
      });
      out.push({ kind: 'event', payload: { type: 'position', position: this.book(strategyId, symbol, side, parseDecimal(qty), parseDecimal(price), parseDecimal(fee)) } });
    } else if (u < this.fillRatio + 0.1) {
      out.push({ kind: 'event', payload: { type: 'order.cancelRequested', orderId: id, actor } });
      out.push(report('canceled', 'Canceled', '0', '0', '0'));
      out.push({ kind: 'event', payload: { type: 'order.updated', order: change('Canceled', { leavesQuantity: '0' }), from: 'PendingCancel', cause: 'exec canceled' } });
    }
    return out;
  }

  private book(strategyId: string, symbol: string, side: string, qty: bigint, price: bigint, fee: bigint): PositionWire {
    const key = strategyId + '|' + symbol;
    let p = this.positions.get(key);
    if (p === undefined) this.positions.set(key, (p = { qty: 0n, cost: 0n, realized: 0n, fees: 0n, bought: 0n, sold: 0n }));
    const signed = side === 'buy' ? qty : -qty;
    const notional = mul(price, qty);
    if (p.qty === 0n || p.qty > 0n === signed > 0n) {
      p.qty += signed;
      p.cost += side === 'buy' ? notional : -notional;
    } else {
      // close at most what is held at the average cost; the rest opens the other way
      const held = p.qty < 0n ? -p.qty : p.qty;
      const closing = qty < held ? qty : held;
      const removed = (p.cost * closing) / held;
      p.realized += (side === 'buy' ? -mul(price, closing) : mul(price, closing)) - removed;
      p.cost -= removed;
      p.qty += side === 'buy' ? closing : -closing;
      const rest = qty - closing;
      if (rest > 0n) {
        p.qty += side === 'buy' ? rest : -rest;
        p.cost += side === 'buy' ? mul(price, rest) : -mul(price, rest);
      }
      if (p.qty === 0n) p.cost = 0n;
    }
    p.fees += fee;
    if (side === 'buy') p.bought += qty;
    else p.sold += qty;
    return {
        account: this.account,
        strategyId,
        symbol,
        quantity: formatDecimal(p.qty),
        averagePrice: p.qty === 0n ? null : formatDecimal(((p.cost < 0n ? -p.cost : p.cost) * 100_000_000n) / (p.qty < 0n ? -p.qty : p.qty)),
        costBasis: formatDecimal(p.cost),
        realizedPnl: formatDecimal(p.realized),
        unrealizedPnl: formatDecimal(mul(p.qty, price) - p.cost),
        markPrice: formatDecimal(price),
        fees: formatDecimal(p.fees),
        boughtQuantity: formatDecimal(p.bought),
        soldQuantity: formatDecimal(p.sold),
    };
  }
}
