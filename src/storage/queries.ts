/**
 * Dashboard queries, each served by an index (see migrations.ts): open orders (partial index on
 * open orders), today's orders and fills (time indexes, partition pruning), current positions
 * (positions_current) and the P&L series (performance primary key). Decimals come back as strings,
 * exactly as stored; times as ISO-8601 plus the exact epoch nanoseconds where the table has them.
 */
import type { DbReader } from './database.js';
import type { OrderWire } from '../oms/order.js';
import type { PositionWire } from '../portfolio/portfolio.js';
import type { OrderStatus, OrderType, Side, TimeInForce } from '../core/types.js';

/**
 * The order and position rows are the API's wire types (src/oms/order.ts, src/portfolio/portfolio.ts)
 * read back from the database, plus what only the database knows: wall-clock times and the journal
 * sequence of the last change. One definition of the fields, not two.
 */
export type OrderView = Omit<OrderWire, 'rejectDetail' | 'replacesId' | 'replacedById'> & {
  createdAt: string;
  updatedAt: string;
  lastSeq: number;
};

/** Not the API's FillWire: `ts` here is the journal stamp of the fill (ts_ns), not the venue's time. */
export interface FillView {
  id: string;
  orderId: string;
  execId: string;
  account: string;
  strategyId: string | null;
  symbol: string;
  venue: string;
  side: string;
  quantity: string;
  price: string;
  notional: string;
  fee: string;
  liquidity: string | null;
  at: string;
  ts: string;
  seq: number;
}

export type PositionView = PositionWire & {
  at: string;
  seq: number;
};

export interface PnlPoint {
  bucket: string;
  scope: 'strategy' | 'account';
  scopeId: string;
  /** P&L made within the bucket: net at its end minus net at its start. */
  pnl: string;
  netPnl: string;
  realizedPnl: string;
  unrealizedPnl: string;
  fees: string;
  fills: number;
  tradedQuantity: string;
  tradedNotional: string;
}

export interface FillSummary {
  strategyId: string;
  fills: number;
  tradedQuantity: string;
  tradedNotional: string;
  pnl: string;
}

/**
 * Decimals and times are formatted by the database, in the SQL below, not here: a NUMERIC as text
 * without the trailing zeros of its scale (`trim_scale`: "12.50000000" → "12.5"), a timestamptz
 * as ISO-8601 UTC with milliseconds, as Date.toISOString writes it. The rows then arrive as the
 * strings the API returns: no Date object per time and no regular expression per decimal on the
 * node's thread (about a microsecond a field; a 620-row P&L series spent 1 ms of its 4 here).
 * The aliases differ from the column names, so that ORDER BY still means the column (and its
 * index), not the text.
 */
const dec = (expr: string, alias: string): string => `trim_scale(${expr})::text AS ${alias}`;
const isoOf = (expr: string, alias: string): string => `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${alias}`;

const ORDER_COLS = `id, cl_ord_id, client_order_id, account, strategy_id, trader_id, symbol, venue, side, order_type, time_in_force,
  ${dec('quantity', 'quantity_t')}, ${dec('price', 'price_t')}, status, ${dec('filled_quantity', 'filled_quantity_t')},
  ${dec('leaves_quantity', 'leaves_quantity_t')}, ${dec('average_price', 'average_price_t')}, ${dec('fees', 'fees_t')}, venue_order_id,
  reject_reason, uncertain, ${isoOf('created_at', 'created_iso')}, created_ts_ns::text AS created_ts_ns, ${isoOf('updated_at', 'updated_iso')},
  updated_ts_ns::text AS updated_ts_ns, last_seq::text AS last_seq`;

type Row = Record<string, unknown>;

const s = (v: unknown): string => String(v);
const ns = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function toOrder(r: Row): OrderView {
  return {
    id: s(r.id),
    clOrdId: s(r.cl_ord_id),
    clientOrderId: s(r.client_order_id),
    account: s(r.account),
    strategyId: ns(r.strategy_id),
    traderId: ns(r.trader_id),
    symbol: s(r.symbol),
    venue: s(r.venue),
    // the projector stored these from the wire types, so they are members of their unions
    side: s(r.side) as Side,
    type: s(r.order_type) as OrderType,
    timeInForce: s(r.time_in_force) as TimeInForce,
    quantity: s(r.quantity_t),
    price: ns(r.price_t),
    status: s(r.status) as OrderStatus,
    filledQuantity: s(r.filled_quantity_t),
    leavesQuantity: s(r.leaves_quantity_t),
    averagePrice: ns(r.average_price_t),
    fees: s(r.fees_t),
    venueOrderId: ns(r.venue_order_id),
    rejectReason: ns(r.reject_reason),
    uncertain: r.uncertain === true,
    createdAt: s(r.created_iso),
    createdTs: s(r.created_ts_ns),
    updatedAt: s(r.updated_iso),
    updatedTs: s(r.updated_ts_ns),
    lastSeq: Number(r.last_seq),
  };
}

/** [start, end) of the UTC day containing `at`. */
export function utcDay(at: Date = new Date()): { from: string; to: string } {
  const start = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
  return { from: new Date(start).toISOString(), to: new Date(start + 86_400_000).toISOString() };
}

/**
 * WHERE conditions for the filters actually given, so the planner sees `strategy_id = $n` (and
 * can use the partial index for it) instead of `($n IS NULL OR strategy_id = $n)`.
 */
function where(fixed: string[], params: unknown[], optional: Record<string, string | undefined>): string {
  const conds = [...fixed];
  for (const [col, value] of Object.entries(optional)) {
    if (value === undefined) continue;
    params.push(value);
    conds.push(`${col} = $${params.length}`);
  }
  return conds.length === 0 ? '' : `WHERE ${conds.join(' AND ')}`;
}

function limit(params: unknown[], n: number): string {
  params.push(n);
  return `LIMIT $${params.length}`;
}

export interface OrderFilter {
  strategyId?: string;
  account?: string;
  limit?: number;
}

export async function openOrders(db: DbReader, f: OrderFilter = {}): Promise<OrderView[]> {
  const params: unknown[] = [];
  const w = where(['is_open'], params, { strategy_id: f.strategyId, account: f.account });
  const rows = await db.query<Row>(`SELECT ${ORDER_COLS} FROM orders ${w} ORDER BY created_at DESC ${limit(params, f.limit ?? 1000)}`, params);
  return rows.map(toOrder);
}

export async function todaysOrders(db: DbReader, f: OrderFilter & { day?: Date } = {}): Promise<OrderView[]> {
  const { from, to } = utcDay(f.day);
  const params: unknown[] = [from, to];
  const w = where(['created_at >= $1', 'created_at < $2'], params, { strategy_id: f.strategyId, account: f.account });
  const rows = await db.query<Row>(`SELECT ${ORDER_COLS} FROM orders ${w} ORDER BY created_at DESC ${limit(params, f.limit ?? 1000)}`, params);
  return rows.map(toOrder);
}

export async function todaysFills(db: DbReader, f: OrderFilter & { day?: Date } = {}): Promise<FillView[]> {
  const { from, to } = utcDay(f.day);
  const params: unknown[] = [from, to];
  const w = where(['ts >= $1', 'ts < $2'], params, { strategy_id: f.strategyId, account: f.account });
  const rows = await db.query<Row>(
    `SELECT id, order_id, exec_id, account, strategy_id, symbol, venue, side, ${dec('quantity', 'quantity_t')}, ${dec('price', 'price_t')},
            ${dec('notional', 'notional_t')}, ${dec('fee', 'fee_t')}, liquidity, ${isoOf('ts', 'ts_iso')}, ts_ns::text AS ts_ns, seq::text AS seq
     FROM fills ${w} ORDER BY ts DESC, id DESC ${limit(params, f.limit ?? 1000)}`,
    params,
  );
  return rows.map((r) => ({
    id: s(r.id),
    orderId: s(r.order_id),
    execId: s(r.exec_id),
    account: s(r.account),
    strategyId: ns(r.strategy_id),
    symbol: s(r.symbol),
    venue: s(r.venue),
    side: s(r.side),
    quantity: s(r.quantity_t),
    price: s(r.price_t),
    notional: s(r.notional_t),
    fee: s(r.fee_t),
    liquidity: ns(r.liquidity),
    at: s(r.ts_iso),
    ts: s(r.ts_ns),
    seq: Number(r.seq),
  }));
}

/** Today's fill count, volume and P&L per strategy, from the daily performance rows (no scan of fills). */
export async function todaysFillSummary(db: DbReader, day?: Date): Promise<FillSummary[]> {
  const { from } = utcDay(day);
  const rows = await db.query<Row>(
    `SELECT scope_id, fills::text AS fills, ${dec('traded_quantity', 'traded_quantity_t')}, ${dec('traded_notional', 'traded_notional_t')},
            ${dec('net_pnl - open_net_pnl', 'pnl_t')}
     FROM performance WHERE period = 'day' AND scope = 'strategy' AND bucket = $1 ORDER BY scope_id`,
    [from],
  );
  return rows.map((r) => ({ strategyId: s(r.scope_id), fills: Number(r.fills), tradedQuantity: s(r.traded_quantity_t), tradedNotional: s(r.traded_notional_t), pnl: s(r.pnl_t) }));
}

export async function currentPositions(db: DbReader, f: { account?: string; strategyId?: string } = {}): Promise<PositionView[]> {
  const params: unknown[] = [];
  const w = where([], params, { account: f.account, strategy_id: f.strategyId });
  const rows = await db.query<Row>(
    `SELECT account, strategy_id, symbol, ${dec('quantity', 'quantity_t')}, ${dec('average_price', 'average_price_t')}, ${dec('cost_basis', 'cost_basis_t')},
            ${dec('realized_pnl', 'realized_pnl_t')}, ${dec('unrealized_pnl', 'unrealized_pnl_t')}, ${dec('mark_price', 'mark_price_t')}, ${dec('fees', 'fees_t')},
            ${dec('bought_quantity', 'bought_quantity_t')}, ${dec('sold_quantity', 'sold_quantity_t')}, ${isoOf('ts', 'ts_iso')}, seq::text AS seq
     FROM positions_current ${w}
     ORDER BY account, strategy_id NULLS FIRST, symbol`,
    params,
  );
  return rows.map((r) => ({
    account: s(r.account),
    strategyId: ns(r.strategy_id),
    symbol: s(r.symbol),
    quantity: s(r.quantity_t),
    averagePrice: ns(r.average_price_t),
    costBasis: s(r.cost_basis_t),
    realizedPnl: s(r.realized_pnl_t),
    unrealizedPnl: ns(r.unrealized_pnl_t),
    markPrice: ns(r.mark_price_t),
    fees: s(r.fees_t),
    boughtQuantity: s(r.bought_quantity_t),
    soldQuantity: s(r.sold_quantity_t),
    at: s(r.ts_iso),
    seq: Number(r.seq),
  }));
}

export interface PnlQuery {
  interval: 'hour' | 'day';
  /** A strategy's series; '' is orders without a strategy. */
  strategyId?: string;
  /** An account's series (when no strategyId). */
  account?: string;
  from?: Date;
  to?: Date;
  limit?: number;
}

/**
 * P&L per bucket for one strategy or account (or every strategy when neither is given). A bucket
 * with nothing that changed the P&L (no fill, position or mark move) has no row.
 */
export async function pnlSeries(db: DbReader, q: PnlQuery): Promise<PnlPoint[]> {
  const to = q.to ?? new Date(Date.now() + 3_600_000);
  const from = q.from ?? new Date(to.getTime() - (q.interval === 'hour' ? 48 * 3_600_000 : 90 * 86_400_000));
  const scope = q.strategyId === undefined && q.account !== undefined ? 'account' : 'strategy';
  const scopeId = scope === 'account' ? q.account! : (q.strategyId ?? null);
  const params: unknown[] = [q.interval, scope, from.toISOString(), to.toISOString()];
  const w = where(['period = $1', 'scope = $2', 'bucket >= $3', 'bucket < $4'], params, { scope_id: scopeId ?? undefined });
  const rows = await db.query<Row>(
    `SELECT ${isoOf('bucket', 'bucket_iso')}, scope, scope_id, ${dec('net_pnl - open_net_pnl', 'pnl_t')}, ${dec('net_pnl', 'net_pnl_t')},
            ${dec('realized_pnl', 'realized_pnl_t')}, ${dec('unrealized_pnl', 'unrealized_pnl_t')}, ${dec('fees', 'fees_t')}, fills::text AS fills,
            ${dec('traded_quantity', 'traded_quantity_t')}, ${dec('traded_notional', 'traded_notional_t')}
     FROM performance ${w}
     ORDER BY scope_id, bucket ${limit(params, q.limit ?? 10_000)}`,
    params,
  );
  return rows.map((r) => ({
    bucket: s(r.bucket_iso),
    scope: s(r.scope) as 'strategy' | 'account',
    scopeId: s(r.scope_id),
    pnl: s(r.pnl_t),
    netPnl: s(r.net_pnl_t),
    realizedPnl: s(r.realized_pnl_t),
    unrealizedPnl: s(r.unrealized_pnl_t),
    fees: s(r.fees_t),
    fills: Number(r.fills),
    tradedQuantity: s(r.traded_quantity_t),
    tradedNotional: s(r.traded_notional_t),
  }));
}
