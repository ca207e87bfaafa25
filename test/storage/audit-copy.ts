/**
 * Reads a batch's COPY data back into rows, for tests that look at what a batch would write:
 * audit_log's (AuditCopy, PostgreSQL's binary COPY format) and the append-only tables' (TextCopyRows,
 * the text format). Independent readers of the formats: the binary one checks the signature, the
 * field counts and the trailer, the text one the field count of every line and each escape,
 * instead of trusting the writer.
 */
import type { TextCopyRows } from '../../src/storage/copy-text.js';
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

/** One field of a text-format line: \N is NULL; \\, \t, \n, \r are the escapes the writer uses. */
function unescapeTextField(field: string): string | null {
  if (field === '\\N') return null;
  return field.replace(/\\(.)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 't') return '\t';
    if (c === 'n') return '\n';
    if (c === 'r') return '\r';
    throw new Error(`unexpected escape \\${c} in ${JSON.stringify(field)}`);
  });
}

/** A batch's rows of one append-only table, by column name, every value as the text the server parses. */
export function textRowsOf(rows: TextCopyRows<unknown>): Record<string, string | null>[] {
  const data = rows.finish().toString('utf8');
  if (data.length > 0 && !data.endsWith('\n')) throw new Error('text COPY data not ending in a newline');
  const lines = data.length === 0 ? [] : data.slice(0, -1).split('\n');
  if (lines.length !== rows.length) throw new Error(`${lines.length} lines for ${rows.length} rows`);
  const columns = rows.table.columns;
  return lines.map((line) => {
    const fields = line.split('\t');
    if (fields.length !== columns.length) throw new Error(`${fields.length} fields for ${columns.length} columns: ${JSON.stringify(line)}`);
    return Object.fromEntries(columns.map((c, i) => [c, unescapeTextField(fields[i]!)]));
  });
}
