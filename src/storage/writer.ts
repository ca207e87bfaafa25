/**
 * Writes one projection batch inside the caller's transaction, then moves
 * projector_state.last_seq, guarded by its old value, so that the batch and the position it brings
 * the projector to commit together or not at all.
 *
 * Transport: the high-volume tables are loaded with COPY, PostgreSQL's and PGlite's fastest
 * ingest path: audit_log (a row per journal record, most of the bytes) in binary format, the
 * others in text format; orders (an upsert at the same volume) go through a temporary staging table
 * filled by COPY; the small upserts (positions_current, performance, instruments, strategies) are
 * one INSERT ... SELECT FROM jsonb_to_recordset(...) ON CONFLICT each. bench/db.bench.ts has the
 * figures that led here: jsonb_to_recordset costs ~12 µs a row in field extraction alone.
 *
 * audit_log is partitioned by month (migration 5): before the COPYs, the months the batch touches
 * get their partitions (audit_log's always, the time series' in native mode), unless known to
 * exist. The WORM archive's mark, when the batch has an audit.archived note, moves
 * audit_archive_state in the same transaction; the prunes its database.auditPruned notes journal
 * go into audit_log_prunes_journaled, in the same transaction too.
 */
import {
  AUDIT_COLUMNS,
  batchRowCount,
  jsonText,
  type ArchiveMarkRow,
  type OrderChangeRow,
  type ConfigVersionRow,
  type OrderRow,
  type ProjectionBatch,
} from './projection.js';
import { CopySizeHint } from './copy-binary.js';
import { TextCopyRows, type CopyTable } from './copy-text.js';
import { copyField as f, type CopyFormat, type SqlSession } from './sql-client.js';

// ---------------------------------------------------------------------------------------------
// COPY: columns and one text-format line per row
// ---------------------------------------------------------------------------------------------

/** A jsonb field of a text-format COPY line. */
const json = (v: unknown): string => (v === null || v === undefined ? '\\N' : f(jsonText(v)));

const AUDIT_TABLE = 'audit_log';

const ORDER_COLUMNS = [
  'id', 'cl_ord_id', 'client_order_id', 'account', 'strategy_id', 'trader_id', 'symbol', 'venue', 'side', 'order_type', 'time_in_force',
  'quantity', 'price', 'status', 'is_open', 'filled_quantity', 'leaves_quantity', 'average_price', 'fees', 'venue_order_id', 'reject_reason',
  'reject_detail', 'replaces_id', 'replaced_by_id', 'uncertain', 'created_ts_ns', 'created_at', 'updated_ts_ns', 'updated_at', 'first_seq', 'last_seq',
] as const;

const ORDERS_STAGE: CopyTable<OrderRow> = {
  table: 'orders_stage',
  columns: ORDER_COLUMNS,
  line: (r) =>
    [
      f(r.id), f(r.cl_ord_id), f(r.client_order_id), f(r.account), f(r.strategy_id), f(r.trader_id), f(r.symbol), f(r.venue), f(r.side),
      f(r.order_type), f(r.time_in_force), r.quantity, f(r.price), f(r.status), f(r.is_open), r.filled_quantity, r.leaves_quantity,
      f(r.average_price), r.fees, f(r.venue_order_id), f(r.reject_reason), json(r.reject_detail), f(r.replaces_id), f(r.replaced_by_id),
      f(r.uncertain), r.created_ts_ns, r.created_at, r.updated_ts_ns, r.updated_at, r.first_seq, r.last_seq,
    ].join('\t'),
  hint: new CopySizeHint(1 << 14),
};

const ORDER_CHANGE_COLUMNS = [
  'id', 'status', 'is_open', 'filled_quantity', 'leaves_quantity', 'average_price', 'fees', 'venue_order_id', 'reject_reason', 'reject_detail',
  'replaced_by_id', 'uncertain', 'updated_ts_ns', 'updated_at', 'last_seq',
] as const;

const ORDER_CHANGES_STAGE: CopyTable<OrderChangeRow> = {
  table: 'order_changes_stage',
  columns: ORDER_CHANGE_COLUMNS,
  line: (r) =>
    [
      f(r.id), f(r.status), f(r.is_open), f(r.filled_quantity), r.leaves_quantity, f(r.average_price), f(r.fees), f(r.venue_order_id),
      f(r.reject_reason), json(r.reject_detail), f(r.replaced_by_id), f(r.uncertain), r.updated_ts_ns, r.updated_at, r.last_seq,
    ].join('\t'),
  hint: new CopySizeHint(1 << 14),
};

const CONFIG_VERSIONS: CopyTable<ConfigVersionRow> = {
  table: 'config_versions',
  columns: ['seq', 'ts_ns', 'ts', 'kind', 'actor_id', 'reason', 'config', 'previous'],
  line: (r) => `${r.seq}\t${r.ts_ns}\t${r.ts}\t${r.kind}\t${f(r.actor_id)}\t${f(r.reason)}\t${json(r.config)}\t${json(r.previous)}`,
  hint: new CopySizeHint(1 << 10),
};

// ---------------------------------------------------------------------------------------------
// Upserts
// ---------------------------------------------------------------------------------------------

type Col = readonly [name: string, sqlType: string];

function recordsetUpsert(table: string, cols: readonly Col[], conflict: string): string {
  const names = cols.map(([n]) => n).join(', ');
  const recordType = cols.map(([n, t]) => `${n} ${t}`).join(', ');
  return `INSERT INTO ${table} (${names}) SELECT ${names} FROM jsonb_to_recordset($1::jsonb) AS r(${recordType}) ${conflict}`;
}

function setAll(cols: readonly string[], except: readonly string[]): string {
  return cols
    .filter((n) => !except.includes(n))
    .map((n) => `${n} = excluded.${n}`)
    .join(', ');
}

const N = 'numeric(38,8)';

const POSITION_CURRENT_COLS: Col[] = [
  ['key', 'text'],
  ['account', 'text'],
  ['strategy_id', 'text'],
  ['symbol', 'text'],
  ['quantity', N],
  ['average_price', N],
  ['cost_basis', N],
  ['realized_pnl', N],
  ['unrealized_pnl', N],
  ['mark_price', N],
  ['fees', N],
  ['bought_quantity', N],
  ['sold_quantity', N],
  ['ts', 'timestamptz'],
  ['seq', 'bigint'],
];

const INSTRUMENT_COLS: Col[] = [
  ['venue', 'text'],
  ['symbol', 'text'],
  ['tick_size', N],
  ['lot_size', N],
  ['min_qty', N],
  ['max_qty', N],
  ['currency', 'text'],
  ['calendar', 'text'],
  ['updated_seq', 'bigint'],
];

const STRATEGY_COLS: Col[] = [
  ['id', 'text'],
  ['class', 'text'],
  ['account', 'text'],
  ['trader_id', 'text'],
  ['params', 'jsonb'],
  ['state', 'text'],
  ['updated_seq', 'bigint'],
  ['updated_at', 'timestamptz'],
];

const PERFORMANCE_COLS: Col[] = [
  ['bucket', 'timestamptz'],
  ['period', 'text'],
  ['scope', 'text'],
  ['scope_id', 'text'],
  ['realized_pnl', N],
  ['unrealized_pnl', N],
  ['fees', N],
  ['net_pnl', N],
  ['open_net_pnl', N],
  ['fills', 'bigint'],
  ['traded_quantity', N],
  ['traded_notional', N],
  ['last_seq', 'bigint'],
];

const KEPT_WHEN_NULL = new Set<string>(['filled_quantity', 'average_price', 'fees', 'uncertain', 'venue_order_id', 'reject_reason', 'reject_detail', 'replaced_by_id']);

/**
 * Every monthly partition from `from` to `to` (SQL timestamptz expressions): the time series' (in
 * native mode) and audit_log's (always). The batches' query and the projector's hourly one.
 */
export function ensurePartitionsSql(from: string, to: string): string {
  return `SELECT bulwark_ensure_partitions(${from}, ${to}) + bulwark_ensure_audit_partitions(${from}, ${to}) AS created`;
}

export const SQL = {
  /** Per connection: the staging table the orders upsert reads from, emptied at each commit. */
  prepareSession: `CREATE TEMP TABLE IF NOT EXISTS orders_stage (LIKE orders) ON COMMIT DELETE ROWS`,
  /** Same for the order changes: the columns an order.updated can alter, without NOT NULL constraints. */
  prepareChangeStage:
    `CREATE TEMP TABLE IF NOT EXISTS order_changes_stage ON COMMIT DELETE ROWS AS SELECT ${ORDER_CHANGE_COLUMNS.join(', ')} FROM orders WITH NO DATA`,
  /**
   * A change never clears what it leaves null (venue order id, reject reason, replacement; and the
   * fill columns and uncertain flag, which a mass cancel's change leaves null: OrderChangeRow).
   */
  applyOrderChanges:
    'UPDATE orders o SET ' +
    ORDER_CHANGE_COLUMNS.filter((c) => c !== 'id')
      .map((c) => (KEPT_WHEN_NULL.has(c) ? `${c} = COALESCE(s.${c}, o.${c})` : `${c} = s.${c}`))
      .join(', ') +
    ' FROM order_changes_stage s WHERE o.id = s.id AND o.last_seq < s.last_seq',
  upsertOrders:
    `INSERT INTO orders (${ORDER_COLUMNS.join(', ')}) SELECT ${ORDER_COLUMNS.join(', ')} FROM orders_stage ` +
    `ON CONFLICT (id) DO UPDATE SET ${setAll(ORDER_COLUMNS, ['id', 'first_seq'])} WHERE orders.last_seq < excluded.last_seq`,
  positionsCurrent: recordsetUpsert(
    'positions_current',
    POSITION_CURRENT_COLS,
    `ON CONFLICT (key) DO UPDATE SET ${setAll(POSITION_CURRENT_COLS.map(([n]) => n), ['key'])} WHERE positions_current.seq < excluded.seq`,
  ),
  instruments: recordsetUpsert(
    'instruments',
    INSTRUMENT_COLS,
    `ON CONFLICT (venue, symbol) DO UPDATE SET ${setAll(INSTRUMENT_COLS.map(([n]) => n), ['venue', 'symbol'])} WHERE instruments.updated_seq < excluded.updated_seq`,
  ),
  strategies: recordsetUpsert(
    'strategies',
    STRATEGY_COLS,
    'ON CONFLICT (id) DO UPDATE SET ' +
      ['class', 'account', 'trader_id', 'params', 'state'].map((c) => `${c} = COALESCE(excluded.${c}, strategies.${c})`).join(', ') +
      ', updated_seq = excluded.updated_seq, updated_at = excluded.updated_at WHERE strategies.updated_seq < excluded.updated_seq',
  ),
  // a bucket keeps the opening value it was created with; counters add up across batches
  performance: recordsetUpsert(
    'performance',
    PERFORMANCE_COLS,
    'ON CONFLICT (period, scope, scope_id, bucket) DO UPDATE SET ' +
      'realized_pnl = excluded.realized_pnl, unrealized_pnl = excluded.unrealized_pnl, fees = excluded.fees, net_pnl = excluded.net_pnl, ' +
      'fills = performance.fills + excluded.fills, traded_quantity = performance.traded_quantity + excluded.traded_quantity, ' +
      'traded_notional = performance.traded_notional + excluded.traded_notional, last_seq = excluded.last_seq',
  ),
  advance: `UPDATE projector_state SET last_seq = $2, updated_at = now() WHERE name = 'journal' AND last_seq = $1`,
  /** The archive's mark only moves up (notes are projected in order; a lower one changes nothing). */
  archiveMark:
    `UPDATE audit_archive_state SET archived_seq = $1, source_seq = $2, reported_at = $3::timestamptz ` +
    `WHERE archive = 'worm' AND archived_seq < $1`,
  /**
   * The prunes journaled by database.auditPruned notes. The first note wins (DO NOTHING); a prune
   * this database never recorded (a journal replayed into a fresh database, whose own prune ids
   * start again at 1) is skipped, not a failure of the batch: a row is matched on its id and the
   * partition the note names.
   */
  prunesJournaled:
    `INSERT INTO audit_log_prunes_journaled (prune_id, seq) ` +
    `SELECT x.prune_id, x.seq FROM jsonb_to_recordset($1::jsonb) AS x(prune_id bigint, partition text, seq bigint) ` +
    `WHERE EXISTS (SELECT 1 FROM audit_log_prunes p WHERE p.id = x.prune_id AND p.partition_name = x.partition) ON CONFLICT (prune_id) DO NOTHING`,
  /** The time series' partitions (native mode) and audit_log's (always), for the batch's months. */
  ensurePartitions: ensurePartitionsSql('$1::timestamptz', '$2::timestamptz'),
} as const;

/** Another writer moved projector_state: this batch is rolled back and the projector re-reads. */
export class ProjectorConflictError extends Error {
  constructor(expected: number) {
    super(`projector_state.last_seq is no longer ${expected}: another projector is writing to this database`);
    this.name = 'ProjectorConflictError';
  }
}

function monthsBetween(fromIso: string, toIso: string): string[] {
  const out: string[] = [];
  let y = Number(fromIso.slice(0, 4));
  let m = Number(fromIso.slice(5, 7));
  const endY = Number(toIso.slice(0, 4));
  const endM = Number(toIso.slice(5, 7));
  while (y < endY || (y === endY && m <= endM)) {
    out.push(`${y}-${String(m).padStart(2, '0')}`);
    if (++m > 12) {
      m = 1;
      y++;
    }
  }
  return out;
}

export class BatchWriter {
  /** Months whose partitions are known to exist (native partitioning creates them on demand). */
  private readonly months = new Set<string>();

  forgetPartitions(): void {
    this.months.clear();
  }

  /** Once per connection, before the first batch. */
  async prepare(db: SqlSession): Promise<void> {
    await db.query(SQL.prepareSession);
    await db.query(SQL.prepareChangeStage);
  }

  /** Creates the partitions for [from, to] (UTC months) unless known to exist. */
  async ensurePartitions(tx: SqlSession, fromIso: string, toIso: string): Promise<void> {
    const missing = monthsBetween(fromIso, toIso).filter((m) => !this.months.has(m));
    if (missing.length === 0) return;
    await tx.query(SQL.ensurePartitions, [fromIso, toIso]);
    for (const m of missing) this.months.add(m);
  }

  /**
   * Turns a batch into what goes over the wire (COPY data, JSON for the small upserts). Pure CPU:
   * done before the transaction, so that it overlaps the database's work on the previous batch.
   */
  encode(b: ProjectionBatch): EncodedBatch {
    const copies: EncodedBatch['copies'] = [];
    // the append-only tables were encoded as the batch was built (TextCopyRows)
    const encoded = <R>(rows: TextCopyRows<R>): void => {
      if (rows.length > 0) copies.push({ table: rows.table.table, columns: rows.table.columns, data: rows.finish(), format: 'text', rows: rows.length });
    };
    // the others' rows (coalesced per key for the upserts) are encoded here
    const add = <R>(t: CopyTable<R>, values: readonly R[] | ReadonlyMap<string, R>): void => {
      if ((values instanceof Map ? values.size : (values as readonly R[]).length) === 0) return;
      const rows = new TextCopyRows(t);
      for (const r of values.values()) rows.push(r);
      encoded(rows);
    };
    const json = (values: ReadonlyMap<string, unknown>): string | undefined => (values.size === 0 ? undefined : JSON.stringify([...values.values()]));
    // audit_log in COPY's binary format, encoded as the batch was built (AuditCopy): most of the
    // bytes are the payload, which the server then only checks as json (migration 3)
    if (b.audit.length > 0) copies.push({ table: AUDIT_TABLE, columns: AUDIT_COLUMNS, data: b.audit.finish(), format: 'binary', rows: b.audit.length });
    add(CONFIG_VERSIONS, b.configVersions);
    add(ORDERS_STAGE, b.orders);
    add(ORDER_CHANGES_STAGE, b.orderChanges);
    encoded(b.orderEvents);
    encoded(b.fills);
    encoded(b.positions);
    encoded(b.marketData);
    return {
      fromSeq: b.fromSeq,
      toSeq: b.toSeq,
      minTs: b.minTs,
      maxTs: b.maxTs,
      copies,
      instruments: json(b.instruments),
      strategies: json(b.strategies),
      positionsCurrent: json(b.positionsCurrent),
      performance: json(b.performance),
      archiveMark: b.archiveMark,
      prunesJournaled: b.prunesJournaled.length === 0 ? undefined : JSON.stringify(b.prunesJournaled),
      rows: batchRowCount(b),
    };
  }

  /** Writes an encoded batch. Throws (the caller rolls back) on any failure. */
  async write(tx: SqlSession, e: EncodedBatch, expectedLastSeq: number): Promise<void> {
    if (e.fromSeq !== expectedLastSeq + 1) throw new Error(`batch starts at ${e.fromSeq} but the projector is at ${expectedLastSeq}`);
    if (e.minTs !== null && e.maxTs !== null) await this.ensurePartitions(tx, e.minTs, e.maxTs);
    // Plain inserts for everything keyed by seq: a record applied twice fails, it is never skipped.
    for (const c of e.copies) {
      await tx.copyFrom(c.table, c.columns, c.data, c.format);
      if (c.table === ORDERS_STAGE.table) await tx.query(SQL.upsertOrders);
      else if (c.table === ORDER_CHANGES_STAGE.table) await tx.query(SQL.applyOrderChanges);
    }
    if (e.instruments !== undefined) await tx.query(SQL.instruments, [e.instruments]);
    if (e.strategies !== undefined) await tx.query(SQL.strategies, [e.strategies]);
    if (e.positionsCurrent !== undefined) await tx.query(SQL.positionsCurrent, [e.positionsCurrent]);
    if (e.performance !== undefined) await tx.query(SQL.performance, [e.performance]);
    if (e.archiveMark !== null) await tx.query(SQL.archiveMark, [e.archiveMark.archived_seq, e.archiveMark.source_seq, e.archiveMark.reported_at]);
    if (e.prunesJournaled !== undefined) await tx.query(SQL.prunesJournaled, [e.prunesJournaled]);
    const r = await tx.query(SQL.advance, [expectedLastSeq, e.toSeq]);
    if (r.rowCount !== 1) throw new ProjectorConflictError(expectedLastSeq);
  }
}

export interface EncodedBatch {
  fromSeq: number;
  toSeq: number;
  minTs: string | null;
  maxTs: string | null;
  copies: { table: string; columns: readonly string[]; data: Buffer; format: CopyFormat; rows: number }[];
  instruments: string | undefined;
  strategies: string | undefined;
  positionsCurrent: string | undefined;
  performance: string | undefined;
  archiveMark: ArchiveMarkRow | null;
  /** JSON of the batch's PruneJournaledRow list; undefined when it has none. */
  prunesJournaled: string | undefined;
  rows: number;
}
