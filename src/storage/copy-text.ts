/**
 * PostgreSQL's COPY text format (https://www.postgresql.org/docs/current/sql-copy.html, "Text
 * Format"): one line per row, fields separated by tabs, NULL as \N, backslash, tab, newline and
 * carriage return escaped (copyField). Written straight into one Buffer per table and batch.
 *
 * The append-only tables (order_events, fills, positions, market_data) are encoded as each row is
 * added to the batch (TextCopyRows), as audit_log's binary rows are (AuditCopy): a row object lives
 * only as long as the call that made it, so the worker's scavenges no longer copy and promote a
 * batch's worth of rows and the payload strings they hold, and no batch-sized string is built by
 * concatenation and then flattened and encoded at the end. docs/database.md has the figures.
 */
import { CopySizeHint } from './copy-binary.js';
import type { FillRow, MarketDataRow, OrderEventRow, PositionRow } from './projection.js';
import { copyField as f } from './sql-client.js';

/** A table written with COPY in text format: its columns and one line (no newline) per row. */
export interface CopyTable<R> {
  table: string;
  columns: readonly string[];
  line(r: R): string;
  /** What the table's next batch buffer starts at (the batches before it set it). */
  hint: CopySizeHint;
}

/** Lines of COPY text data in one growing Buffer. */
export class TextCopyBuffer {
  private buf: Buffer;
  private len = 0;

  constructor(expectedBytes: number) {
    this.buf = Buffer.allocUnsafe(Math.max(expectedBytes, 64));
  }

  /** Appends `line` (already escaped field by field) and its newline. */
  line(line: string): void {
    const need = line.length * 3 + 1; // a UTF-16 code unit is at most 3 bytes of UTF-8
    if (this.len + need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + need));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    this.len += this.buf.write(line, this.len, 'utf8');
    this.buf[this.len++] = 0x0a;
  }

  get byteLength(): number {
    return this.len;
  }

  /** The COPY data written so far (a view of the buffer: nothing may be added after). */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** A batch's rows of one table, encoded as they are added. */
export class TextCopyRows<R> {
  private readonly out: TextCopyBuffer;
  private rows = 0;
  private done: Buffer | undefined;

  constructor(readonly table: CopyTable<R>) {
    this.out = new TextCopyBuffer(table.hint.value);
  }

  get length(): number {
    return this.rows;
  }

  push(r: R): void {
    if (this.done !== undefined) throw new Error(`${this.table.table} rows added after the batch was encoded`);
    this.out.line(this.table.line(r));
    this.rows++;
  }

  /** The COPY data (the same Buffer on every call; no row may be added after). */
  finish(): Buffer {
    if (this.done === undefined) {
      this.done = this.out.finish();
      this.table.hint.observe(this.done.length);
    }
    return this.done;
  }
}

export const ORDER_EVENTS: CopyTable<OrderEventRow> = {
  table: 'order_events',
  columns: ['seq', 'ts_ns', 'ts', 'order_id', 'type', 'status', 'from_status', 'cause', 'filled_quantity', 'leaves_quantity', 'actor_id'],
  line: (r) =>
    `${r.seq}\t${r.ts_ns}\t${r.ts}\t${f(r.order_id)}\t${f(r.type)}\t${f(r.status)}\t${f(r.from_status)}\t${f(r.cause)}\t${f(r.filled_quantity)}\t${f(r.leaves_quantity)}\t${f(r.actor_id)}`,
  hint: new CopySizeHint(1 << 14),
};

export const FILLS: CopyTable<FillRow> = {
  table: 'fills',
  columns: ['ts', 'id', 'seq', 'ts_ns', 'order_id', 'exec_id', 'account', 'strategy_id', 'symbol', 'venue', 'side', 'quantity', 'price', 'notional', 'fee', 'liquidity', 'venue_ts_ns'],
  line: (r) =>
    `${r.ts}\t${f(r.id)}\t${r.seq}\t${r.ts_ns}\t${f(r.order_id)}\t${f(r.exec_id)}\t${f(r.account)}\t${f(r.strategy_id)}\t${f(r.symbol)}\t${f(r.venue)}\t${f(r.side)}\t` +
    `${r.quantity}\t${r.price}\t${r.notional}\t${r.fee}\t${f(r.liquidity)}\t${r.venue_ts_ns}`,
  hint: new CopySizeHint(1 << 12),
};

export const POSITIONS: CopyTable<PositionRow> = {
  table: 'positions',
  columns: ['ts', 'seq', 'ts_ns', 'account', 'strategy_id', 'symbol', 'quantity', 'average_price', 'cost_basis', 'realized_pnl', 'unrealized_pnl', 'mark_price', 'fees', 'bought_quantity', 'sold_quantity'],
  line: (r) =>
    `${r.ts}\t${r.seq}\t${r.ts_ns}\t${f(r.account)}\t${f(r.strategy_id)}\t${f(r.symbol)}\t${r.quantity}\t${f(r.average_price)}\t${r.cost_basis}\t${r.realized_pnl}\t` +
    `${f(r.unrealized_pnl)}\t${f(r.mark_price)}\t${r.fees}\t${r.bought_quantity}\t${r.sold_quantity}`,
  hint: new CopySizeHint(1 << 12),
};

export const MARKET_DATA: CopyTable<MarketDataRow> = {
  table: 'market_data',
  columns: ['ts', 'seq', 'ts_ns', 'kind', 'venue', 'symbol', 'feed_seq', 'bid', 'bid_size', 'ask', 'ask_size', 'price', 'quantity', 'aggressor', 'trade_id', 'venue_ts_ns'],
  line: (r) =>
    `${r.ts}\t${r.seq}\t${r.ts_ns}\t${r.kind}\t${f(r.venue)}\t${f(r.symbol)}\t${f(r.feed_seq)}\t${f(r.bid)}\t${f(r.bid_size)}\t${f(r.ask)}\t${f(r.ask_size)}\t` +
    `${f(r.price)}\t${f(r.quantity)}\t${f(r.aggressor)}\t${f(r.trade_id)}\t${r.venue_ts_ns}`,
  hint: new CopySizeHint(1 << 12),
};
