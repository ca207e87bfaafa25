/**
 * The full pre-trade check chain on a realistic book: 1,000 instruments, 100 strategies with their
 * own limits, 10,000 open orders. Measures RiskEngine.checkNew alone (the chain the requirement
 * names) and a whole order submission through the core (risk + OMS + events).
 */
import { Kernel } from '../src/engine/kernel.js';
import type { KernelConfig } from '../src/engine/kernel-config.js';
import type { Order } from '../src/oms/order.js';
import type { RiskConfig } from '../src/risk/config.js';
import { latencyMetrics, measureLatency, round, type BenchResult, type LatencySummary } from './harness.js';

const INSTRUMENTS = 1000;
const STRATEGIES = 100;
const OPEN_ORDERS = 10_000;

export async function benchRisk(): Promise<BenchResult> {
  const symbols = Array.from({ length: INSTRUMENTS }, (_, i) => `S${String(i).padStart(4, '0')}`);
  const risk: RiskConfig = {
    rules: [
      {
        scope: 'firm',
        limits: {
          maxOrderQty: '100000', maxOrderNotional: '50000000', maxLongPosition: '10000000', maxShortPosition: '10000000',
          maxConcentrationPct: '100', concentrationMinGross: '1000000000', maxDailyLoss: '100000000', dailyLossAction: 'REDUCING',
          maxOrdersPerSecond: 200_000, maxOrdersPerMinute: 1_000_000, maxMessagesPerSecond: 400_000,
          fatFingerPct: '10', referenceMaxAgeMs: 3_600_000, duplicateWindowMs: 100, marginAllowance: '0', maxOpenOrders: 1_000_000,
        },
      },
      { scope: 'account', id: 'ACC', limits: { creditLimit: '100000000000', maxLongPosition: '5000000' } },
      ...Array.from({ length: STRATEGIES }, (_, i) => ({
        scope: 'strategy' as const,
        id: `strat-${i}`,
        limits: { maxOrderQty: '5000', maxLongPosition: '100000', maxShortPosition: '100000', maxOrdersPerSecond: 50_000, maxOpenOrders: 100_000 },
      })),
      ...symbols.slice(0, 100).map((s) => ({ scope: 'symbol' as const, id: s, limits: { maxLongPosition: '1000000', maxShortPosition: '1000000' } })),
    ],
    restricted: ['RESTRICTED1'],
    alertThresholdsPct: [80, 100],
    checkTradingHours: true,
  };
  const cfg: KernelConfig = {
    environment: 'bench',
    timerIntervalMs: 100,
    barIntervalMs: 1000,
    seed: 1,
    calendars: [],
    instruments: symbols.map((symbol) => ({ symbol, venue: 'SIMX', tickSize: '0.01', lotSize: '1', currency: 'USD' })),
    accounts: [{ id: 'ACC', currency: 'USD', cash: '100000000000' }],
    strategies: Array.from({ length: STRATEGIES }, (_, i) => ({ id: `strat-${i}`, class: 'momentum-taker', account: 'ACC', traderId: `trader-${i % 10}`, autoStart: false, params: { venue: 'SIMX', symbols: [symbols[i]!] } })),
    risk,
  };
  const kernel = new Kernel({ event: () => {}, command: () => {} });
  let seq = 0;
  let ts = 1_795_000_000_000_000_000n;
  const step = () => {
    ts += 20_000n; // 20 µs between inputs: 50,000 inputs/s, inside every rate limit
    return ++seq;
  };
  kernel.process(step(), ts, { type: 'system.start', config: cfg, nodeId: 'bench', version: 'bench', recovered: false });
  for (let i = 0; i < INSTRUMENTS; i++) {
    kernel.process(step(), ts, { type: 'md.quote', m: { type: 'quote', venue: 'SIMX', symbol: symbols[i]!, feedSeq: i + 1, bid: '99.99', bidSize: '1000', ask: '100.01', askSize: '1000', venueTs: ts.toString() } });
  }
  const actor = { id: 'bench', channel: 'bench' };
  for (let i = 0; i < OPEN_ORDERS; i++) {
    const r = kernel.process(step(), ts, {
      type: 'cmd.order.new',
      actor,
      order: { symbol: symbols[i % INSTRUMENTS]!, venue: 'SIMX', side: i % 2 ? 'buy' : 'sell', type: 'limit', quantity: String(1 + (i % 47)), price: i % 2 ? '95' : '105', timeInForce: 'GTC', clientOrderId: `seed-${i}`, account: 'ACC', strategyId: `strat-${i % STRATEGIES}`, traderId: `trader-${i % 10}` },
    });
    if (r.order?.status !== 'PendingNew') throw new Error(`seed order ${i} was not accepted: ${r.order?.rejectReason} ${JSON.stringify(r.order?.rejectDetail)}`);
  }
  if (kernel.oms.open.size !== OPEN_ORDERS) throw new Error('seeding failed');

  // 1. the check chain alone, on fresh orders (accepted ones: the longest path)
  const proto = kernel.oms.openOrders()[0]!;
  let n = 0;
  const mk = (): Order => {
    const i = n++;
    return { ...proto, id: `B${i}`, clOrdId: `B${i}`, clientOrderId: `bench-${i}`, symbol: symbols[i % INSTRUMENTS]!, strategyId: `strat-${i % STRATEGIES}`, quantity: BigInt(1 + (i % 997)) * 100_000_000n, price: 9_990_000_000n + BigInt(i % 20) * 1_000_000n };
  };
  const orders = Array.from({ length: 610_000 }, mk);
  let rejected = 0;
  let firstReject = '';
  // three repetitions of 200,000 checks each; the median run is reported, all three p99s listed
  // (this VM shares its cores: single runs swing by 2x in the tail)
  const runs: LatencySummary[] = [];
  let next = 0;
  for (let rep = 0; rep < 3; rep++) {
    runs.push(
      measureLatency(() => {
        ts += 20_000n;
        const v = kernel.risk.checkNew(orders[next++ % orders.length]!, ts);
        if (v !== null) {
          rejected++;
          firstReject ||= `${v.code} ${JSON.stringify(v.detail)}`;
        }
      }, 200_000, rep === 0 ? 10_000 : 0),
    );
  }
  if (rejected > 0) throw new Error(`${rejected} bench orders were rejected (first: ${firstReject}): the bench must time the accepting path`);
  const sorted = [...runs].sort((a, b) => a.p99Us - b.p99Us);
  const chain = sorted[1]!;

  // 2. a whole submission through the core: risk + OMS + order events, order then cancel ack
  let k = 0;
  const submit = measureLatency(() => {
    const i = k++;
    kernel.process(step(), ts, {
      type: 'cmd.order.new',
      actor,
      order: { symbol: symbols[i % INSTRUMENTS]!, venue: 'SIMX', side: 'buy', type: 'limit', quantity: '10', price: '99.9', timeInForce: 'DAY', clientOrderId: `sub-${i}`, account: 'ACC', strategyId: `strat-${i % STRATEGIES}` },
    });
  }, 50_000, 2_000);

  const t0 = process.hrtime.bigint();
  const N = 200_000;
  for (let i = 0; i < N; i++) {
    ts += 20_000n;
    kernel.risk.checkNew(orders[i % orders.length]!, ts);
  }
  const throughput = N / (Number(process.hrtime.bigint() - t0) / 1e9);

  return {
    name: 'Pre-trade risk check chain (issue 3)',
    metrics: {
      instruments: INSTRUMENTS,
      strategies: STRATEGIES,
      open_orders: OPEN_ORDERS,
      limit_rules: risk.rules.length,
      ...latencyMetrics('check_chain', chain),
      check_chain_p99_us_each_run: runs.map((r) => r.p99Us).join(' / '),
      check_chain_throughput_per_s: round(throughput),
      ...latencyMetrics('submit_through_core', submit),
      target: 'check chain p99 < 10 µs (requirement: < 100 µs)',
    },
    notes:
      'check_chain: RiskEngine.checkNew on an accepted order — every check runs (kill-switch guard, trading state, restricted, halt, hours, tick/lot, reference price and fat finger, size, duplicates, rates, open orders, position per scope, concentration, buying power, credit). submit_through_core: Kernel.process of a cmd.order.new (validation, risk, OMS booking, exposure tracking, order events), without the journal append.',
  };
}
