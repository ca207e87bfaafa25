/**
 * Reads a batch's audit_log COPY data (AuditCopy, PostgreSQL's binary COPY format) back into rows,
 * for tests that look at what a batch would write. An independent reader of the format: it checks
 * the signature, the field counts and the trailer instead of trusting the writer.
 */
import type { ProjectionBatch } from '../../src/storage/projection.js';

export interface DecodedAuditRow {
  seq: number;
  ts_ns: bigint;
  /** microseconds since 2000-01-01 UTC, as the server stores timestamptz */
  ts_pg_us: bigint;
  kind: string;
  type: string;
  actor_id: string | null;
  payload: string;
  prev_hash: Buffer;
  hash: Buffer;
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** Every row's fields as raw bytes (null for NULL). */
export function readBinaryCopy(buf: Buffer): (Buffer | null)[][] {
  if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('not binary COPY data: bad signature');
  let o = SIGNATURE.length;
  const flags = buf.readInt32BE(o);
  const ext = buf.readInt32BE(o + 4);
  if (flags !== 0) throw new Error(`unexpected header flags ${flags}`);
  o += 8 + ext;
  const rows: (Buffer | null)[][] = [];
  for (;;) {
    const n = buf.readInt16BE(o);
    o += 2;
    if (n === -1) break;
    const row: (Buffer | null)[] = [];
    for (let i = 0; i < n; i++) {
      const len = buf.readInt32BE(o);
      o += 4;
      if (len === -1) row.push(null);
      else {
        row.push(buf.subarray(o, o + len));
        o += len;
      }
    }
    rows.push(row);
  }
  if (o !== buf.length) throw new Error(`${buf.length - o} bytes after the trailer`);
  return rows;
}

export function auditRowsOf(batch: ProjectionBatch): DecodedAuditRow[] {
  return readBinaryCopy(batch.audit.finish()).map((f) => {
    if (f.length !== 9) throw new Error(`audit row of ${f.length} fields`);
    const text = (b: Buffer | null): string => b!.toString('utf8');
    return {
      seq: Number(f[0]!.readBigInt64BE()),
      ts_ns: f[1]!.readBigInt64BE(),
      ts_pg_us: f[2]!.readBigInt64BE(),
      kind: text(f[3]!),
      type: text(f[4]!),
      actor_id: f[5] === null ? null : text(f[5]!),
      payload: text(f[6]!),
      prev_hash: Buffer.from(f[7]!),
      hash: Buffer.from(f[8]!),
    };
  });
}
