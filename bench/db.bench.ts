/**
 * Database benchmark, on embedded PGlite and (when DATABASE_URL is set) on PostgreSQL:
 *
 *  - enqueue: what the core pays per group commit to hand work to the projector;
 *  - catch-up: projector throughput (journal records and table rows per second) on a backlog;
 *  - 10,000 orders/s: a steady offered load appended to the journal (≈7 records per order: quote,
 *    command, created, ack, updated, and for some a fill with its position or a cancel); lag
 *    sampled every 50 ms, and the main thread's event-loop delay while the worker projects;
 *  - dashboard: p50/p99 of the dashboard queries through the node's DbReader with 1,000,000
 *    orders (and 1,000,000 fills) bulk-loaded with INSERT ... SELECT generate_series, not through
 *    the projector.
 *
 * Bounded to a few minutes. Journals live in os.tmpdir() with fsync off: the journal's own cost is
 * bench/journal.bench.ts's subject; this one measures the database side.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { Journal } from '../src/engine/journal.js';
import { NodeDatabase, type DbReader } from '../src/storage/database.js';
import { migrate } from '../src/storage/migrate.js';
import { currentPositions, openOrders, pnlSeries, todaysFills, todaysFillSummary, todaysOrders } from '../src/storage/queries.js';
import { databaseSettings, DATABASE_DEFAULTS, type DatabaseSettings, type DriverKind } from '../src/storage/settings.js';
import { openSqlClient } from '../src/storage/sql-client.js';
import { SyntheticFlow } from '../src/storage/synthetic-flow.js';
import { LatencyRecorder, machineInfo, round, type BenchResult } from './harness.js';

const OFFERED_ORDERS_PER_S = 10_000;
const SUSTAIN_S = 10;
const TICK_MS = 10;
const DASHBOARD_ORDERS = 1_000_000;
const DASHBOARD_FILLS = 1_000_000;
const QUERY_ITERATIONS = 300;

interface Target {
  kind: DriverKind;
  settings: DatabaseSettings;
  cleanup(): Promise<void>;
}

async function makeTarget(kind: DriverKind, batchSize: number): Promise<Target> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-dbbench-'));
  if (kind === 'pglite') {
    return { kind, settings: databaseSettings({ ...DATABASE_DEFAULTS, batchSize, lagThreshold: Number.MAX_SAFE_INTEGER }, dir), cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const base = process.env.DATABASE_URL!;
  const schema = `bulwark_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const u = new URL(base);
  u.searchParams.set('options', [u.searchParams.get('options'), `-c search_path=${schema}`].filter(Boolean).join(' '));
  return {
    kind,
    settings: databaseSettings({ ...DATABASE_DEFAULTS, url: u.toString(), batchSize, lagThreshold: Number.MAX_SAFE_INTEGER, applicationName: `bench_${schema}` }, dir),
    cleanup: async () => {
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function appendOrders(journal: Journal, flow: SyntheticFlow, from: number, count: number, ts: bigint): void {
  let seq = journal.lastSeq;
  if (seq === 0) {
    const s = flow.start();
    journal.append(s.kind, ++seq, ts, s.payload);
  }
  for (let i = from; i < from + count; i++) for (const r of flow.order(i, ts)) journal.append(r.kind, ++seq, ts, r.payload);
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/**
 * The projector's PostgreSQL backend: a function giving the CPU milliseconds it has used since
 * this call, from /proc (so only with the server on this host; undefined otherwise).
 */
async function backendCpu(t: Target): Promise<(() => number | undefined) | undefined> {
  const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await c.connect();
  try {
    const r = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [t.settings.applicationName]);
    const pid = r.rows[0]?.pid;
    if (pid === undefined) return undefined;
    const read = (): number | undefined => {
      try {
        // fields after the ")" that ends the command name: utime and stime are the 12th and 13th, in clock ticks (USER_HZ 100)
        const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return (Number(f[11]) + Number(f[12])) * 10;
      } catch {
        return undefined;
      }
    };
    const start = read();
    return start === undefined ? undefined : () => (read() ?? NaN) - start;
  } finally {
    await c.end();
  }
}

/** Cost of the durable-seq publication the journal calls after every group commit. */
function benchEnqueue(db: NodeDatabase, durable: number): { ns: number } {
  const n = 1_000_000;
  for (let i = 0; i < 10_000; i++) db.notifyDurable(durable);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) db.notifyDurable(durable);
  return { ns: Number(process.hrtime.bigint() - t0) / n };
}

async function benchProjection(kind: DriverKind, metrics: Record<string, string | number>, notes: string[]): Promise<void> {
  const p = `${kind}_`;
  // --- catch-up throughput on a backlog ---
  {
    const t = await makeTarget(kind, 5000);
    const journal = await Journal.open(path.join(path.dirname(t.settings.pgliteDir), 'journal'), { fsync: false });
    const flow = new SyntheticFlow(1);
    const orders = kind === 'pglite' ? 20_000 : 50_000;
    const ts = nowNs();
    for (let i = 1; i <= orders; i += 1000) {
      appendOrders(journal, flow, i, 1000, ts);
      await journal.flush();
    }
    const db = NodeDatabase.start(t.settings, journal);
    await db.whenProjected(0, 120_000);
    while (db.status().status !== 'up') await new Promise((r) => setTimeout(r, 5));
    // the node's thread only waits here: its event-loop delay shows what projecting costs it
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const backend = kind === 'postgres' ? await backendCpu(t) : undefined;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await db.whenProjected(journal.lastSeq, 300_000);
    const s = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const backendMs = backend?.();
    loop.disable();
    // CPU time per record, which other work on the machine changes far less than throughput does
    metrics[`${p}catchup_node_cpu_us_per_record`] = round((cpu.user + cpu.system) / journal.lastSeq, 2);
    if (backendMs !== undefined) metrics[`${p}catchup_backend_cpu_us_per_record`] = round((backendMs * 1000) / journal.lastSeq, 2);
    metrics[`${p}catchup_main_loop_delay_p99_ms`] = round(loop.percentile(99) / 1e6, 2);
    metrics[`${p}catchup_main_loop_delay_max_ms`] = round(loop.max / 1e6, 2);
    await new Promise((r) => setTimeout(r, 300)); // let the final counters arrive
    const st = db.status();
    const enqueue = benchEnqueue(db, journal.durableSeq);
    metrics[`${p}enqueue_ns`] = round(enqueue.ns, 1);
    metrics[`${p}catchup_orders_per_s`] = Math.round(orders / s);
    metrics[`${p}catchup_records_per_s`] = Math.round(journal.lastSeq / s);
    metrics[`${p}catchup_rows_per_s`] = Math.round(st.rows / s);
    await db.stop();
    await journal.close();
    await t.cleanup();
  }
  // --- steady 10,000 orders/s ---
  {
    const t = await makeTarget(kind, 5000);
    const journal = await Journal.open(path.join(path.dirname(t.settings.pgliteDir), 'journal'), { fsync: false });
    const flow = new SyntheticFlow(2);
    appendOrders(journal, flow, 1, 10, nowNs());
    await journal.flush();
    const db = NodeDatabase.start(t.settings, journal);
    await db.whenProjected(journal.lastSeq, 120_000);
    const lag = new LatencyRecorder();
    let maxLag = 0;
    const perTick = (OFFERED_ORDERS_PER_S * TICK_MS) / 1000;
    let next = 11;
    const start = performance.now();
    let ticks = 0;
    let lastSample = start;
    const lagAt: number[] = [];
    while (performance.now() - start < SUSTAIN_S * 1000) {
      appendOrders(journal, flow, next, perTick, nowNs());
      next += perTick;
      ticks++;
      const due = start + ticks * TICK_MS;
      const wait = due - performance.now();
      await new Promise((r) => setTimeout(r, Math.max(0, wait)));
      if (performance.now() - lastSample >= 50) {
        lastSample = performance.now();
        const l = db.status().lag;
        lag.recordNs(l); // a record count, stored in the histogram as is
        lagAt.push(l);
        if (l > maxLag) maxLag = l;
      }
    }
    const offeredS = (performance.now() - start) / 1000;
    const ordersSent = next - 11;
    const t1 = performance.now();
    await journal.flush();
    await db.whenProjected(journal.lastSeq, 600_000);
    const drainS = (performance.now() - t1) / 1000;
    const recordsPerOrder = journal.lastSeq / ordersSent;
    const ls = lag.summary();
    const recordsPerMs = (ordersSent * recordsPerOrder) / (offeredS * 1000);
    const lastQuarter = lagAt.slice(Math.floor(lagAt.length * 0.75));
    metrics[`${p}sustained_offered_orders_per_s`] = Math.round(ordersSent / offeredS);
    metrics[`${p}sustained_records_per_order`] = round(recordsPerOrder, 2);
    // LatencyRecorder reports microseconds of what it recorded as nanoseconds: scale back to records
    metrics[`${p}sustained_lag_p50_records`] = Math.round(ls.p50Us * 1000);
    metrics[`${p}sustained_lag_p99_records`] = Math.round(ls.p99Us * 1000);
    metrics[`${p}sustained_lag_max_records`] = maxLag;
    metrics[`${p}sustained_lag_p99_ms`] = round((ls.p99Us * 1000) / recordsPerMs, 1);
    metrics[`${p}sustained_lag_last_quarter_max_records`] = Math.max(0, ...lastQuarter);
    metrics[`${p}sustained_drain_after_load_s`] = round(drainS, 2);
    metrics[`${p}sustained_keeps_up`] = drainS < 1 && Math.max(0, ...lastQuarter) < (ordersSent * recordsPerOrder) / offeredS ? 'yes' : 'no';
    await db.stop();
    await journal.close();
    await t.cleanup();
    notes.push(
      `${kind}: ${Math.round(ordersSent / offeredS)} orders/s offered for ${round(offeredS, 1)} s (${Math.round((ordersSent * recordsPerOrder) / offeredS)} journal records/s); ` +
        `lag p99 ${metrics[`${p}sustained_lag_p99_records`]} records, drained ${round(drainS, 2)} s after the load stopped.`,
    );
  }
}

/** 1,000,000 orders and 1,000,000 fills over 30 days, 1% of the orders open (every strategy has some); P&L rows for 20 strategies. */
async function bulkLoad(settings: DatabaseSettings): Promise<number> {
  const db = await openSqlClient(settings);
  const t0 = performance.now();
  try {
    await migrate(db);
    await db.query(`SELECT bulwark_ensure_partitions(now() - interval '32 days', now() + interval '1 day')`);
    // spread over 30 days, newest first: row g was created g * (30 days / N) ago
    await db.query(
      `INSERT INTO orders (id, cl_ord_id, client_order_id, account, strategy_id, trader_id, symbol, venue, side, order_type, time_in_force,
         quantity, price, status, is_open, filled_quantity, leaves_quantity, average_price, fees, venue_order_id, reject_reason, reject_detail,
         replaces_id, replaced_by_id, uncertain, created_ts_ns, created_at, updated_ts_ns, updated_at, first_seq, last_seq)
       SELECT 'B' || g, 'B' || g, 'c' || g, 'FIRM-' || (g % 3), 'strat-' || (g % 20), NULL, (ARRAY['AAPL','MSFT','NVDA','SPY','TSLA'])[1 + g % 5], 'SIMX',
         CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END, 'limit', 'DAY', 100, 100 + (g % 1000) / 100.0,
         CASE WHEN g % 101 = 0 THEN 'New' WHEN g % 3 = 0 THEN 'Filled' ELSE 'Canceled' END, g % 101 = 0,
         CASE WHEN g % 3 = 0 AND g % 101 <> 0 THEN 100 ELSE 0 END, CASE WHEN g % 101 = 0 THEN 100 ELSE 0 END, NULL, 0, 'V' || g, NULL, NULL, NULL, NULL, false,
         0, now() - g * ($1::numeric * interval '1 microsecond'), 0, now() - g * ($1::numeric * interval '1 microsecond'), g, g
       FROM generate_series(1, $2::int) AS g`,
      [Math.floor((30 * 86_400_000_000) / DASHBOARD_ORDERS), DASHBOARD_ORDERS],
    );
    await db.query(
      `INSERT INTO fills (ts, id, seq, ts_ns, order_id, exec_id, account, strategy_id, symbol, venue, side, quantity, price, notional, fee, liquidity, venue_ts_ns)
       SELECT now() - g * ($1::numeric * interval '1 microsecond'), 'F' || g, g, 0, 'B' || g, 'E' || g, 'FIRM-' || (g % 3), 'strat-' || (g % 20),
         (ARRAY['AAPL','MSFT','NVDA','SPY','TSLA'])[1 + g % 5], 'SIMX', CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END, 10, 100.5, 1005, 0.03, 'maker', 0
       FROM generate_series(1, $2::int) AS g`,
      [Math.floor((30 * 86_400_000_000) / DASHBOARD_FILLS), DASHBOARD_FILLS],
    );
    await db.query(
      `INSERT INTO performance (bucket, period, scope, scope_id, realized_pnl, unrealized_pnl, fees, net_pnl, open_net_pnl, fills, traded_quantity, traded_notional, last_seq)
       SELECT b, p, 'strategy', 'strat-' || s, 100, 10, 1, 109, 100, 50, 500, 50000, 1
       FROM generate_series(0, 19) AS s,
            LATERAL (SELECT 'hour' AS p, generate_series(date_trunc('hour', now()) - interval '30 days', date_trunc('hour', now()), interval '1 hour') AS b
                     UNION ALL SELECT 'day', generate_series(date_trunc('day', now()) - interval '30 days', date_trunc('day', now()), interval '1 day')) x`,
    );
    await db.query(
      `INSERT INTO positions_current (key, account, strategy_id, symbol, quantity, average_price, cost_basis, realized_pnl, unrealized_pnl, mark_price, fees, bought_quantity, sold_quantity, ts, seq)
       SELECT 'FIRM-1|strat-' || s || '|' || sym, 'FIRM-1', 'strat-' || s, sym, 100, 100, 10000, 5, 3, 100.03, 1, 200, 100, now(), 1
       FROM generate_series(0, 19) AS s, unnest(ARRAY['AAPL','MSFT','NVDA','SPY','TSLA']) AS sym`,
    );
    // as after a day's autovacuum: measure the queries, not a vacuum of the fresh million rows
    await db.exec('VACUUM ANALYZE');
    // and not the write-back of the load either: on PostgreSQL the 2,000,000 rows' WAL (about 1 GB,
    // max_wal_size by default) starts a checkpoint that writes their pages out during the queries
    if (db.driver === 'postgres') await db.exec('CHECKPOINT');
  } finally {
    await db.close();
  }
  return (performance.now() - t0) / 1000;
}

async function benchDashboard(kind: DriverKind, metrics: Record<string, string | number>): Promise<void> {
  const p = `${kind}_dashboard_`;
  const t = await makeTarget(kind, 5000);
  const loadS = await bulkLoad(t.settings);
  metrics[`${p}bulk_load_s`] = round(loadS, 1);
  const journal = await Journal.open(path.join(path.dirname(t.settings.pgliteDir), 'journal'), { fsync: false });
  const db = NodeDatabase.start(t.settings, journal);
  while (db.status().status !== 'up') await new Promise((r) => setTimeout(r, 10));
  const r: DbReader = db.reader;
  const queries: [string, () => Promise<unknown>][] = [
    ['open_orders', () => openOrders(r, { limit: 100 })],
    ['open_orders_strategy', () => openOrders(r, { strategyId: 'strat-7', limit: 100 })],
    ['orders_today', () => todaysOrders(r, { limit: 100 })],
    ['fills_today', () => todaysFills(r, { limit: 100 })],
    ['fills_today_summary', () => todaysFillSummary(r)],
    ['positions', () => currentPositions(r)],
    ['pnl_hour_strategy_48h', () => pnlSeries(r, { interval: 'hour', strategyId: 'strat-7' })],
    ['pnl_day_all_strategies_90d', () => pnlSeries(r, { interval: 'day' })],
  ];
  const rec = new Map(queries.map(([n]) => [n, new LatencyRecorder()]));
  for (let i = 0; i < 30; i++) for (const [, q] of queries) await q();
  for (let i = 0; i < QUERY_ITERATIONS; i++) {
    for (const [n, q] of queries) {
      const t0 = process.hrtime.bigint();
      await q();
      rec.get(n)!.recordNs(process.hrtime.bigint() - t0);
    }
  }
  let worst = 0;
  for (const [n, l] of rec) {
    const s = l.summary();
    metrics[`${p}${n}_p50_ms`] = round(s.p50Us / 1000, 2);
    metrics[`${p}${n}_p99_ms`] = round(s.p99Us / 1000, 2);
    worst = Math.max(worst, s.p99Us / 1000);
  }
  metrics[`${p}worst_p99_ms`] = round(worst, 2);
  await db.stop();
  await journal.close();
  await t.cleanup();
}

export async function benchDb(): Promise<BenchResult> {
  const metrics: Record<string, string | number> = {};
  const notes: string[] = [];
  const kinds: DriverKind[] = ['pglite', ...(process.env.DATABASE_URL ? (['postgres'] as const) : [])];
  for (const kind of kinds) {
    process.stderr.write(`  db bench: ${kind} projection\n`);
    await benchProjection(kind, metrics, notes);
    process.stderr.write(`  db bench: ${kind} dashboard with ${DASHBOARD_ORDERS} orders\n`);
    await benchDashboard(kind, metrics);
  }
  if (!process.env.DATABASE_URL) notes.push('PostgreSQL skipped: DATABASE_URL is not set.');
  const m = machineInfo();
  notes.push(
    'Dashboard: 1,000,000 orders and 1,000,000 fills bulk-loaded, then VACUUM ANALYZE (and on PostgreSQL a CHECKPOINT, so that the load\'s write-back is not measured), ' +
      `30 warm-up rounds, then ${QUERY_ITERATIONS} rounds of the queries through the node's reader.`,
  );
  notes.push(`Targets: projector keeps up with 10,000 orders/s; dashboard p99 < 10 ms on PostgreSQL. Machine: ${m.cpu}, ${m.cores} cores.`);
  return { name: 'Database (projector and dashboard queries)', metrics, notes: notes.join('\n') };
}

// `node dist/bench/db.bench.js` runs it alone
if (process.argv[1] !== undefined && import.meta.url.endsWith(path.basename(process.argv[1])) && path.basename(process.argv[1]).startsWith('db.bench')) {
  const r = await benchDb();
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
}
