/**
 * The binary COPY encoder, against the real thing: every field type audit_log uses, edge values
 * included, read back with SQL on both drivers.
 */
import { expect, it } from 'vitest';
import { BinaryCopyBuffer } from '../../src/storage/copy-binary.js';
import { nsToIso } from '../../src/storage/projection.js';
import type { SqlClient } from '../../src/storage/sql-client.js';
import { createTarget, describeDrivers } from './helpers.js';

describeDrivers('binary COPY', (kind) => {
  it('round-trips int8, timestamptz, text, json, bytea and NULL, through a buffer that has to grow', async () => {
    const t = await createTarget(kind);
    const db = await t.open();
    try {
      await roundTrip(db);
    } finally {
      await db.close();
      await t.cleanup();
    }
  });
});

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
  await db.copyFrom('bin', ['seq', 'ts_ns', 'ts', 'note', 'doc', 'h'], out.finish());
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
