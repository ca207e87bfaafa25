/**
 * Test scaffolding for the audit trail: a journal written through the real Journal and AuditTrail
 * without a whole node, small segments so that tampering can hit any of them, and a minimal
 * parser of the documented segment format for the tamper tests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ManualClock } from '../../src/core/time.js';
import { Journal, type JournalKind, type JournalPayload } from '../../src/engine/journal.js';
import { AuditTrail, type AuditHost } from '../../src/audit/trail.js';
import type { AuditConfig } from '../../src/audit/config.js';
import type { AuditArchiver } from '../../src/audit/archive.js';
import { Command } from 'commander';
import { registerAuditCommands, type CliIo } from '../../src/audit/cli.js';

/**
 * `bulwark <args>` with the audit commands, run in this process with its output captured. `env`
 * is what the commands see as their environment; `processEnv` is set in process.env for the run
 * only (the AWS SDK reads its credentials there, as in production). An argument error rejects.
 */
export async function runAuditCli(args: string[], env: NodeJS.ProcessEnv = {}, processEnv: Record<string, string> = {}): Promise<{ out: string; err: string; code: number }> {
  const r = { out: '', err: '', code: 0 };
  const io: CliIo = { out: (s) => (r.out += s), err: (s) => (r.err += s), setExitCode: (c) => (r.code = c), env };
  const program = new Command().exitOverride();
  registerAuditCommands(program, io);
  const saved = { ...process.env };
  Object.assign(process.env, processEnv);
  try {
    await program.parseAsync(['node', 'bulwark', ...args]);
  } finally {
    process.env = saved;
  }
  return r;
}

export const ACTORS = [
  { id: 'dev-trader', role: 'trader', channel: 'api', address: '10.0.0.7' },
  { id: 'dev-risk', role: 'risk_manager', channel: 'console', address: '10.0.0.9' },
  { id: 'mm-simx', channel: 'strategy' },
];

/** A plausible record: orders by several actors, fills, risk rejections, notes. */
export function samplePayload(i: number): { kind: JournalKind; payload: JournalPayload } {
  const orderId = `O${Math.floor(i / 3)}`;
  switch (i % 6) {
    case 0:
      return { kind: 'input', payload: { type: 'cmd.order.new', actor: ACTORS[i % 3]!, order: { symbol: 'AAPL', venue: 'SIMX', side: 'buy', type: 'limit', quantity: '10', price: `${100 + (i % 7)}.25`, clientOrderId: `c${i}`, account: 'FIRM-1' } } };
    case 1:
      return { kind: 'event', payload: { type: 'order.created', actor: ACTORS[i % 3]!, order: { id: orderId, clOrdId: orderId, status: 'PendingNew', quantity: '10' } } };
    case 2:
      return { kind: 'input', payload: { type: 'exec', r: { venue: 'SIMX', execId: `E${i}`, clOrdId: orderId, execType: 'trade', lastQty: '10', lastPx: '100.25' } } };
    case 3:
      return { kind: 'event', payload: { type: 'fill', fill: { id: `F${i}`, orderId, quantity: '10', price: '100.25' } } };
    case 4:
      return { kind: 'event', payload: { type: 'order.rejected', actor: ACTORS[1]!, reason: 'MAX_ORDER_QTY', detail: { limit: '1000', requested: '5000' }, order: { id: `${orderId}R` } } };
    default:
      return { kind: 'input', payload: { type: 'timer' } };
  }
}

export interface WrittenJournal {
  dataDir: string;
  lastSeq: number;
  checkpoints: number;
  keyId: string;
  publicPem: string;
}

export interface WriterOptions {
  records: number;
  segmentBytes?: number;
  checkpointEvery?: number;
  /** Called between records (seq of the record about to be written) to vary payloads. */
  payload?: (i: number) => { kind: JournalKind; payload: JournalPayload };
  clockStart?: bigint;
  archiver?: AuditArchiver;
  /** Where the tree is hashed; inline keeps tests fast, the node uses the worker. */
  tree?: 'worker' | 'inline';
}

/**
 * Appends `records` records (plus the trail's own notes) through Journal + AuditTrail, letting the
 * trail absorb durable records and checkpoint as it would in a node, then closes both.
 */
export async function writeAuditedJournal(dataDir: string, o: WriterOptions): Promise<WrittenJournal> {
  const journal = await Journal.open(path.join(dataDir, 'journal'), { segmentBytes: o.segmentBytes ?? 16 * 1024, fsync: false });
  const clock = new ManualClock(o.clockStart ?? 1_795_000_000_000_000_000n);
  const listeners: ((seq: number) => void)[] = [];
  let seq = journal.lastSeq;
  const append = (kind: JournalKind, payload: JournalPayload): number => {
    clock.advance(1_000_000n);
    seq++;
    journal.append(kind, seq, clock.now(), payload);
    for (const l of listeners) l(seq);
    return seq;
  };
  const host: AuditHost = {
    journal,
    onAppend: (l) => listeners.push(l),
    note: (event, detail) => {
      const s = append('input', { type: 'system.note', event, detail });
      const e = append('event', { type: 'system.note', event, detail });
      return { seq: s, lastSeq: e };
    },
    now: () => clock.now(),
    log: () => {},
  };
  const config: AuditConfig = { checkpoint: { everyRecords: o.checkpointEvery ?? 100, everySeconds: 3600 } };
  const trail = await AuditTrail.open(host, { dataDir, origin: 'test-node', environment: 'dev', config, tree: o.tree ?? 'inline', ...(o.archiver !== undefined ? { archiver: o.archiver } : {}) });
  trail.start();
  const make = o.payload ?? samplePayload;
  for (let i = 0; i < o.records; i++) {
    const r = make(i);
    append(r.kind, r.payload);
    if (i % 25 === 24) {
      // durable, absorbed, and any checkpoint that triggered written: deterministic checkpoints
      await journal.flush();
      await nextTurn();
      await nextTurn();
      await trail.whenIdle();
    }
  }
  await trail.close();
  await journal.close();
  return { dataDir, lastSeq: seq, checkpoints: trail.status.checkpoints, keyId: trail.key.keyId, publicPem: trail.key.publicPem };
}

export interface Frame {
  seq: number;
  offset: number;
  /** Frame length: 8-byte prefix + body. */
  length: number;
}

export interface SegmentFrames {
  file: string;
  firstSeq: number;
  frames: Frame[];
}

/** Parses segment files per docs/journal-format.md (no checks: tests tamper with them). */
export function readFrames(journalDir: string): SegmentFrames[] {
  const out: SegmentFrames[] = [];
  for (const name of fs.readdirSync(journalDir).filter((n) => /^\d{20}\.seg$/.test(n)).sort()) {
    const file = path.join(journalDir, name);
    const buf = fs.readFileSync(file);
    const frames: Frame[] = [];
    let off = 64;
    while (off + 8 <= buf.length) {
      const len = buf.readUInt32LE(off);
      if (off + 8 + len > buf.length) break;
      const seq = buf.readUInt32LE(off + 8 + 2) + buf.readUInt32LE(off + 8 + 6) * 2 ** 32;
      frames.push({ seq, offset: off, length: 8 + len });
      off += 8 + len;
    }
    out.push({ file, firstSeq: Number(name.slice(0, 20)), frames });
  }
  return out;
}

export function findFrame(journalDir: string, seq: number): { file: string; frame: Frame; segment: SegmentFrames } {
  for (const s of readFrames(journalDir)) {
    const f = s.frames.find((x) => x.seq === seq);
    if (f !== undefined) return { file: s.file, frame: f, segment: s };
  }
  throw new Error(`seq ${seq} not found`);
}

/** Rewrites a (read-only) segment file with new bytes. */
export function rewrite(file: string, buf: Buffer): void {
  fs.chmodSync(file, 0o644);
  fs.writeFileSync(file, buf);
}

/** Recomputes a frame's CRC after its body was changed (what a careful forger would do). */
export function fixCrc(buf: Buffer, frameOffset: number): void {
  const len = buf.readUInt32LE(frameOffset);
  buf.writeUInt32LE(crc32(buf.subarray(frameOffset + 8, frameOffset + 8 + len)), frameOffset + 4);
}

export function copyDir(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
  // copies keep the read-only mode of sealed segments; tests need to write them
}
