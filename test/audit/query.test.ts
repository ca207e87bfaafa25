/**
 * GET /audit's search (queryJournal) passes most records by unparsed: a payload is parsed only when
 * its bytes contain what a match needs (the actor id, the order id, the type as JSON text). These
 * tests check that the shortcut never loses a match: against a reference that parses every record
 * (Journal.read) and applies the same predicates, for generated ids with quotes, backslashes,
 * non-ASCII, control characters and cancel suffixes ("<id>-C<n>"), each query paged to the end.
 */
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { queryJournal, type AuditQuery } from '../../src/audit/api.js';
import { actorIdOf, orderIdsOf } from '../../src/audit/records.js';
import { Journal, type JournalPayload } from '../../src/engine/journal.js';
import { tempDir } from '../helpers.js';

const T0 = 1_767_225_600_000_000_000n;
const root = tempDir('bulwark-audit-query-');
afterAll(() => root.cleanup());

/** What a search must return: every record of the range, parsed, that satisfies the predicates. */
function reference(dir: string, q: AuditQuery): number[] {
  const typeOk = (t: string): boolean => q.types === undefined || q.types.length === 0 || q.types.some((x) => (x.endsWith('*') ? t.startsWith(x.slice(0, -1)) : t === x));
  const out: number[] = [];
  for (const e of Journal.read(dir, { fromSeq: q.fromSeq, toSeq: q.toSeq })) {
    if (q.fromTs !== undefined && e.ts < q.fromTs) continue;
    if (q.toTs !== undefined && e.ts > q.toTs) break;
    if (typeOk(e.payload.type) && (q.actor === undefined || actorIdOf(e.payload) === q.actor) && (q.orderId === undefined || orderIdsOf(e.payload).includes(q.orderId))) out.push(e.seq);
  }
  return out;
}

/** Every page of a search, following nextCursor as a client does. */
async function allPages(dir: string, q: AuditQuery): Promise<{ seqs: number[]; views: Awaited<ReturnType<typeof queryJournal>>['records'] }> {
  const views: Awaited<ReturnType<typeof queryJournal>>['records'] = [];
  let from = q.fromSeq;
  for (let pages = 0; pages < 10_000; pages++) {
    const r = await queryJournal(dir, { ...q, fromSeq: from });
    views.push(...r.records);
    if (r.nextCursor === null) return { seqs: views.map((v) => v.seq), views };
    from = r.nextCursor + 1;
  }
  throw new Error('no end of pages');
}

// ids with what JSON must escape or may render in more than one way
const idChars = fc.constantFrom('a', 'Z', '7', '-', '_', '"', '\\', '/', 'é', '€', '😀', '\n', '\u0001', ' ', 'C');
const anId = fc.string({ unit: idChars, minLength: 1, maxLength: 6 });

describe('GET /audit search (queryJournal)', () => {
  it('finds exactly what parsing every record finds: actors, orders (also by cancel clOrdId), types and prefixes, time bounds, paging (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(anId, { minLength: 3, maxLength: 6 }),
        fc.uniqueArray(anId, { minLength: 3, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat(5), fc.boolean()), { minLength: 20, maxLength: 120 }),
        fc.nat(),
        fc.nat(3),
        fc.integer({ min: 1, max: 7 }),
        async (actors, orders, recs, pick, shape, limit) => {
          const dir = path.join(root.dir, `j-${Math.random().toString(36).slice(2)}`);
          const j = await Journal.open(dir, { fsync: false });
          const types = ['order.created', 'order.updated', 'cmd.order.new', 'exec', 'kill.cancelsSent', 'order"odd'];
          recs.forEach(([a, o, o2, t, nested], i) => {
            const actor = actors[a % actors.length]!;
            const id = orders[o % orders.length]!;
            const other = orders[o2 % orders.length]!;
            const type = types[t]!;
            let payload: JournalPayload;
            if (type === 'exec') payload = { type, r: { clOrdId: `${id}-C${o2 % 3}` } };
            else if (type === 'kill.cancelsSent') payload = { type, massCancelledOrders: [id, other], actor: { id: actor, channel: 'api' } };
            else payload = { type, actor: { id: actor, channel: 'strategy' }, order: { id, type: nested ? 'order.created' : 'limit', note: other } };
            j.append(i % 2 === 0 ? 'input' : 'event', i + 1, T0 + BigInt(i) * 1000n, payload);
          });
          await j.close();
          const n = recs.length;
          const q: AuditQuery = { fromSeq: 1 + (pick % 5), toSeq: n - (pick % 3), limit };
          if (shape === 0) q.actor = actors[pick % actors.length]!;
          if (shape === 1) q.orderId = orders[pick % orders.length]!;
          if (shape === 2) q.types = [types[pick % types.length]!, 'order.*'].slice(0, 1 + (pick % 2));
          if (shape === 3) {
            q.actor = actors[pick % actors.length]!;
            q.types = ['kill.*'];
            q.fromTs = T0 + 3000n;
            q.toTs = T0 + BigInt(n - 4) * 1000n;
          }
          const got = await allPages(dir, q);
          expect(got.seqs).toEqual(reference(dir, q));
          // and each view is the record as journaled: its payload and its chain links
          const byRead = new Map([...Journal.read(dir)].map((e) => [e.seq, e]));
          for (const v of got.views) {
            const e = byRead.get(v.seq)!;
            expect(v.payload).toEqual(e.payload);
            expect(v.hash).toBe(e.hash.toString('hex'));
            expect(v.prevHash).toBe(v.seq === 1 ? '0'.repeat(64) : byRead.get(v.seq - 1)!.hash.toString('hex'));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a search for what no record holds reads the range and says where it stopped', async () => {
    const dir = path.join(root.dir, 'sparse');
    const j = await Journal.open(dir, { fsync: false });
    for (let i = 1; i <= 500; i++) j.append('input', i, T0 + BigInt(i), { type: 'cmd.order.new', actor: { id: i === 321 ? 'rare"one' : 'mm-1', channel: 'strategy' } });
    await j.close();
    const none = await queryJournal(dir, { fromSeq: 1, toSeq: 500, limit: 10, actor: 'nobody' });
    expect(none).toMatchObject({ records: [], nextCursor: null, scanned: 500 });
    const one = await queryJournal(dir, { fromSeq: 1, toSeq: 500, limit: 10, actor: 'rare"one' });
    expect(one.records.map((r) => r.seq)).toEqual([321]);
    expect(one.records[0]!.actor).toEqual({ id: 'rare"one', channel: 'strategy' });
  });
});
