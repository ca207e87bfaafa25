/**
 * `bulwark audit export`: a range of records as JSON lines or CSV for an examiner. The range is
 * by seq (`--from 1000 --to 2000`, inclusive) or by time (`--from 2026-11-27T00:00:00Z`,
 * inclusive, `--to` inclusive; ISO-8601 with up to nine fractional digits, or "<digits>ns");
 * the two kinds can be mixed. Every line carries prevHash and hash, so the export chains: record
 * N's prevHash is record N-1's hash. With bodies, each line also carries the exact record body
 * (base64) so an outside tool can recompute SHA-256(body) itself.
 */
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { Journal } from '../engine/journal.js';
import { checkRangeOrder, parseRangeBound, recordView, seqNear, type AuditRecordView, type RangeBound } from './records.js';

export type ExportFormat = 'jsonl' | 'csv';

export interface ExportOptions {
  dataDir: string;
  from?: string;
  to?: string;
  format: ExportFormat;
  withBodies?: boolean;
  out: Writable;
}

export interface ExportResult {
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
}

export const CSV_COLUMNS = ['seq', 'ts_ns', 'time', 'kind', 'type', 'actor_id', 'actor_role', 'actor_channel', 'actor_address', 'prev_hash', 'hash', 'payload'] as const;

/** RFC 4180: quote when needed, double the quotes. */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(v: AuditRecordView, withBody: boolean): string {
  const cells = [
    v.seq,
    v.tsNs,
    v.time,
    v.kind,
    v.type,
    v.actor?.id,
    v.actor?.role,
    v.actor?.channel,
    v.actor?.address,
    v.prevHash,
    v.hash,
    JSON.stringify(v.payload),
  ];
  if (withBody) cells.push(v.body);
  return cells.map(csvField).join(',') + '\r\n';
}

async function write(out: Writable, chunk: string): Promise<void> {
  if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
}

export async function exportRecords(o: ExportOptions): Promise<ExportResult> {
  const journalDir = path.join(o.dataDir, 'journal');
  const from: RangeBound = o.from === undefined ? { seq: 1 } : parseRangeBound(o.from, '--from');
  const to: RangeBound | undefined = o.to === undefined ? undefined : parseRangeBound(o.to, '--to');
  if (to !== undefined) checkRangeOrder(from, to, '--to');
  const startSeq = 'seq' in from ? from.seq : seqNear(journalDir, from.ts);
  const toSeq = to !== undefined && 'seq' in to ? to.seq : undefined;
  const fromTs = 'ts' in from ? from.ts : undefined;
  const toTs = to !== undefined && 'ts' in to ? to.ts : undefined;
  const withBody = o.withBodies === true;
  const result: ExportResult = { records: 0, firstSeq: null, lastSeq: null };
  if (toSeq !== undefined && toSeq < startSeq) return result;

  if (o.format === 'csv') await write(o.out, [...CSV_COLUMNS, ...(withBody ? ['body'] : [])].join(',') + '\r\n');
  let prevHash: Buffer = Buffer.alloc(32);
  // Start one record early: its hash is the first exported record's prevHash.
  const readFrom = Math.max(1, startSeq - 1);
  for (const e of Journal.read(journalDir, { fromSeq: readFrom, ...(toSeq !== undefined ? { toSeq } : {}), verify: true })) {
    if (e.seq < startSeq || (fromTs !== undefined && e.ts < fromTs)) {
      prevHash = e.hash;
      continue;
    }
    if (toTs !== undefined && e.ts > toTs) break;
    const v = recordView(e, prevHash, withBody);
    await write(o.out, o.format === 'csv' ? csvRow(v, withBody) : JSON.stringify(v) + '\n');
    result.records++;
    result.firstSeq ??= e.seq;
    result.lastSeq = e.seq;
    prevHash = e.hash;
  }
  return result;
}
