/**
 * PostgreSQL's binary COPY format (https://www.postgresql.org/docs/current/sql-copy.html, "Binary
 * Format"), for the few column types the projector writes that way: int8, timestamptz, text, json
 * and bytea. Used for audit_log, the bulk of the volume: in binary the server neither parses
 * timestamps, integers and hex nor scans for escapes, and here the rows are written straight into
 * one Buffer (no 80 MB string per 138k records to build, flatten and encode). bench/db.bench.ts
 * and docs/database.md have the figures.
 *
 * Layout: signature, flags (int32 0), header extension length (int32 0); per row the field count
 * (int16) and per field its length (int32, -1 for NULL) and bytes, big-endian; trailer int16 -1.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** timestamptz is microseconds since 2000-01-01 00:00:00 UTC. */
const PG_EPOCH_US = 946_684_800_000_000;
const TWO_32 = 4_294_967_296;

/**
 * What a table's next batch buffer starts at: a little over the last batch's size, decaying toward
 * smaller batches. A fixed start made a large batch grow by doubling: for audit_log, starting at
 * 1 MiB, a 5,000-record batch (about 2 MB) copied 3 MB and touched 7 MB of fresh pages.
 */
export class CopySizeHint {
  private bytes: number;

  constructor(private readonly floor: number) {
    this.bytes = floor;
  }

  get value(): number {
    return this.bytes;
  }

  observe(batchBytes: number): void {
    this.bytes = Math.max(this.floor, Math.ceil(batchBytes * 1.125), Math.floor(this.bytes * 0.875));
  }
}

export class BinaryCopyBuffer {
  private buf: Buffer;
  private view: DataView;
  private len = 0;

  constructor(expectedBytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(Math.max(expectedBytes, 64));
    SIGNATURE.copy(this.buf, 0);
    this.buf.writeInt32BE(0, SIGNATURE.length); // flags
    this.buf.writeInt32BE(0, SIGNATURE.length + 4); // header extension length
    this.len = SIGNATURE.length + 8;
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** Starts a row of `fields` columns. */
  row(fields: number): void {
    this.ensure(2);
    this.len = this.buf.writeInt16BE(fields, this.len);
  }

  /** int8 from a safe integer (seq, microseconds). */
  int8(v: number): void {
    this.ensure(12);
    const b = this.buf;
    let o = b.writeInt32BE(8, this.len);
    const hi = Math.floor(v / TWO_32);
    o = b.writeInt32BE(hi, o);
    this.len = b.writeUInt32BE(v - hi * TWO_32, o);
  }

  /** int8 from a bigint (epoch nanoseconds). DataView's setter: Buffer's writeBigInt64BE is several times slower. */
  bigint8(v: bigint): void {
    this.ensure(12);
    const o = this.buf.writeInt32BE(8, this.len);
    this.view.setBigInt64(o, v);
    this.len = o + 8;
  }

  /** timestamptz from epoch nanoseconds, truncated to the microsecond (toward -∞, as nsToIso). */
  timestamptzFromNs(ns: bigint): void {
    // microseconds since 1970 fit a double exactly (|us| < 2^53 until the year 287,396)
    const us = Number(ns >= 0n ? ns / 1000n : -((-ns + 999n) / 1000n));
    this.int8(us - PG_EPOCH_US);
  }

  /** text or json (the json type's binary form is its text); null as NULL. */
  text(s: string | null): void {
    if (s === null) return this.null();
    this.ensure(4 + s.length * 3); // a UTF-16 code unit is at most 3 bytes of UTF-8
    const n = this.buf.write(s, this.len + 4, 'utf8');
    this.buf.writeInt32BE(n, this.len);
    this.len += 4 + n;
  }

  bytea(b: Uint8Array): void {
    this.ensure(4 + b.length);
    this.len = this.buf.writeInt32BE(b.length, this.len);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  null(): void {
    this.ensure(4);
    this.len = this.buf.writeInt32BE(-1, this.len);
  }

  /** The COPY data, trailer included. The buffer is not to be written to afterwards. */
  finish(): Buffer {
    this.ensure(2);
    this.len = this.buf.writeInt16BE(-1, this.len);
    return this.buf.subarray(0, this.len);
  }
}
