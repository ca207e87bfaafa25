/**
 * The audit trail over HTTP, for compliance and admin users only (401 without a token, 403 with
 * another role). Reads the journal itself — the primary record — up to what is durable.
 *
 *   GET /audit?from=&to=&type=&actor=&orderId=&cursor=&limit=
 *       from/to: ISO-8601 time or seq (inclusive); type: comma list, "order.*" matches a prefix;
 *       actor: actor id; orderId: records that concern the order (its commands, events, fills,
 *       execution reports); cursor: the nextCursor of the previous page; limit 1-1000 (100).
 *       Pages go forward in seq order. One request scans at most SCAN_BUDGET records: a page can
 *       come back short, with nextCursor set, when matches are sparse.
 *   GET /audit/checkpoints          latest signed checkpoint and tree status
 *   GET /audit/proof/:seq           inclusion proof against the latest checkpoint
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { framePayload, framePrevHash, Journal } from '../engine/journal.js';
import { HttpError, intParam, requireRole, type ApiContext } from '../api/http.js';
import { actorIdOf, checkRangeOrder, Needle, orderIdsOf, parseRangeBound, recordView, seqNear, type AuditRecordView, type RangeBound } from './records.js';
import { formatNanos } from '../core/time.js';
import { recordLeafHash } from './merkle.js';

export const SCAN_BUDGET = 200_000;
const YIELD_EVERY = 5000;

export interface AuditQuery {
  fromSeq: number;
  toSeq: number;
  fromTs?: bigint;
  toTs?: bigint;
  types?: string[];
  actor?: string;
  orderId?: string;
  limit: number;
}

function typeMatcher(types: string[] | undefined): (t: string) => boolean {
  if (types === undefined || types.length === 0) return () => true;
  const exact = new Set(types.filter((t) => !t.endsWith('*')));
  const prefixes = types.filter((t) => t.endsWith('*')).map((t) => t.slice(0, -1));
  return (t) => exact.has(t) || prefixes.some((p) => t.startsWith(p));
}

/**
 * Byte strings a record's payload text must contain to possibly match (each group: at least one of
 * its needles). The journal writes payloads with JSON.stringify, which renders a given string one
 * way only, so a payload without the needle cannot match and is passed by unparsed; one with it
 * is parsed and matched exactly. Necessary conditions only: a needle may also occur elsewhere.
 */
function prefilter(q: AuditQuery): Needle[][] {
  const groups: Needle[][] = [];
  const json = (v: string): string => JSON.stringify(v);
  const needle = (text: string): Needle => new Needle(Buffer.from(text));
  // "<id>" somewhere; an order id also as the start of a cancel's clOrdId, "<id>-C<n>"
  if (q.actor !== undefined) groups.push([needle(json(q.actor))]);
  if (q.orderId !== undefined) groups.push([needle(json(q.orderId).slice(0, -1))]);
  if (q.types !== undefined && q.types.length > 0) {
    groups.push(q.types.map((t) => needle(t.endsWith('*') ? `"type":${json(t.slice(0, -1)).slice(0, -1)}` : `"type":${json(t)}`)));
  }
  return groups;
}

/**
 * Runs a query over the journal; yields to the event loop every few thousand records. Reads frames,
 * not parsed records: a payload is parsed only when its text can match (prefilter), so a search for
 * a rare actor or order passes most records by at the cost of a byte search.
 */
export async function queryJournal(journalDir: string, q: AuditQuery): Promise<{ records: AuditRecordView[]; nextCursor: number | null; scanned: number }> {
  const records: AuditRecordView[] = [];
  const matchType = typeMatcher(q.types);
  const groups = prefilter(q);
  let scanned = 0;
  let lastSeen = q.fromSeq - 1;
  if (q.toSeq < q.fromSeq) return { records, nextCursor: null, scanned };
  for (const f of Journal.frames(journalDir, { fromSeq: q.fromSeq, toSeq: q.toSeq, verify: false })) {
    scanned++;
    lastSeen = f.seq;
    if (q.toTs !== undefined && f.ts > q.toTs) return { records, nextCursor: null, scanned };
    if ((q.fromTs === undefined || f.ts >= q.fromTs) && groups.every((g) => g.some((n) => n.within(f.segment, f.payloadStart, f.end)))) {
      const p = framePayload(f);
      if (matchType(p.type) && (q.actor === undefined || actorIdOf(p) === q.actor) && (q.orderId === undefined || orderIdsOf(p).includes(q.orderId))) {
        records.push(recordView({ seq: f.seq, ts: f.ts, kind: f.kind, payload: p, hash: f.hash }, framePrevHash(f)));
        if (records.length >= q.limit) return { records, nextCursor: f.seq < q.toSeq ? f.seq : null, scanned };
      }
    }
    if (scanned >= SCAN_BUDGET) return { records, nextCursor: f.seq < q.toSeq ? f.seq : null, scanned };
    if (scanned % YIELD_EVERY === 0) await nextTurn();
  }
  return { records, nextCursor: lastSeen < q.toSeq ? lastSeen : null, scanned };
}

function badRequest(field: string, message: string): HttpError {
  return new HttpError(400, 'bad_request', `${field}: ${message}`, field);
}

export function registerAuditRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { node } = ctx;
  const journalDir = (): string => node.journal.dir;

  app.get<{ Querystring: Record<string, string | undefined> }>('/audit', async (req) => {
    requireRole(ctx, req, 'compliance', 'admin');
    const q = req.query;
    const known = new Set(['from', 'to', 'type', 'actor', 'orderId', 'cursor', 'limit']);
    for (const k of Object.keys(q)) if (!known.has(k)) throw badRequest(k, 'is not a known parameter (from, to, type, actor, orderId, cursor, limit)');
    const limit = intParam(q.limit, 'limit', 100, 1, 1000);
    const durable = node.journal.durableSeq;
    const query: AuditQuery = { fromSeq: 1, toSeq: durable, limit };
    try {
      const from: RangeBound | undefined = q.from === undefined ? undefined : parseRangeBound(q.from, 'from');
      const to: RangeBound | undefined = q.to === undefined ? undefined : parseRangeBound(q.to, 'to');
      if (from !== undefined && to !== undefined) checkRangeOrder(from, to, 'to');
      if (from !== undefined) {
        if ('seq' in from) query.fromSeq = from.seq;
        else {
          query.fromTs = from.ts;
          query.fromSeq = seqNear(journalDir(), from.ts);
        }
      }
      if (to !== undefined) {
        if ('seq' in to) query.toSeq = Math.min(durable, to.seq);
        else query.toTs = to.ts;
      }
    } catch (e) {
      const field = (e as Error).message.startsWith('to') ? 'to' : 'from';
      throw badRequest(field, (e as Error).message.replace(/^(from|to): /, ''));
    }
    if (q.cursor !== undefined) {
      const c = intParam(q.cursor, 'cursor', 0, 0, Number.MAX_SAFE_INTEGER - 1, 'must be the nextCursor of a previous page');
      query.fromSeq = Math.max(query.fromSeq, c + 1);
    }
    if (q.type !== undefined) {
      const types = q.type.split(',').map((t) => t.trim()).filter((t) => t !== '');
      if (types.some((t) => !/^[A-Za-z0-9._-]+\*?$/.test(t))) throw badRequest('type', 'must be a comma list of record types, e.g. "order.created,fill" or "order.*"');
      query.types = types;
    }
    if (q.actor !== undefined) {
      if (q.actor === '' || q.actor.length > 128) throw badRequest('actor', 'must be an actor id');
      query.actor = q.actor;
    }
    if (q.orderId !== undefined) {
      if (q.orderId === '' || q.orderId.length > 128) throw badRequest('orderId', 'must be an order id');
      query.orderId = q.orderId;
    }
    const r = await queryJournal(journalDir(), query);
    return { records: r.records, nextCursor: r.nextCursor, scanned: r.scanned, durableSeq: durable };
  });

  app.get('/audit/checkpoints', async (req) => {
    requireRole(ctx, req, 'compliance', 'admin');
    const audit = node.audit;
    if (audit === null) throw new HttpError(503, 'unavailable', 'the audit trail is not running on this node');
    const s = audit.status;
    return {
      latest: s.lastCheckpoint,
      latestTime: s.lastCheckpoint ? formatNanos(BigInt(s.lastCheckpoint.timestamp)) : null,
      count: s.checkpoints,
      treeSize: s.treeSize,
      keyId: s.keyId,
      publicKey: audit.key.publicPem,
      archive: s.archive,
    };
  });

  app.get<{ Params: { seq: string } }>('/audit/proof/:seq', async (req) => {
    requireRole(ctx, req, 'compliance', 'admin');
    const audit = node.audit;
    if (audit === null) throw new HttpError(503, 'unavailable', 'the audit trail is not running on this node');
    const seq = Number(req.params.seq);
    if (!Number.isSafeInteger(seq) || seq < 1) throw badRequest('seq', 'must be a positive integer');
    const cp = audit.lastCheckpoint;
    if (cp === null || seq > cp.treeSize) throw new HttpError(409, 'not_checkpointed', `seq ${seq} is not covered by a signed checkpoint yet${cp ? ` (latest covers ${cp.treeSize})` : ''}`, 'seq');
    let rec: AuditRecordView | undefined;
    let prevHash: Buffer = Buffer.alloc(32);
    // Not verify: true, which would re-hash the segment up to seq on the node's thread. The body is
    // re-encoded and must hash to the record hash the chain carries, which is the check that matters.
    for (const e of Journal.read(path.resolve(journalDir()), { fromSeq: Math.max(1, seq - 1), toSeq: seq, verify: false })) {
      if (e.seq === seq) {
        rec = recordView(e, prevHash, true);
        if (createHash('sha256').update(Buffer.from(rec.body!, 'base64')).digest('hex') !== rec.hash) {
          throw new HttpError(500, 'internal_error', `record ${seq} does not re-encode to the bytes that were hashed`);
        }
      } else prevHash = e.hash;
    }
    if (rec === undefined) throw new HttpError(404, 'not_found', `record ${seq} does not exist`, 'seq');
    const p = audit.inclusionProof(seq, cp);
    return {
      format: 'bulwark-audit-inclusion-proof/v1',
      seq,
      leafIndex: p.leafIndex,
      treeSize: cp.treeSize,
      record: { kind: rec.kind, tsNs: rec.tsNs, time: rec.time, type: rec.type, hash: rec.hash, body: rec.body },
      leafHash: recordLeafHash(Buffer.from(rec.hash, 'hex')).toString('hex'),
      auditPath: p.auditPath.map((h) => h.toString('hex')),
      checkpoint: cp,
    };
  });
}
