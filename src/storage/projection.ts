/**
 * The projection: how journal records become rows. Pure and synchronous (no SQL, no I/O), so the
 * mapping is tested without a database and the writer only ships what this builds.
 *
 * Every record becomes an audit_log row. On top of that: order.* events feed orders (current state,
 * last write in the batch wins) and order_events; fill and position events feed fills, positions
 * and positions_current; md.quote / md.trade inputs feed market_data and the marks used to value
 * open positions; system.start and risk.limitsChanged feed config_versions, instruments and
 * strategies; fills, positions and marks together give the hourly and daily P&L per strategy
 * and per account in `performance`; the WORM archiver's `audit.archived` notes give the
 * archive's confirmed high-water mark in audit_archive_state (which audit_log pruning relies on);
 * and `database.auditPruned` notes mark the audit_log prunes they journal in
 * audit_log_prunes_journaled.
 *
 * Money is exact: values are parsed to fixed-point bigint (src/core/fixed.ts) and formatted back to
 * decimal strings, which the database stores as NUMERIC(38,8).
 */
import { divRound, formatDecimal, mul, parseDecimal, tryParseDecimal } from '../core/fixed.js';
import { parsePayloadText, type JournalEntry, type JournalTailTextEntry } from '../engine/journal.js';
import { isOpen } from '../oms/order-state.js';
import { BinaryCopyBuffer, CopySizeHint } from './copy-binary.js';
import { FILLS, MARKET_DATA, ORDER_EVENTS, POSITIONS, TextCopyRows } from './copy-text.js';
import type { FillWire, OrderChangeWire, OrderMassCancelWire, OrderWire } from '../oms/order.js';
import type { OrderStatus } from '../core/types.js';
import type { PositionWire } from '../portfolio/portfolio.js';

export const ZERO_HASH_HEX = '0'.repeat(64);

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

const NS_PER_HOUR = 3_600_000_000_000n;
const NS_PER_DAY = 86_400_000_000_000n;

/** Epoch nanoseconds as an ISO-8601 UTC timestamp with microseconds (timestamptz's precision). */
export function nsToIso(ns: bigint): string {
  const us = ns >= 0n ? ns / 1000n : -((-ns + 999n) / 1000n);
  const ms = us >= 0n ? us / 1000n : -((-us + 999n) / 1000n);
  const micros = Number(us - ms * 1000n);
  return new Date(Number(ms)).toISOString().slice(0, 23) + String(micros).padStart(3, '0') + 'Z';
}

/** Above this, epoch microseconds are no longer exact as a double (IsoFormatter). */
const MAX_FAST_ISO_NS = BigInt(Number.MAX_SAFE_INTEGER) * 1000n;

/**
 * nsToIso for a stream of times: the records an input gives rise to share its time, and records
 * in a batch share their millisecond more often than not, so the last result and the formatted
 * millisecond are kept. Otherwise one bigint division (to microseconds, exact as a double up to
 * the year 2255; other times take nsToIso's all-bigint path). In a catch-up of the synthetic flow
 * that is 1.5 calls a journal record, half of them the previous time again (docs/database.md).
 */
export class IsoFormatter {
  private ms = NaN;
  private prefix = '';
  private lastNs: bigint | undefined;
  private last = '';

  format(ns: bigint): string {
    // the events an input gives rise to carry its time: the same ns many times in a row
    if (ns === this.lastNs) return this.last;
    if (ns < 0n || ns > MAX_FAST_ISO_NS) return nsToIso(ns);
    this.lastNs = ns;
    const us = Number(ns / 1000n);
    const micros = us % 1000;
    const ms = (us - micros) / 1000;
    if (ms !== this.ms) {
      this.ms = ms;
      this.prefix = new Date(ms).toISOString().slice(0, 23);
    }
    return (this.last = this.prefix + (micros < 10 ? '00' : micros < 100 ? '0' : '') + micros + 'Z');
  }
}

export type Period = 'hour' | 'day';
export const PERIODS: readonly Period[] = ['hour', 'day'];

export function bucketStart(ns: bigint, period: Period): bigint {
  const size = period === 'hour' ? NS_PER_HOUR : NS_PER_DAY;
  const r = ns % size;
  return r >= 0n ? ns - r : ns - r - size;
}

// ---------------------------------------------------------------------------------------------
// Rows (column names as in src/storage/migrations.ts; decimals and int8 as strings)
// ---------------------------------------------------------------------------------------------

export const AUDIT_COLUMNS = ['seq', 'ts_ns', 'ts', 'kind', 'type', 'actor_id', 'payload', 'prev_hash', 'hash'] as const;

/**
 * A batch's audit_log rows, written into COPY's binary format (copy-binary.ts) as each record is
 * added: time as epoch ns (and as timestamptz), hashes as bytes, the payload as the JSON text the
 * journal holds. Nothing of a record outlives add() but its bytes. (A batch used to keep one row
 * object and one payload string per record until its COPY was encoded; the worker's scavenges
 * copied and promoted them, about 8 % of the projector's CPU per record: docs/database.md.)
 */
export class AuditCopy {
  private static readonly sizeHint = new CopySizeHint(1 << 16);
  private readonly out = new BinaryCopyBuffer(AuditCopy.sizeHint.value);
  private rows = 0;
  private last: Buffer | undefined;
  private done: Buffer | undefined;

  get length(): number {
    return this.rows;
  }

  /** The hash of the last record added. */
  get lastHash(): Buffer | undefined {
    return this.last;
  }

  add(seq: number, tsNs: bigint, kind: 'input' | 'event', type: string, actorId: string | null, payload: string, prevHash: Buffer, hash: Buffer): void {
    if (this.done !== undefined) throw new Error('audit rows added after the batch was encoded');
    const o = this.out;
    o.row(AUDIT_COLUMNS.length);
    o.int8(seq);
    o.bigint8(tsNs);
    o.timestamptzFromNs(tsNs);
    o.text(kind);
    o.text(type);
    o.text(actorId);
    o.text(payload);
    o.bytea(prevHash);
    o.bytea(hash);
    this.rows++;
    this.last = hash;
  }

  /** The COPY data, trailer included (the same Buffer on every call; no row may be added after). */
  finish(): Buffer {
    if (this.done === undefined) {
      this.done = this.out.finish();
      AuditCopy.sizeHint.observe(this.done.length);
    }
    return this.done;
  }
}

/**
 * A value as JSON text for a json/jsonb column. jsonb refuses the NUL character (\u0000) and json
 * cannot give it back as text (->> fails), so it is stored as U+FFFD in the mirror: a batch that
 * can never commit would stall the projector for good. The journal, and the hash in the same
 * audit_log row, keep the original.
 */
export function jsonText(v: unknown): string {
  return mirrorJsonText(JSON.stringify(v));
}

/** JSON text as stored in the mirror: the NUL rule of jsonText applied to text already JSON. */
export function mirrorJsonText(text: string): string {
  return text.includes('\\u0000') ? text.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd') : text;
}

export interface OrderRow {
  id: string;
  cl_ord_id: string;
  client_order_id: string;
  account: string;
  strategy_id: string | null;
  trader_id: string | null;
  symbol: string;
  venue: string;
  side: string;
  order_type: string;
  time_in_force: string;
  quantity: string;
  price: string | null;
  status: string;
  is_open: boolean;
  filled_quantity: string;
  leaves_quantity: string;
  average_price: string | null;
  fees: string;
  venue_order_id: string | null;
  reject_reason: string | null;
  reject_detail: Record<string, string> | null;
  replaces_id: string | null;
  replaced_by_id: string | null;
  uncertain: boolean;
  created_ts_ns: string;
  created_at: string;
  updated_ts_ns: string;
  updated_at: string;
  first_seq: number;
  last_seq: number;
}

/** An order.updated event's change to an order whose row is not in the same batch: an UPDATE. */
export type OrderChangeRow = Pick<
  OrderRow,
  | 'id'
  | 'status'
  | 'is_open'
  | 'leaves_quantity'
  | 'average_price'
  | 'venue_order_id'
  | 'reject_reason'
  | 'reject_detail'
  | 'replaced_by_id'
  | 'updated_ts_ns'
  | 'updated_at'
  | 'last_seq'
> & {
  /**
   * null: left as it was. An order.updated always carries these; an order.massCanceled (a cancel
   * changes no fill) does not, nor average_price, which a change may otherwise only set to null
   * while nothing is filled, that is while it is null anyway.
   */
  filled_quantity: string | null;
  fees: string | null;
  uncertain: boolean | null;
};

export interface OrderEventRow {
  seq: number;
  ts_ns: string;
  ts: string;
  order_id: string;
  type: string;
  status: string | null;
  from_status: string | null;
  /** why: the update's cause, the rejection's or refusal's reason, the replacing order */
  cause: string | null;
  filled_quantity: string | null;
  leaves_quantity: string | null;
  actor_id: string | null;
}

export interface FillRow {
  ts: string;
  id: string;
  seq: number;
  ts_ns: string;
  order_id: string;
  exec_id: string;
  account: string;
  strategy_id: string | null;
  symbol: string;
  venue: string;
  side: string;
  quantity: string;
  price: string;
  notional: string;
  fee: string;
  liquidity: string | null;
  venue_ts_ns: string;
}

export interface PositionRow {
  key: string;
  ts: string;
  seq: number;
  ts_ns: string;
  account: string;
  strategy_id: string | null;
  symbol: string;
  quantity: string;
  average_price: string | null;
  cost_basis: string;
  realized_pnl: string;
  unrealized_pnl: string | null;
  mark_price: string | null;
  fees: string;
  bought_quantity: string;
  sold_quantity: string;
}

export interface MarketDataRow {
  ts: string;
  seq: number;
  ts_ns: string;
  kind: 'quote' | 'trade';
  venue: string;
  symbol: string;
  feed_seq: number | null;
  bid: string | null;
  bid_size: string | null;
  ask: string | null;
  ask_size: string | null;
  price: string | null;
  quantity: string | null;
  aggressor: string | null;
  trade_id: string | null;
  venue_ts_ns: string;
}

export interface ConfigVersionRow {
  seq: number;
  ts_ns: string;
  ts: string;
  kind: 'system.start' | 'risk.limitsChanged';
  actor_id: string | null;
  reason: string | null;
  config: unknown;
  previous: unknown;
}

export interface InstrumentRow {
  venue: string;
  symbol: string;
  tick_size: string;
  lot_size: string;
  min_qty: string | null;
  max_qty: string | null;
  currency: string;
  calendar: string | null;
  updated_seq: number;
}

export interface StrategyRow {
  id: string;
  class: string | null;
  account: string | null;
  trader_id: string | null;
  params: unknown;
  state: string | null;
  updated_seq: number;
  updated_at: string;
}

export interface PerformanceRow {
  bucket: string;
  period: Period;
  scope: ScopeKind;
  scope_id: string;
  realized_pnl: string;
  unrealized_pnl: string;
  fees: string;
  net_pnl: string;
  open_net_pnl: string;
  fills: number;
  traded_quantity: string;
  traded_notional: string;
  last_seq: number;
}

/**
 * The WORM archive's confirmed high-water mark, as an `audit.archived` note reported it
 * (detail.archivedThroughSeq): the highest in the batch, for audit_archive_state.
 */
export interface ArchiveMarkRow {
  archived_seq: number;
  /** The record that reported it. */
  source_seq: number;
  reported_at: string;
}

/** An audit_log_prunes row that a `database.auditPruned` note (record `seq`) journaled. */
export interface PruneJournaledRow {
  prune_id: number;
  /** The partition the note says the prune dropped: the row is matched on id and partition. */
  partition: string;
  seq: number;
}

export interface ProjectionBatch {
  fromSeq: number;
  toSeq: number;
  /** Hash of the batch's last record: the next batch's first prev_hash. */
  lastHashHex: string;
  /**
   * Earliest and latest timestamps of the batch's rows (every record's, for audit_log's monthly
   * partitions, and the P&L buckets), for partitions (ISO), or null when the batch is empty.
   */
  minTs: string | null;
  maxTs: string | null;
  audit: AuditCopy;
  orders: Map<string, OrderRow>;
  /** Changes to orders created in an earlier batch (already merged when the row is in this one). */
  orderChanges: Map<string, OrderChangeRow>;
  /** The append-only tables' rows, in COPY text format as they are added (copy-text.ts). */
  orderEvents: TextCopyRows<OrderEventRow>;
  fills: TextCopyRows<FillRow>;
  positions: TextCopyRows<PositionRow>;
  positionsCurrent: Map<string, PositionRow>;
  marketData: TextCopyRows<MarketDataRow>;
  configVersions: ConfigVersionRow[];
  instruments: Map<string, InstrumentRow>;
  strategies: Map<string, StrategyRow>;
  performance: Map<string, PerformanceRow>;
  /** The highest archive mark an `audit.archived` note of the batch reported, if any. */
  archiveMark: ArchiveMarkRow | null;
  /** The prunes `database.auditPruned` notes of the batch journaled, each id once (its first note). */
  prunesJournaled: PruneJournaledRow[];
  /** Records whose payload did not have the expected shape: in audit_log only. */
  malformed: { seq: number; type: string; error: string }[];
}

export function batchRowCount(b: ProjectionBatch): number {
  return (
    b.audit.length +
    b.orders.size +
    b.orderChanges.size +
    b.orderEvents.length +
    b.fills.length +
    b.positions.length +
    b.positionsCurrent.size +
    b.marketData.length +
    b.configVersions.length +
    b.instruments.size +
    b.strategies.size +
    b.performance.size +
    (b.archiveMark !== null ? 1 : 0) +
    b.prunesJournaled.length
  );
}

// ---------------------------------------------------------------------------------------------
// P&L state: positions and marks, carried from batch to batch (and reloaded from the database)
// ---------------------------------------------------------------------------------------------

export type ScopeKind = 'strategy' | 'account';

interface PositionState {
  key: string;
  account: string;
  strategyId: string | null;
  symbol: string;
  quantity: bigint;
  costBasis: bigint;
  realized: bigint;
  fees: bigint;
  /** as last reported, for when there is no mark to value it with */
  reportedUnrealized: bigint;
}

interface BucketAcc {
  bucketNs: bigint;
  open: bigint;
  fills: number;
  qty: bigint;
  notional: bigint;
  lastSeq: number;
}

interface ScopeState {
  kind: ScopeKind;
  id: string;
  positions: Set<string>;
  pending: Partial<Record<Period, BucketAcc>>;
}

/** What a restarted projector needs to go on computing P&L: the latest snapshot per position. */
export interface PositionSeed {
  key: string;
  account: string;
  strategy_id: string | null;
  symbol: string;
  quantity: string;
  cost_basis: string;
  realized_pnl: string;
  unrealized_pnl: string | null;
  mark_price: string | null;
  fees: string;
}

/** Strategy scope id for orders and positions without a strategy (manual orders). */
export const MANUAL_SCOPE_ID = '';

export class ProjectionState {
  private readonly positions = new Map<string, PositionState>();
  private readonly marks = new Map<string, bigint>();
  private readonly scopes = new Map<string, ScopeState>();
  private readonly bySymbol = new Map<string, Set<string>>();

  static fromSeeds(seeds: readonly PositionSeed[]): ProjectionState {
    const s = new ProjectionState();
    for (const p of seeds) {
      const ps = s.position(p.key, p.account, p.strategy_id, p.symbol);
      ps.quantity = parseDecimal(p.quantity);
      ps.costBasis = parseDecimal(p.cost_basis);
      ps.realized = parseDecimal(p.realized_pnl);
      ps.fees = parseDecimal(p.fees);
      ps.reportedUnrealized = tryParseDecimal(p.unrealized_pnl) ?? 0n;
      const mark = tryParseDecimal(p.mark_price);
      if (mark !== undefined && !s.marks.has(p.symbol)) s.marks.set(p.symbol, mark);
    }
    return s;
  }

  private scope(kind: ScopeKind, id: string): ScopeState {
    const k = kind + '|' + id;
    let sc = this.scopes.get(k);
    if (sc === undefined) {
      sc = { kind, id, positions: new Set(), pending: {} };
      this.scopes.set(k, sc);
    }
    return sc;
  }

  private position(key: string, account: string, strategyId: string | null, symbol: string): PositionState {
    let p = this.positions.get(key);
    if (p === undefined) {
      p = { key, account, strategyId, symbol, quantity: 0n, costBasis: 0n, realized: 0n, fees: 0n, reportedUnrealized: 0n };
      this.positions.set(key, p);
      this.scope('strategy', strategyId ?? MANUAL_SCOPE_ID).positions.add(key);
      this.scope('account', account).positions.add(key);
      let set = this.bySymbol.get(symbol);
      if (set === undefined) this.bySymbol.set(symbol, (set = new Set()));
      set.add(key);
    }
    return p;
  }

  private unrealized(p: PositionState): bigint {
    if (p.quantity === 0n) return 0n;
    const mark = this.marks.get(p.symbol);
    return mark === undefined ? p.reportedUnrealized : mul(p.quantity, mark) - p.costBasis;
  }

  private totals(sc: ScopeState): { realized: bigint; unrealized: bigint; fees: bigint; net: bigint } {
    let realized = 0n;
    let unrealized = 0n;
    let fees = 0n;
    for (const k of sc.positions) {
      const p = this.positions.get(k)!;
      realized += p.realized;
      unrealized += this.unrealized(p);
      fees += p.fees;
    }
    return { realized, unrealized, fees, net: realized + unrealized - fees };
  }

  private emit(out: ProjectionBatch, sc: ScopeState, period: Period, acc: BucketAcc): void {
    const t = this.totals(sc);
    const bucket = nsToIso(acc.bucketNs);
    const key = `${period}|${sc.kind}|${sc.id}|${bucket}`;
    const prev = out.performance.get(key);
    out.performance.set(key, {
      bucket,
      period,
      scope: sc.kind,
      scope_id: sc.id,
      realized_pnl: formatDecimal(t.realized),
      unrealized_pnl: formatDecimal(t.unrealized),
      fees: formatDecimal(t.fees),
      net_pnl: formatDecimal(t.net),
      // a bucket seen twice in one batch (the clock stepped back) keeps its first opening value
      open_net_pnl: prev?.open_net_pnl ?? formatDecimal(acc.open),
      fills: (prev?.fills ?? 0) + acc.fills,
      traded_quantity: formatDecimal((prev ? parseDecimal(prev.traded_quantity) : 0n) + acc.qty),
      traded_notional: formatDecimal((prev ? parseDecimal(prev.traded_notional) : 0n) + acc.notional),
      last_seq: acc.lastSeq,
    });
  }

  /**
   * Call before a record changes the scope: closes the scope's buckets the record's time has left
   * (their row carries the values at their end) and opens the record's buckets at the current net.
   */
  private touch(out: ProjectionBatch, sc: ScopeState, tsNs: bigint, seq: number): BucketAcc[] {
    const accs: BucketAcc[] = [];
    for (const period of PERIODS) {
      const b = bucketStart(tsNs, period);
      let acc = sc.pending[period];
      if (acc !== undefined && acc.bucketNs !== b) {
        this.emit(out, sc, period, acc);
        acc = undefined;
      }
      if (acc === undefined) {
        acc = { bucketNs: b, open: this.totals(sc).net, fills: 0, qty: 0n, notional: 0n, lastSeq: seq };
        sc.pending[period] = acc;
      }
      acc.lastSeq = seq;
      accs.push(acc);
    }
    return accs;
  }

  onFill(out: ProjectionBatch, f: FillWire, tsNs: bigint, seq: number): void {
    const qty = parseDecimal(f.quantity, 'fill.quantity');
    const notional = mul(parseDecimal(f.price, 'fill.price'), qty);
    for (const sc of [this.scope('strategy', f.strategyId ?? MANUAL_SCOPE_ID), this.scope('account', f.account)]) {
      for (const acc of this.touch(out, sc, tsNs, seq)) {
        acc.fills++;
        acc.qty += qty;
        acc.notional += notional;
      }
    }
  }

  onPosition(out: ProjectionBatch, w: PositionWire, key: string, tsNs: bigint, seq: number): void {
    const quantity = parseDecimal(w.quantity, 'position.quantity');
    const costBasis = parseDecimal(w.costBasis, 'position.costBasis');
    const realized = parseDecimal(w.realizedPnl, 'position.realizedPnl');
    const fees = parseDecimal(w.fees, 'position.fees');
    const reported = tryParseDecimal(w.unrealizedPnl) ?? 0n;
    const mark = tryParseDecimal(w.markPrice);
    const sStrategy = this.scope('strategy', w.strategyId ?? MANUAL_SCOPE_ID);
    const sAccount = this.scope('account', w.account);
    this.touch(out, sStrategy, tsNs, seq);
    this.touch(out, sAccount, tsNs, seq);
    const p = this.position(key, w.account, w.strategyId, w.symbol);
    p.quantity = quantity;
    p.costBasis = costBasis;
    p.realized = realized;
    p.fees = fees;
    p.reportedUnrealized = reported;
    if (mark !== undefined && !this.marks.has(w.symbol)) this.marks.set(w.symbol, mark);
  }

  /** A new mark revalues every open position in the symbol, and so the P&L of their scopes. */
  onMark(out: ProjectionBatch, symbol: string, mark: bigint, tsNs: bigint, seq: number): void {
    if (this.marks.get(symbol) === mark) return;
    const keys = this.bySymbol.get(symbol);
    if (keys !== undefined) {
      const touched = new Set<ScopeState>();
      for (const k of keys) {
        const p = this.positions.get(k)!;
        if (p.quantity === 0n) continue;
        touched.add(this.scope('strategy', p.strategyId ?? MANUAL_SCOPE_ID));
        touched.add(this.scope('account', p.account));
      }
      for (const sc of touched) this.touch(out, sc, tsNs, seq);
    }
    this.marks.set(symbol, mark);
  }

  hasMark(symbol: string): boolean {
    return this.marks.has(symbol);
  }

  /** End of batch: every bucket a scope is in gets its row with the values as of now. */
  flush(out: ProjectionBatch): void {
    for (const sc of this.scopes.values()) {
      for (const period of PERIODS) {
        const acc = sc.pending[period];
        if (acc !== undefined) {
          this.emit(out, sc, period, acc);
          sc.pending[period] = undefined;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Records to rows
// ---------------------------------------------------------------------------------------------

type Payload = Record<string, unknown> & { type: string };

/**
 * The inputs project() turns into rows besides their audit_log row; every other input (commands,
 * execution reports, timers, ...) is copied into audit_log and nothing else.
 */
export const PROJECTED_INPUT_TYPES: ReadonlySet<string> = new Set(['md.quote', 'md.trade', 'system.start', 'system.note']);

const TYPE_PREFIX = '{"type":"';
const ACTOR_ID_NEXT = '","actor":{"id":"';

/**
 * For an input projected into audit_log only: its type and actor id (actorIdOf) read from the
 * JSON text without parsing it; undefined when the input is projected (PROJECTED_INPUT_TYPES) or
 * the text is not in the shape this reads exactly, and must be parsed.
 *
 * Exact on what it accepts, because the journal's payload text is JSON.stringify's: no
 * whitespace, no duplicate keys, and a '"' inside a string always escaped. So a text starting
 * {"type":"T" with no backslash in T has type T; a text without the characters "actor": anywhere
 * has no key named actor at any depth (actor id null); and one continuing ","actor":{"id":"A"
 * with no backslash in A has actor id A (the only top-level actor key, whose only id key that
 * is). Anything else (escapes, another key order) goes to JSON.parse.
 */
export function auditOnlyInput(text: string): { type: string; actorId: string | null } | undefined {
  if (!text.startsWith(TYPE_PREFIX)) return undefined;
  const typeEnd = text.indexOf('"', TYPE_PREFIX.length);
  if (typeEnd < 0) return undefined;
  const type = text.slice(TYPE_PREFIX.length, typeEnd);
  if (type.includes('\\') || PROJECTED_INPUT_TYPES.has(type)) return undefined;
  if (!text.includes('"actor":')) return { type, actorId: null };
  if (!text.startsWith(ACTOR_ID_NEXT, typeEnd)) return undefined;
  const idStart = typeEnd + ACTOR_ID_NEXT.length;
  const idEnd = text.indexOf('"', idStart);
  if (idEnd < 0) return undefined;
  const actorId = text.slice(idStart, idEnd);
  if (actorId.includes('\\')) return undefined;
  return { type, actorId };
}

function actorIdOf(p: Payload): string | null {
  const a = p.actor;
  if (typeof a === 'object' && a !== null && typeof (a as { id?: unknown }).id === 'string') return (a as { id: string }).id;
  return null;
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new TypeError(`${field} must be a string`);
  return v;
}

function optStr(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** What parseDecimal accepts, and NUMERIC(38,8) holds: up to 30 integer and 8 fractional digits. */
const DECIMAL_RE = /^-?\d{1,30}(\.\d{1,8})?$/;

/** A decimal string we can store exactly, or a TypeError naming the field. */
function dec(v: unknown, field: string): string {
  if (typeof v !== 'string' || !DECIMAL_RE.test(v)) throw new TypeError(`${field} must be a decimal string`);
  return v;
}

function optDec(v: unknown, field: string): string | null {
  return v === null || v === undefined ? null : dec(v, field);
}

function nsString(v: unknown, field: string): string {
  if (typeof v === 'string' && /^-?\d{1,19}$/.test(v)) return v;
  throw new TypeError(`${field} must be epoch nanoseconds as a decimal string`);
}

function orderRow(o: OrderWire, seq: number, iso: (ns: bigint) => string): OrderRow {
  const createdNs = nsString(o.createdTs, 'order.createdTs');
  const updatedNs = nsString(o.updatedTs, 'order.updatedTs');
  return {
    id: str(o.id, 'order.id'),
    cl_ord_id: str(o.clOrdId, 'order.clOrdId'),
    client_order_id: str(o.clientOrderId, 'order.clientOrderId'),
    account: str(o.account, 'order.account'),
    strategy_id: optStr(o.strategyId),
    trader_id: optStr(o.traderId),
    symbol: str(o.symbol, 'order.symbol'),
    venue: str(o.venue, 'order.venue'),
    side: str(o.side, 'order.side'),
    order_type: str(o.type, 'order.type'),
    time_in_force: str(o.timeInForce, 'order.timeInForce'),
    quantity: dec(o.quantity, 'order.quantity'),
    price: optDec(o.price, 'order.price'),
    ...stateColumns(o),
    replaces_id: optStr(o.replacesId),
    created_ts_ns: createdNs,
    created_at: iso(BigInt(createdNs)),
    updated_ts_ns: updatedNs,
    updated_at: iso(BigInt(updatedNs)),
    first_seq: seq,
    last_seq: seq,
  };
}

/** The columns every state change may alter, from either wire form, each checked. */
function stateColumns(o: OrderWire | OrderChangeWire): Omit<OrderChangeRow, 'id' | 'updated_ts_ns' | 'updated_at' | 'last_seq'> & { filled_quantity: string; fees: string; uncertain: boolean } {
  return {
    status: str(o.status, 'order.status'),
    is_open: isOpen(o.status as OrderStatus),
    filled_quantity: dec(o.filledQuantity, 'order.filledQuantity'),
    leaves_quantity: dec(o.leavesQuantity, 'order.leavesQuantity'),
    average_price: optDec(o.averagePrice, 'order.averagePrice'),
    fees: dec(o.fees, 'order.fees'),
    venue_order_id: optStr(o.venueOrderId),
    reject_reason: optStr(o.rejectReason),
    reject_detail: o.rejectDetail ?? null,
    replaced_by_id: optStr(o.replacedById),
    uncertain: o.uncertain === true,
  };
}

function orderChangeRow(o: OrderChangeWire, seq: number, iso: (ns: bigint) => string): OrderChangeRow {
  const updatedNs = nsString(o.updatedTs, 'order.updatedTs');
  return {
    id: str(o.id, 'order.id'),
    ...stateColumns(o),
    updated_ts_ns: updatedNs,
    updated_at: iso(BigInt(updatedNs)),
    last_seq: seq,
  };
}

/** Applies a later change onto a row: what the change leaves unset (null) keeps its earlier value. */
function mergeOrderChange(into: OrderRow | OrderChangeRow, c: OrderChangeRow): void {
  into.status = c.status;
  into.is_open = c.is_open;
  if (c.filled_quantity !== null) into.filled_quantity = c.filled_quantity;
  into.leaves_quantity = c.leaves_quantity;
  into.average_price = c.average_price ?? into.average_price;
  if (c.fees !== null) into.fees = c.fees;
  into.venue_order_id = c.venue_order_id ?? into.venue_order_id;
  into.reject_reason = c.reject_reason ?? into.reject_reason;
  into.reject_detail = c.reject_detail ?? into.reject_detail;
  into.replaced_by_id = c.replaced_by_id ?? into.replaced_by_id;
  if (c.uncertain !== null) into.uncertain = c.uncertain;
  into.updated_ts_ns = c.updated_ts_ns;
  into.updated_at = c.updated_at;
  into.last_seq = c.last_seq;
}

/** A change onto the order's row or earlier change in the batch, else staged as an UPDATE of its own. */
function applyOrderChange(b: ProjectionBatch, c: OrderChangeRow): void {
  const row = b.orders.get(c.id) ?? b.orderChanges.get(c.id);
  if (row !== undefined) mergeOrderChange(row, c);
  else b.orderChanges.set(c.id, c);
}

function positionKeyOf(w: PositionWire): string {
  return w.account + '|' + (w.strategyId ?? '') + '|' + w.symbol;
}

function midOf(bid: string | null, ask: string | null): bigint | undefined {
  if (bid === null || ask === null) return undefined;
  return divRound(parseDecimal(bid) + parseDecimal(ask), 2n);
}

export function emptyBatch(fromSeq: number): ProjectionBatch {
  return {
    fromSeq,
    toSeq: fromSeq - 1,
    lastHashHex: ZERO_HASH_HEX,
    minTs: null,
    maxTs: null,
    audit: new AuditCopy(),
    orders: new Map(),
    orderChanges: new Map(),
    orderEvents: new TextCopyRows(ORDER_EVENTS),
    fills: new TextCopyRows(FILLS),
    positions: new TextCopyRows(POSITIONS),
    positionsCurrent: new Map(),
    marketData: new TextCopyRows(MARKET_DATA),
    configVersions: [],
    instruments: new Map(),
    strategies: new Map(),
    performance: new Map(),
    archiveMark: null,
    prunesJournaled: [],
    malformed: [],
  };
}

/**
 * Builds the rows for consecutive journal records. `prevHashHex` is the hash of the record before
 * the first one (zeros before seq 1). Mutates `state` (positions and marks): if the batch is then
 * not committed, the caller must rebuild the state from the database.
 */
export class BatchBuilder {
  readonly batch: ProjectionBatch;
  private prevHash: Buffer;
  private minNs: bigint | undefined;
  private maxNs: bigint | undefined;

  constructor(
    private readonly state: ProjectionState,
    fromSeq: number,
    prevHashHex: string,
  ) {
    this.batch = emptyBatch(fromSeq);
    this.prevHash = Buffer.from(prevHashHex, 'hex');
  }

  get size(): number {
    return this.batch.audit.length;
  }

  private readonly isoClock = new IsoFormatter();
  /** isoClock.format as a function value (orderRow and orderChangeRow take it). */
  private readonly iso = (ns: bigint): string => this.isoClock.format(ns);

  /**
   * `payloadText` (JournalTail's entries carry it) is the payload's JSON text as journaled: stored
   * as it is, instead of serializing the parsed payload again.
   */
  add(e: JournalEntry & { payloadText?: string }): void {
    const p = e.payload as Payload;
    const tsNs = e.ts;
    this.addAudit(e.seq, tsNs, e.kind, p.type, actorIdOf(p), e.payloadText ?? JSON.stringify(p), e.hash);
    try {
      this.project(e, p, tsNs, this.iso(tsNs), tsNs.toString());
    } catch (err) {
      this.batch.malformed.push({ seq: e.seq, type: p.type, error: (err as Error).message });
    }
  }

  /**
   * A record whose payload is still text (JournalTail.readText). An input the projection only
   * copies into audit_log (commands, execution reports, timers: auditOnlyInput) is not parsed at
   * all; every other record is parsed as JournalTail.read parses it, and added as by add().
   */
  addText(e: JournalTailTextEntry): void {
    if (e.kind === 'input') {
      const a = auditOnlyInput(e.payloadText);
      if (a !== undefined) {
        this.addAudit(e.seq, e.ts, e.kind, a.type, a.actorId, e.payloadText, e.hash);
        return;
      }
    }
    const payload = parsePayloadText(e.payloadText);
    if (payload === undefined) throw new Error(`journal record ${e.seq}: payload is not a JSON object with a string "type"`);
    this.add({ seq: e.seq, ts: e.ts, kind: e.kind, payload, hash: e.hash, payloadText: e.payloadText });
  }

  /** The record's audit_log row (every record has one, in the monthly partition of its time). */
  private addAudit(seq: number, tsNs: bigint, kind: 'input' | 'event', type: string, actorId: string | null, payloadText: string, hash: Buffer): void {
    const b = this.batch;
    const expected = b.toSeq + 1;
    if (seq !== expected) throw new Error(`projection expected seq ${expected}, got ${seq}`);
    b.audit.add(seq, tsNs, kind, type, actorId, mirrorJsonText(payloadText), this.prevHash, hash);
    this.prevHash = hash;
    b.toSeq = seq;
    this.seeTs(tsNs);
  }

  finish(): ProjectionBatch {
    const last = this.batch.audit.lastHash;
    if (last !== undefined) this.batch.lastHashHex = last.toString('hex');
    this.state.flush(this.batch);
    for (const r of this.batch.performance.values()) this.seeTs(BigInt(Date.parse(r.bucket)) * 1_000_000n);
    this.batch.minTs = this.minNs === undefined ? null : nsToIso(this.minNs);
    this.batch.maxTs = this.maxNs === undefined ? null : nsToIso(this.maxNs);
    return this.batch;
  }

  private seeTs(ns: bigint): void {
    if (this.minNs === undefined || ns < this.minNs) this.minNs = ns;
    if (this.maxNs === undefined || ns > this.maxNs) this.maxNs = ns;
  }

  private project(e: JournalEntry, p: Payload, tsNs: bigint, ts: string, tsNsStr: string): void {
    const b = this.batch;
    const seq = e.seq;
    const type = p.type;
    // the one list of the inputs projected here, which addText relies on to skip the rest unparsed
    if (e.kind === 'input' && !PROJECTED_INPUT_TYPES.has(type)) return;
    if (e.kind === 'event' && type === 'order.massCanceled') {
      // one venue mass cancel report: a change and an order_events row per order it ended
      if (!Array.isArray(p.orders)) throw new TypeError('order.massCanceled without orders');
      const cause = optStr(p.cause);
      const updatedNs = nsString(p.updatedTs, 'updatedTs');
      const updatedAt = this.iso(BigInt(updatedNs));
      for (const o of p.orders as OrderMassCancelWire[]) {
        const c: OrderChangeRow = {
          id: str(o.id, 'orders[].id'),
          status: 'Canceled',
          is_open: false,
          filled_quantity: null,
          leaves_quantity: '0',
          average_price: null,
          fees: null,
          venue_order_id: optStr(o.venueOrderId),
          reject_reason: null,
          reject_detail: null,
          replaced_by_id: null,
          uncertain: null,
          updated_ts_ns: updatedNs,
          updated_at: updatedAt,
          last_seq: seq,
        };
        applyOrderChange(b, c);
        b.orderEvents.push({
          seq,
          ts_ns: tsNsStr,
          ts,
          order_id: c.id,
          type,
          status: c.status,
          from_status: optStr(o.from),
          cause,
          // the cancel changed no fill: left null, whatever batch the order's earlier rows fell in
          filled_quantity: null,
          leaves_quantity: '0',
          actor_id: null,
        });
      }
      return;
    }
    if (e.kind === 'event' && type.startsWith('order.')) {
      const order = p.order as OrderWire | OrderChangeWire | undefined;
      const orderId = order !== undefined ? order.id : p.orderId;
      if (typeof orderId !== 'string') throw new TypeError('order event without order.id or orderId');
      if (order !== undefined && type === 'order.updated' && !('createdTs' in order)) {
        // the change alone (journals written before it carry the whole order, handled below)
        const c = orderChangeRow(order, seq, this.iso);
        applyOrderChange(b, c);
      } else if (order !== undefined) {
        const row = orderRow(order as OrderWire, seq, this.iso);
        const prev = b.orders.get(row.id);
        if (prev !== undefined) row.first_seq = prev.first_seq;
        b.orders.set(row.id, row);
        b.orderChanges.delete(row.id);
      }
      const cause = optStr(p.cause) ?? optStr(p.reason) ?? (typeof p.newOrderId === 'string' ? `replaced by ${p.newOrderId}` : null);
      b.orderEvents.push({
        seq,
        ts_ns: tsNsStr,
        ts,
        order_id: orderId,
        type,
        status: order !== undefined ? order.status : optStr(p.to),
        from_status: optStr(p.from),
        cause,
        filled_quantity: order !== undefined ? optDec(order.filledQuantity, 'order.filledQuantity') : null,
        leaves_quantity: order !== undefined ? optDec(order.leavesQuantity, 'order.leavesQuantity') : null,
        actor_id: actorIdOf(p),
      });
      return;
    }
    switch (type) {
      case 'fill': {
        if (e.kind !== 'event') return;
        const f = p.fill as FillWire;
        const qty = parseDecimal(dec(f.quantity, 'fill.quantity'));
        const price = parseDecimal(dec(f.price, 'fill.price'));
        b.fills.push({
          ts,
          id: str(f.id, 'fill.id'),
          seq,
          ts_ns: tsNsStr,
          order_id: str(f.orderId, 'fill.orderId'),
          exec_id: str(f.execId, 'fill.execId'),
          account: str(f.account, 'fill.account'),
          strategy_id: optStr(f.strategyId),
          symbol: str(f.symbol, 'fill.symbol'),
          venue: str(f.venue, 'fill.venue'),
          side: str(f.side, 'fill.side'),
          quantity: f.quantity,
          price: f.price,
          notional: formatDecimal(mul(price, qty)),
          fee: dec(f.fee, 'fill.fee'),
          liquidity: optStr(f.liquidity),
          venue_ts_ns: nsString(f.ts, 'fill.ts'),
        });
        this.state.onFill(b, f, tsNs, seq);
        return;
      }
      case 'position': {
        if (e.kind !== 'event') return;
        const w = p.position as PositionWire;
        const key = positionKeyOf(w);
        const row: PositionRow = {
          key,
          ts,
          seq,
          ts_ns: tsNsStr,
          account: str(w.account, 'position.account'),
          strategy_id: optStr(w.strategyId),
          symbol: str(w.symbol, 'position.symbol'),
          quantity: dec(w.quantity, 'position.quantity'),
          average_price: optDec(w.averagePrice, 'position.averagePrice'),
          cost_basis: dec(w.costBasis, 'position.costBasis'),
          realized_pnl: dec(w.realizedPnl, 'position.realizedPnl'),
          unrealized_pnl: optDec(w.unrealizedPnl, 'position.unrealizedPnl'),
          mark_price: optDec(w.markPrice, 'position.markPrice'),
          fees: dec(w.fees, 'position.fees'),
          bought_quantity: dec(w.boughtQuantity, 'position.boughtQuantity'),
          sold_quantity: dec(w.soldQuantity, 'position.soldQuantity'),
        };
        b.positions.push(row);
        b.positionsCurrent.set(key, row);
        this.state.onPosition(b, w, key, tsNs, seq);
        return;
      }
      case 'md.quote': {
        if (e.kind !== 'input') return;
        const m = p.m as Record<string, unknown>;
        const bid = optDec(m.bid, 'm.bid');
        const ask = optDec(m.ask, 'm.ask');
        b.marketData.push({
          ts,
          seq,
          ts_ns: tsNsStr,
          kind: 'quote',
          venue: str(m.venue, 'm.venue'),
          symbol: str(m.symbol, 'm.symbol'),
          feed_seq: typeof m.feedSeq === 'number' ? m.feedSeq : null,
          bid,
          bid_size: optDec(m.bidSize, 'm.bidSize'),
          ask,
          ask_size: optDec(m.askSize, 'm.askSize'),
          price: null,
          quantity: null,
          aggressor: null,
          trade_id: null,
          venue_ts_ns: nsString(m.venueTs, 'm.venueTs'),
        });
        // the core's mark: mid of the freshest two-sided quote of the symbol, on any venue
        const mid = midOf(bid, ask);
        if (mid !== undefined) this.state.onMark(b, m.symbol as string, mid, tsNs, seq);
        return;
      }
      case 'md.trade': {
        if (e.kind !== 'input') return;
        const m = p.m as Record<string, unknown>;
        const price = dec(m.price, 'm.price');
        b.marketData.push({
          ts,
          seq,
          ts_ns: tsNsStr,
          kind: 'trade',
          venue: str(m.venue, 'm.venue'),
          symbol: str(m.symbol, 'm.symbol'),
          feed_seq: typeof m.feedSeq === 'number' ? m.feedSeq : null,
          bid: null,
          bid_size: null,
          ask: null,
          ask_size: null,
          price,
          quantity: dec(m.quantity, 'm.quantity'),
          aggressor: optStr(m.aggressor),
          trade_id: optStr(m.tradeId),
          venue_ts_ns: nsString(m.venueTs, 'm.venueTs'),
        });
        // like the core: a trade sets the mark only for a symbol without one
        if (!this.state.hasMark(m.symbol as string)) this.state.onMark(b, m.symbol as string, parseDecimal(price), tsNs, seq);
        return;
      }
      case 'system.start': {
        if (e.kind !== 'input') return;
        const config = p.config as { instruments?: unknown[]; strategies?: unknown[] } | undefined;
        if (typeof config !== 'object' || config === null) throw new TypeError('system.start without config');
        b.configVersions.push({ seq, ts_ns: tsNsStr, ts, kind: 'system.start', actor_id: 'system', reason: null, config, previous: null });
        for (const raw of config.instruments ?? []) {
          const i = raw as Record<string, unknown>;
          const row: InstrumentRow = {
            venue: str(i.venue, 'instrument.venue'),
            symbol: str(i.symbol, 'instrument.symbol'),
            tick_size: dec(i.tickSize, 'instrument.tickSize'),
            lot_size: dec(i.lotSize, 'instrument.lotSize'),
            min_qty: optDec(i.minQty, 'instrument.minQty'),
            max_qty: optDec(i.maxQty, 'instrument.maxQty'),
            currency: str(i.currency, 'instrument.currency'),
            calendar: optStr(i.calendar),
            updated_seq: seq,
          };
          b.instruments.set(row.venue + ':' + row.symbol, row);
        }
        for (const raw of config.strategies ?? []) {
          const s = raw as Record<string, unknown>;
          const id = str(s.id, 'strategy.id');
          const prev = b.strategies.get(id);
          b.strategies.set(id, {
            id,
            class: optStr(s.class),
            account: optStr(s.account),
            trader_id: optStr(s.traderId),
            params: s.params ?? null,
            state: prev?.state ?? null,
            updated_seq: seq,
            updated_at: ts,
          });
        }
        return;
      }
      case 'risk.limitsChanged': {
        if (e.kind !== 'event') return;
        b.configVersions.push({
          seq,
          ts_ns: tsNsStr,
          ts,
          kind: 'risk.limitsChanged',
          actor_id: actorIdOf(p),
          reason: optStr(p.reason),
          config: p.new ?? null,
          previous: p.old ?? null,
        });
        return;
      }
      case 'system.note': {
        if (p.event === 'database.auditPruned') {
          this.prunesJournaled(p.detail, seq);
          return;
        }
        // the WORM archiver's confirmed mark (src/audit/trail.ts), journaled as an input and again
        // as the core's event: either will do, the highest wins
        if (p.event !== 'audit.archived') return;
        const detail = p.detail as Record<string, unknown> | undefined;
        const through = detail?.archivedThroughSeq;
        if (through === undefined) return; // notes written before the mark was journaled
        if (typeof through !== 'number' || !Number.isSafeInteger(through) || through < 0 || through >= seq) {
          throw new TypeError(`audit.archived with an invalid archivedThroughSeq (${String(through)})`);
        }
        if (through > 0 && (b.archiveMark === null || through > b.archiveMark.archived_seq)) {
          b.archiveMark = { archived_seq: through, source_seq: seq, reported_at: ts };
        }
        return;
      }
      case 'strategy.state': {
        if (e.kind !== 'event') return;
        const id = str(p.strategyId, 'strategyId');
        const prev = b.strategies.get(id);
        b.strategies.set(id, {
          id,
          class: prev?.class ?? null,
          account: prev?.account ?? null,
          trader_id: prev?.trader_id ?? null,
          params: prev?.params ?? null,
          state: str(p.to, 'to'),
          updated_seq: seq,
          updated_at: ts,
        });
        return;
      }
      default:
        return;
    }
  }

  /**
   * A `database.auditPruned` note (the projector's report of prunes not yet journaled, journaled
   * by the node as an input and again as the core's event): each audit_log_prunes id it lists is
   * now in the journal, at this seq. The first note wins (here within the batch, in the database
   * across batches). A detail without a `prunes` list, or with an entry without a positive integer
   * id or its partition name, is malformed: nothing of it is taken.
   */
  private prunesJournaled(detail: unknown, seq: number): void {
    const prunes = (detail as { prunes?: unknown } | null | undefined)?.prunes;
    if (!Array.isArray(prunes)) throw new TypeError('database.auditPruned without a prunes list');
    const listed: PruneJournaledRow[] = [];
    for (const x of prunes as unknown[]) {
      const e = typeof x === 'object' && x !== null ? (x as { id?: unknown; partition?: unknown }) : {};
      const id = e.id;
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw new TypeError(`database.auditPruned with an invalid prune id (${String(id)})`);
      if (typeof e.partition !== 'string' || e.partition === '') throw new TypeError(`database.auditPruned: prune ${id} without its partition`);
      listed.push({ prune_id: id, partition: e.partition, seq });
    }
    const rows = this.batch.prunesJournaled;
    // (keyed on id and partition: a note naming another database's prune under the same id must
    // not hide this database's, which the writer then matches on both)
    for (const r of listed) {
      if (!rows.some((x) => x.prune_id === r.prune_id && x.partition === r.partition)) rows.push(r);
    }
  }
}

/** For tests and the bench: sum of NUMERIC strings, exactly. */
export function sumDecimals(values: readonly string[]): string {
  let s = 0n;
  for (const v of values) s += parseDecimal(v);
  return formatDecimal(s);
}

