/**
 * The COPY encoders, against the real thing: the binary one with every field type audit_log uses,
 * the text one with every character the format escapes, edge values included, read back with SQL
 * on both drivers.
 */
import { expect, it } from 'vitest';
import { BinaryCopyBuffer } from '../../src/storage/copy-binary.js';
import { TextCopyBuffer } from '../../src/storage/copy-text.js';
import { nsToIso } from '../../src/storage/projection.js';
import { copyField, type SqlClient } from '../../src/storage/sql-client.js';
import { createTarget, describeDrivers } from './helpers.js';

describeDrivers('COPY encoders', (kind) => {
  /** `fn` against a fresh database of the driver. */
  const withDb = async (fn: (db: SqlClient) => Promise<void>): Promise<void> => {
    const t = await createTarget(kind);
    const db = await t.open();
    try {
      await fn(db);
    } finally {
      await db.close();
      await t.cleanup();
    }
  };

  it('binary format: int8, timestamptz, text, json, bytea and NULL, through a buffer that has to grow', () => withDb(roundTrip));

  it('text format: escaped fields, NULL, multi-byte UTF-8 and a buffer that has to grow, as the server reads them', () => withDb(textRoundTrip));
});

async function textRoundTrip(db: SqlClient): Promise<void> {
  await db.exec(`CREATE TABLE txt (n bigint, a text, b text)`);
  const cases: { n: number; a: string | null; b: string | null }[] = [
    { n: 1, a: 'plain', b: '' },
    { n: 2, a: null, b: '\\N is not NULL here' },
    { n: 3, a: 'tab\there\nnew line\r\\ back', b: null },
    { n: 4, a: 'é€😀 ünïcødé', b: '\\' },
    { n: 5, a: 'x'.repeat(3000) + '€', b: '\t\n\r' },
  ];
  const out = new TextCopyBuffer(16); // far too small: grows several times
  for (const c of cases) out.line(`${c.n}\t${copyField(c.a)}\t${copyField(c.b)}`);
  const data = out.finish();
  expect(data.length).toBe(out.byteLength);
  await db.copyFrom('txt', ['n', 'a', 'b'], data, 'text');
  const r = await db.query<{ n: string; a: string | null; b: string | null }>(`SELECT n::text AS n, a, b FROM txt ORDER BY n`);
  expect(r.rows).toEqual(cases.map((c) => ({ n: String(c.n), a: c.a, b: c.b })));
}

async function roundTrip(db: SqlClient): Promise<void> {
  await db.exec(`CREATE TABLE bin (seq bigint, ts_ns bigint, ts timestamptz, note text, doc json, h bytea)`);
  const cases: { seq: number; ns: bigint; note: string | null; doc: string }[] = [
    { seq: 1, ns: 1_767_225_600_123_456_789n, note: 'plain', doc: '{"type":"x"}' },
    { seq: 2 ** 40 + 3, ns: 0n, note: null, doc: '[]' },
    { seq: 3, ns: -1n, note: 'tab\there\nnew line \\ é€😀', doc: '{"k":"\\u00e9 \\"q\\""}' },
    { seq: Number.MAX_SAFE_INTEGER, ns: -1_000_000_000_000_000_001n, note: '', doc: '"xxx"' },
    { seq: 5, ns: 946_684_799_999_999_999n, note: 'x'.repeat(5000), doc: JSON.stringify({ big: 'y'.repeat(10_000) }) },
  ];
  const out = new BinaryCopyBuffer(64); // far too small: grows several times
  for (const c of cases) {
    out.row(6);
    out.int8(c.seq);
    out.bigint8(c.ns);
    out.timestamptzFromNs(c.ns);
    out.text(c.note);
    out.text(c.doc);
    out.bytea(Buffer.from([c.seq % 256, 0, 255]));
  }
  await db.copyFrom('bin', ['seq', 'ts_ns', 'ts', 'note', 'doc', 'h'], out.finish(), 'binary');
  const r = await db.query<{ seq: string; ts_ns: string; ts: string; note: string | null; doc: string; h: string }>(
    `SELECT seq::text AS seq, ts_ns::text AS ts_ns, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts, note, doc::text AS doc, encode(h, 'hex') AS h
       FROM bin ORDER BY bin.seq`,
  );
  const sorted = [...cases].sort((a, b) => a.seq - b.seq);
  expect(r.rows).toEqual(
    sorted.map((c) => ({
      seq: String(c.seq),
      ts_ns: String(c.ns),
      ts: nsToIso(c.ns),
      note: c.note,
      doc: c.doc,
      h: Buffer.from([c.seq % 256, 0, 255]).toString('hex'),
    })),
  );
}
