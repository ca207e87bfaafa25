/**
 * Journal records as the audit trail presents them: who acted, which orders a record concerns,
 * its exact body bytes (for proofs and exports that an outside tool re-hashes), and where in the
 * journal a point in time falls.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatNanos } from '../core/time.js';
import { RECORD_BODY_FIXED_BYTES, RECORD_PREFIX_BYTES, SEGMENT_HEADER_BYTES, type JournalEntry, type JournalPayload } from '../engine/journal.js';

const KIND_CODE = { input: 1, event: 2 } as const;

/**
 * The record body exactly as the journal wrote it (docs/journal-format.md): version 1, kind, seq,
 * ts, prevHash, then the payload as JSON.stringify wrote it. Re-serializing the parsed payload
 * reproduces the original bytes because the writer used JSON.stringify too; callers that need
 * certainty compare SHA-256 of the result with the record's hash (proofs do).
 */
export function encodeRecordBody(e: Pick<JournalEntry, 'seq' | 'ts' | 'kind' | 'payload'>, prevHash: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(e.payload), 'utf8');
  const body = Buffer.alloc(RECORD_BODY_FIXED_BYTES + json.length);
  body[0] = 1;
  body[1] = KIND_CODE[e.kind];
  body.writeUInt32LE(e.seq % 2 ** 32, 2);
  body.writeUInt32LE(Math.floor(e.seq / 2 ** 32), 6);
  body.writeBigInt64LE(e.ts, 10);
  prevHash.copy(body, 18);
  json.copy(body, RECORD_BODY_FIXED_BYTES);
  return body;
}

export interface ActorView {
  id: string;
  role?: string;
  channel?: string;
  address?: string;
}

/**
 * The actor of a record: payload.actor when present (commands and the events they cause). This is
 * also the rule for the audit_log.actor_id column (null when there is none).
 */
export function actorOf(p: JournalPayload): ActorView | null {
  const a = p.actor;
  if (typeof a === 'object' && a !== null && typeof (a as { id?: unknown }).id === 'string') return a as ActorView;
  return null;
}

export function actorIdOf(p: JournalPayload): string | null {
  return actorOf(p)?.id ?? null;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Payload fields that list orders (ids, or objects with an id). */
const LIST_FIELDS = ['orders', 'massCancelledOrders', 'uncertainOrders', 'timedOut'] as const;

/**
 * Order ids a record concerns: commands and events name them directly; execution reports carry
 * the venue-facing clOrdId, which is the order id or "<order id>-C<n>" for a cancel request.
 */
export function orderIdsOf(p: JournalPayload): string[] {
  const ids: string[] = [];
  const add = (v: unknown): void => {
    const s = str(v);
    if (s === undefined || s === '') return;
    const m = /^(.*)-C\d+$/.exec(s);
    ids.push(s);
    if (m !== null) ids.push(m[1]!);
  };
  add(p.orderId);
  add(p.newOrderId);
  const o = p.order as Record<string, unknown> | undefined;
  if (typeof o === 'object' && o !== null) {
    add(o.id);
    add(o.replacesId);
    add(o.replacedById);
  }
  const f = p.fill as Record<string, unknown> | undefined;
  if (typeof f === 'object' && f !== null) add(f.orderId);
  // execution reports: one ('exec') or several that arrived together ('exec.batch')
  const reports = Array.isArray(p.rs) ? (p.rs as unknown[]) : [p.r];
  for (const r of reports) {
    if (typeof r !== 'object' || r === null) continue;
    add((r as Record<string, unknown>).clOrdId);
    add((r as Record<string, unknown>).origClOrdId);
  }
  // a mass cancel report: every order it cancelled
  const m = p.r as { affected?: unknown } | undefined;
  if (typeof m === 'object' && m !== null && Array.isArray(m.affected)) {
    for (const a of m.affected as unknown[]) if (typeof a === 'object' && a !== null) add((a as Record<string, unknown>).clOrdId);
  }
  add(p.clOrdId);
  // records about many orders: a mass cancel's booking (order.massCanceled: objects with an id), the
  // orders the kill switch's mass cancels cover or that it escalated, the orders a recovery waited on
  for (const field of LIST_FIELDS) {
    const list = p[field];
    if (!Array.isArray(list)) continue;
    for (const o of list as unknown[]) add(typeof o === 'object' && o !== null ? (o as Record<string, unknown>).id : o);
  }
  return ids;
}

export interface AuditRecordView {
  seq: number;
  /** Epoch nanoseconds, decimal string. */
  tsNs: string;
  /** The same instant, ISO-8601 UTC with nine fractional digits. */
  time: string;
  kind: 'input' | 'event';
  type: string;
  actor: ActorView | null;
  prevHash: string;
  hash: string;
  payload: JournalPayload;
  /** base64 of the record body, when asked for (exports meant for re-hashing). */
  body?: string;
}

export function recordView(e: JournalEntry, prevHash: Buffer, withBody = false): AuditRecordView {
  const v: AuditRecordView = {
    seq: e.seq,
    tsNs: e.ts.toString(),
    time: formatNanos(e.ts),
    kind: e.kind,
    type: e.payload.type,
    actor: actorOf(e.payload),
    prevHash: prevHash.toString('hex'),
    hash: e.hash.toString('hex'),
    payload: e.payload,
  };
  if (withBody) v.body = encodeRecordBody(e, prevHash).toString('base64');
  return v;
}

// ---------------------------------------------------------------------------------------------
// Locating records by time without reading the journal: each segment's first record's ts
// ---------------------------------------------------------------------------------------------

export interface SegmentInfo {
  name: string;
  firstSeq: number;
  /** ts of the segment's first record; undefined for a segment with no complete first record. */
  firstTs: bigint | undefined;
}

const SEGMENT_NAME_RE = /^(\d{20})\.seg$/;

export function listSegments(journalDir: string): SegmentInfo[] {
  const out: SegmentInfo[] = [];
  for (const name of fs.readdirSync(journalDir)) {
    const m = SEGMENT_NAME_RE.exec(name);
    if (m === null) continue;
    const firstSeq = Number(m[1]);
    let firstTs: bigint | undefined;
    const need = SEGMENT_HEADER_BYTES + RECORD_PREFIX_BYTES + RECORD_BODY_FIXED_BYTES;
    const buf = Buffer.alloc(need);
    const fd = fs.openSync(path.join(journalDir, name), 'r');
    try {
      // a pre-allocated active segment is zero-filled after its header: a zero length is no record yet
      if (fs.readSync(fd, buf, 0, need, 0) === need && buf.readUInt32LE(SEGMENT_HEADER_BYTES) !== 0) {
        firstTs = buf.readBigInt64LE(SEGMENT_HEADER_BYTES + RECORD_PREFIX_BYTES + 10);
      }
    } finally {
      fs.closeSync(fd);
    }
    out.push({ name, firstSeq, firstTs });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

/**
 * A seq at or before the first record stamped at or after `ts`: the first seq of the last segment
 * whose first record is older than ts. The sequencer's clock only moves forward, so records
 * are in ts order.
 */
export function seqNear(journalDir: string, ts: bigint): number {
  let seq = 1;
  for (const s of listSegments(journalDir)) {
    if (s.firstTs === undefined || s.firstTs >= ts) break;
    seq = s.firstSeq;
  }
  return seq;
}

/** "123" is a seq; an ISO-8601 date-time or "<digits>ns" is a point in time. */
export type RangeBound = { seq: number } | { ts: bigint };

/**
 * A range whose end comes before its start (both seqs, or both times): a mistake to name, not an
 * empty answer to give. Seq against time cannot be compared without reading the journal; such a
 * range is left to select what it selects. RangeError naming `toWhat`.
 */
export function checkRangeOrder(from: RangeBound, to: RangeBound, toWhat: string): void {
  if ('seq' in from && 'seq' in to && to.seq < from.seq) throw new RangeError(`${toWhat}: seq ${to.seq} is before the start of the range (seq ${from.seq})`);
  if ('ts' in from && 'ts' in to && to.ts < from.ts) throw new RangeError(`${toWhat}: ${formatNanos(to.ts)} is before the start of the range (${formatNanos(from.ts)})`);
}

export function parseRangeBound(s: string, what: string): RangeBound {
  const t = s.trim();
  if (/^\d{1,16}$/.test(t)) {
    const n = Number(t);
    if (Number.isSafeInteger(n) && n >= 1) return { seq: n };
  }
  if (/^\d{1,19}ns$/.test(t)) return { ts: BigInt(t.slice(0, -2)) };
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?$/.exec(t);
  if (m !== null) {
    const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${m[4] ?? 'Z'}`);
    if (Number.isFinite(ms)) {
      const frac = (m[3] ?? '').padEnd(9, '0');
      return { ts: BigInt(ms) * 1_000_000n + BigInt(frac) };
    }
  }
  throw new RangeError(`${what}: "${s}" is neither a sequence number (1, 2, ...) nor an ISO-8601 time (2026-11-28T09:30:00Z) nor epoch nanoseconds ("<digits>ns")`);
}

/**
 * A needle searched forward through a segment: one indexOf finds its next occurrence, and every
 * record before that one is passed by without a search of its own.
 */
export class Needle {
  private segment: Buffer | undefined;
  /** Next occurrence in `segment` at or after the last position asked for; -1 when none is left. */
  private at = -1;

  constructor(private readonly bytes: Buffer) {}

  /** Whether the needle occurs wholly within segment[from, to). */
  within(segment: Buffer, from: number, to: number): boolean {
    if (segment !== this.segment || (this.at !== -1 && this.at < from)) {
      this.segment = segment;
      this.at = segment.indexOf(this.bytes, from);
    }
    return this.at !== -1 && this.at + this.bytes.length <= to;
  }
}
