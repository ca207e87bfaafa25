/**
 * The event journal: the system of record. Every input the sequencer stamps, and every event the
 * core derives from it, is appended here before its effects leave the process; state is a fold
 * over these records.
 *
 * On disk it is a directory of append-only segment files. Each record carries a CRC-32 of its body
 * (to tell a torn write from a good one) and the SHA-256 of the previous record's body (so the
 * whole journal is one hash chain an examiner can verify). The exact bytes are documented in
 * docs/journal-format.md.
 *
 * Writing uses group commit: `append` only encodes into an in-memory batch (shared memory) and
 * returns, so the hot path never waits. A flush loop hands each batch to the journal I/O thread
 * (journal-io-thread.ts), which writes it with one `pwritev` and `fdatasync`s it without coming
 * back to this thread in between, merging whatever queued while it synced; batches are reported
 * durable strictly in order. When the disk is slow, batches grow instead of latency exploding.
 * Callers learn durability through `durableSeq`, `durableAt`, `whenDurable` and `onDurable`.
 * (With an `io` that has no thread, the flush loop writes through libuv and keeps a bounded
 * pipeline of syncs in flight instead.)
 *
 * Segments are pre-allocated: once the active segment is an eighth full, the next segment's file
 * is created, zero-filled and synced in the background (paced by the journal's own write rate),
 * and a roll moves it into place (link, unlink), so steady-state writes overwrite allocated
 * blocks and a sync has no file size or extent to commit. The active segment therefore ends in
 * zeros; sealing truncates it to its data.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { writeOnIoThread, type ThreadWriteResult } from './journal-io-thread.js';

// ---------------------------------------------------------------------------------------------
// Record model
// ---------------------------------------------------------------------------------------------

export type JournalKind = 'input' | 'event';

/** JSON-safe: decimals travel as strings and nothing inside is a bigint. */
export interface JournalPayload {
  type: string;
  [k: string]: unknown;
}

export interface JournalRecord {
  seq: number;
  /** Epoch nanoseconds stamped by the sequencer. */
  ts: bigint;
  kind: JournalKind;
  payload: JournalPayload;
}

/** A record as read back: `hash` is the SHA-256 of its body, the next record's `prevHash`. */
export interface JournalEntry extends JournalRecord {
  hash: Buffer;
}

/**
 * A record as Journal.frames returns it: its header fields and where its payload (the JSON text as
 * journaled, UTF-8) lies in the segment as read, not parsed. For readers that look at most records
 * only to pass them by: framePayload and framePrevHash take out what the few others need.
 */
export interface JournalFrame {
  seq: number;
  ts: bigint;
  kind: JournalKind;
  hash: Buffer;
  /** The whole segment as read (shared by its frames: search it, do not keep it). */
  segment: Buffer;
  /** The record's body is segment[body, end); its payload starts at payloadStart. */
  body: number;
  payloadStart: number;
  end: number;
}

/** A frame's payload, parsed as Journal.read parses it; throws when it is not a JSON object with a string "type". */
export function framePayload(f: JournalFrame): JournalPayload {
  const p = parsePayload(f.segment, f.payloadStart, f.end);
  if (p === undefined) throw new Error(`journal record ${f.seq}: payload is not a JSON object with a string "type"`);
  return p;
}

/** A frame's prevHash field (the hash of seq - 1), copied out of the segment. */
export function framePrevHash(f: JournalFrame): Buffer {
  return Buffer.from(f.segment.subarray(f.body + B_PREV, f.body + B_PREV + HASH_BYTES));
}

// ---------------------------------------------------------------------------------------------
// Format constants (docs/journal-format.md)
// ---------------------------------------------------------------------------------------------

export const JOURNAL_FORMAT_VERSION = 1;
export const SEGMENT_MAGIC = 'BLWKJRNL';
export const SEGMENT_HEADER_BYTES = 64;
/** Length (u32) + CRC-32 (u32) in front of every record body. */
export const RECORD_PREFIX_BYTES = 8;
/** version, kind, seq, ts, prevHash: everything in a body before the payload. */
export const RECORD_BODY_FIXED_BYTES = 50;
export const MAX_RECORD_BODY_BYTES = 256 * 1024 * 1024;
export const HASH_BYTES = 32;

const MAGIC = Buffer.from(SEGMENT_MAGIC, 'latin1');
const KIND_INPUT = 1;
const KIND_EVENT = 2;
const ZERO_HASH: Buffer = Buffer.alloc(HASH_BYTES);
const SEGMENT_NAME_RE = /^(\d{20})\.seg$/;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const TWO_32 = 4294967296;

// Body field offsets.
const B_VERSION = 0;
const B_KIND = 1;
const B_SEQ = 2;
const B_TS = 10;
const B_PREV = 18;
const B_PAYLOAD = RECORD_BODY_FIXED_BYTES;

// Segment header field offsets.
const H_VERSION = 8;
const H_LENGTH = 10;
const H_FIRST_SEQ = 16;
const H_PREV = 24;
const H_CRC = 60;

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;
const MIN_SEGMENT_BYTES = 1024;
/** Appends are encoded into chunks of this size; a batch is a list of slices of them. */
const CHUNK_BYTES = 1024 * 1024;
/** Written-out chunks kept for reuse: steady appends then allocate nothing but the record hash. */
const MAX_FREE_CHUNKS = 8;
/** Linux IOV_MAX: most buffers one writev accepts. */
const IOV_MAX = 1024;
/** Batches whose fdatasync may be in flight at once (see JournalOptions.syncsInFlight). */
const DEFAULT_SYNCS_IN_FLIGHT = 2;
const MAX_SYNCS_IN_FLIGHT = 8;
/**
 * The next segment, zero-filled ahead of use. Its name does not match the segment pattern (nor
 * end in `.seg`), so nothing but the writer ever sees it; open removes a leftover one.
 */
export const PREPARED_SEGMENT_NAME = 'next-segment.prep';
/**
 * Zero-fill in writes of this size, each synced on its own (one big flush would hold up the
 * journal's syncs behind it), pausing in between. 256 KiB rather than 1 MiB since the I/O thread
 * (2026-11-28, 50k records/s, three runs each: durable p99 2.4-3.1 ms against 3.3-3.7 ms).
 */
const PREPARE_CHUNK_BYTES = 256 * 1024;
/**
 * Pacing: the zero-fill may run ahead of the journal by this much, then writes at most
 * PREPARE_PACE bytes per byte the journal writes. Started at an eighth of the segment, it is done
 * by about half (so a roll never waits), and a slow disk is never handed a burst of zeros.
 */
const PREPARE_HEAD_START_BYTES = 4 * 1024 * 1024;
const PREPARE_PACE = 2;
/** Start preparing the next segment once the active one holds this fraction of segmentBytes. */
const PREPARE_AT_FRACTION = 1 / 8;

/**
 * SHA-256 as a 32-character latin1 string (one character per byte), by one-shot hashing (Node >=
 * 20.12; about half the cost of createHash() for a record-sized input). A string result costs a
 * third of a Buffer one, which Node allocates from C++ on every call (measured on Node 20 for a
 * 300-byte record: 0.6-0.9 us against 1.2-2.7 us). The append path keeps the chain this way and
 * writes it into the next record's prevHash field with a latin1 write.
 */
function sha256Latin1(data: Buffer): string {
  return crypto.hash('sha256', data, 'binary');
}

/** The same digest in a Buffer of its own (from the pool, not from C++): for the readers' entries. */
function sha256(data: Buffer): Buffer {
  const h = Buffer.allocUnsafe(HASH_BYTES);
  h.write(sha256Latin1(data), 0, HASH_BYTES, 'latin1');
  return h;
}

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.seg`;
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** The journal on disk is not what was written: refuses open and fails reads. */
export class JournalCorruptError extends Error {
  constructor(
    /** Segment file name, e.g. 00000000000000000001.seg */
    readonly segment: string,
    /** The first seq that cannot be trusted (everything before it verified). */
    readonly seq: number,
    /** Byte offset in the segment where the problem was found. */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`journal segment ${segment}, seq ${seq}, offset ${offset}: ${reason}`);
    this.name = 'JournalCorruptError';
  }
}

/** An append whose seq is not exactly lastSeq + 1. Nothing was appended. */
export class JournalSequenceError extends Error {
  constructor(
    readonly expected: number,
    readonly got: number,
  ) {
    super(`journal append out of sequence: expected seq ${expected}, got ${got}`);
    this.name = 'JournalSequenceError';
  }
}

/** The disk refused a write or sync. The journal stops: nothing after this is durable. */
export class JournalWriteError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'JournalWriteError';
  }
}

// ---------------------------------------------------------------------------------------------
// Low-level encoding and checks shared by writer, recovery, reader and verifier
// ---------------------------------------------------------------------------------------------

function writeU64(buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / TWO_32), off + 4);
}

/** Returns -1 when the value does not fit a JS safe integer. */
function readU64(buf: Buffer, off: number): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi > 0x1fffff) return -1;
  return hi * TWO_32 + buf.readUInt32LE(off);
}

function encodeSegmentHeader(firstSeq: number, prevHash: Buffer | string): Buffer {
  const h = Buffer.alloc(SEGMENT_HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeUInt16LE(JOURNAL_FORMAT_VERSION, H_VERSION);
  h.writeUInt16LE(SEGMENT_HEADER_BYTES, H_LENGTH);
  writeU64(h, H_FIRST_SEQ, firstSeq);
  if (typeof prevHash === 'string') h.write(prevHash, H_PREV, HASH_BYTES, 'latin1');
  else prevHash.copy(h, H_PREV);
  h.writeUInt32LE(crc32(h.subarray(0, H_CRC)), H_CRC);
  return h;
}

interface SegmentHeader {
  firstSeq: number;
  prevHash: Buffer;
}

/** A parsed header, or the reason it is not one. */
function decodeSegmentHeader(buf: Buffer, nameSeq: number): SegmentHeader | string {
  if (buf.length < SEGMENT_HEADER_BYTES) {
    return `segment is ${buf.length} bytes, shorter than its ${SEGMENT_HEADER_BYTES}-byte header`;
  }
  if (buf.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) !== 0) return 'bad magic (not a journal segment)';
  const version = buf.readUInt16LE(H_VERSION);
  if (version !== JOURNAL_FORMAT_VERSION) return `unsupported segment format version ${version}`;
  const length = buf.readUInt16LE(H_LENGTH);
  if (length !== SEGMENT_HEADER_BYTES) return `unexpected header length ${length}`;
  if (crc32(buf.subarray(0, H_CRC)) !== buf.readUInt32LE(H_CRC)) return 'segment header checksum mismatch';
  const firstSeq = readU64(buf, H_FIRST_SEQ);
  if (firstSeq !== nameSeq) return `header says first seq ${firstSeq} but the file name says ${nameSeq}`;
  return { firstSeq, prevHash: buf.subarray(H_PREV, H_PREV + HASH_BYTES) };
}

const FRAME_INCOMPLETE = -1;
const FRAME_BAD_LENGTH = -2;
const FRAME_BAD_CHECKSUM = -3;

/** Body length of the frame at `off` if it is in range and complete, else a FRAME_* code. */
function frameLength(buf: Buffer, off: number, end: number): number {
  if (end - off < RECORD_PREFIX_BYTES) return FRAME_INCOMPLETE;
  const len = buf.readUInt32LE(off);
  if (len < RECORD_BODY_FIXED_BYTES || len > MAX_RECORD_BODY_BYTES) return FRAME_BAD_LENGTH;
  if (end - off - RECORD_PREFIX_BYTES < len) return FRAME_INCOMPLETE;
  return len;
}

/** Body length of the frame at `off` if it is complete and its checksum holds, else a FRAME_* code. */
function inspectFrame(buf: Buffer, off: number, end: number): number {
  const len = frameLength(buf, off, end);
  if (len < 0) return len;
  const bodyStart = off + RECORD_PREFIX_BYTES;
  if (crc32(buf.subarray(bodyStart, bodyStart + len)) !== buf.readUInt32LE(off + 4)) return FRAME_BAD_CHECKSUM;
  return len;
}

function frameProblem(code: number): string {
  if (code === FRAME_INCOMPLETE) return 'incomplete record (cut off before its declared length)';
  if (code === FRAME_BAD_LENGTH) return 'record length field out of range';
  return 'record checksum mismatch';
}

/**
 * Whether any well-formed record starts after `from`. This is what separates a torn tail (garbage
 * or zeros to the end of the file) from damage in the middle of the journal.
 */
function hasValidFrameAfter(buf: Buffer, from: number, end: number): boolean {
  // A frame holds a non-zero version byte, so none starts in a run of zeros reaching the end.
  const lastStart = nonZeroEnd(buf, from);
  for (let o = from; o < lastStart && o + RECORD_PREFIX_BYTES + RECORD_BODY_FIXED_BYTES <= end; o++) {
    const len = buf.readUInt32LE(o);
    if (len < RECORD_BODY_FIXED_BYTES || len > end - o - RECORD_PREFIX_BYTES) continue;
    const b = o + RECORD_PREFIX_BYTES;
    if (buf[b + B_VERSION] !== JOURNAL_FORMAT_VERSION) continue;
    const kind = buf[b + B_KIND];
    if (kind !== KIND_INPUT && kind !== KIND_EVENT) continue;
    if (crc32(buf.subarray(b, b + len)) === buf.readUInt32LE(o + 4)) return true;
  }
  return false;
}

const ZERO_BLOCK: Buffer = Buffer.alloc(64 * 1024);

/** Whether buf[from, to) is all zero bytes (memcmp against a zero block, not a byte loop). */
function isZeroRange(buf: Buffer, from: number, to: number): boolean {
  for (let o = from; o < to; o += ZERO_BLOCK.length) {
    const n = Math.min(ZERO_BLOCK.length, to - o);
    if (buf.compare(ZERO_BLOCK, 0, n, o, o + n) !== 0) return false;
  }
  return true;
}

function isAllZero(buf: Buffer): boolean {
  return isZeroRange(buf, 0, buf.length);
}

/**
 * Whether the data of a segment ends at `off`: a record boundary from which every remaining byte
 * is zero. Only the last (active, pre-allocated) segment may end this way.
 */
function isZeroTail(buf: Buffer, off: number): boolean {
  if (off >= buf.length) return false;
  if (buf.length - off >= 4 && buf.readUInt32LE(off) !== 0) return false;
  return isZeroRange(buf, off, buf.length);
}

/** Offset just past the last non-zero byte at or after `from` (`from` when there is none). */
function nonZeroEnd(buf: Buffer, from: number): number {
  let end = buf.length;
  while (end > from) {
    const start = Math.max(from, end - ZERO_BLOCK.length);
    if (buf.compare(ZERO_BLOCK, 0, end - start, start, end) !== 0) {
      while (buf[end - 1] === 0) end--;
      return end;
    }
    end = start;
  }
  return from;
}

function parsePayload(buf: Buffer, start: number, end: number): JournalPayload | undefined {
  return parsePayloadText(buf.toString('utf8', start, end));
}

/** A payload's JSON text parsed as journaled payloads are: an object with a string "type"; else undefined. */
export function parsePayloadText(text: string): JournalPayload | undefined {
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof p !== 'object' || p === null || typeof (p as { type?: unknown }).type !== 'string') return undefined;
  return p as JournalPayload;
}

interface SegmentFile {
  name: string;
  path: string;
  firstSeq: number;
}

function toSegmentFiles(dir: string, names: string[]): SegmentFile[] {
  const out: SegmentFile[] = [];
  for (const name of names) {
    const m = SEGMENT_NAME_RE.exec(name);
    if (m === null) continue;
    const firstSeq = Number(m[1]);
    if (!Number.isSafeInteger(firstSeq)) {
      throw new JournalCorruptError(name, 0, 0, 'segment file name is beyond the safe seq range');
    }
    out.push({ name, path: path.join(dir, name), firstSeq });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Hash chain position while scanning: the seq expected next and the hash it must point back to. */
interface ChainState {
  nextSeq: number;
  lastHash: Buffer;
}

type ScanResult =
  | { ok: true; records: number; end: number }
  | {
      ok: false;
      /** 'header': the segment header; 'frame': length/checksum (a torn write looks like this);
       *  'content': a checksummed record that is nonetheless wrong (seq, chain, payload). */
      stage: 'header' | 'frame' | 'content';
      seq: number;
      offset: number;
      reason: string;
      records: number;
    };

/**
 * Validates one segment held in memory against the chain so far and advances the chain. Used by
 * recovery (open) and by verifyJournal; the reader has its own loop so that it can yield.
 */
function scanSegment(buf: Buffer, seg: SegmentFile, chain: ChainState, checkPayload: boolean, zeroTailOk: boolean): ScanResult {
  const header = decodeSegmentHeader(buf, seg.firstSeq);
  if (typeof header === 'string') {
    return { ok: false, stage: 'header', seq: chain.nextSeq, offset: 0, reason: header, records: 0 };
  }
  if (header.firstSeq !== chain.nextSeq) {
    const reason =
      header.firstSeq > chain.nextSeq
        ? `segment starts at seq ${header.firstSeq} but seq ${chain.nextSeq} was expected (gap)`
        : `segment starts at seq ${header.firstSeq} but seq ${chain.nextSeq} was expected (overlap)`;
    return { ok: false, stage: 'header', seq: chain.nextSeq, offset: 0, reason, records: 0 };
  }
  if (!header.prevHash.equals(chain.lastHash)) {
    return {
      ok: false,
      stage: 'header',
      seq: Math.max(1, chain.nextSeq - 1),
      offset: H_PREV,
      reason: `hash chain broken: the header's prevHash is not the hash of seq ${chain.nextSeq - 1}`,
      records: 0,
    };
  }
  const end = buf.length;
  let off = SEGMENT_HEADER_BYTES;
  let records = 0;
  while (off < end) {
    if (zeroTailOk && buf[off] === 0 && isZeroTail(buf, off)) return { ok: true, records, end: off };
    let len = frameLength(buf, off, end);
    const b = off + RECORD_PREFIX_BYTES;
    let hash: Buffer | undefined;
    if (len >= 0) {
      hash = verifiedBodyHash(buf, off, len, end);
      if (hash === undefined) len = FRAME_BAD_CHECKSUM;
    }
    if (len < 0 || hash === undefined) {
      return { ok: false, stage: 'frame', seq: chain.nextSeq, offset: off, reason: frameProblem(len), records };
    }
    const content = checkBody(buf, b, b + len, chain, checkPayload);
    if (content !== undefined) return { ok: false, stage: 'content', seq: content.seq, offset: off, reason: content.reason, records };
    chain.lastHash = hash;
    chain.nextSeq++;
    records++;
    off = b + len;
  }
  return { ok: true, records, end };
}

/**
 * The SHA-256 of the body of the frame at `off` (length `len`, already bounds-checked), when the
 * body is authentic as the verifying readers judge it: its successor in the buffer commits to
 * exactly this hash (which spares the CRC for every record but the last of each segment), or else
 * its CRC holds. undefined: the checksum fails.
 */
function verifiedBodyHash(buf: Buffer, off: number, len: number, end: number): Buffer | undefined {
  const b = off + RECORD_PREFIX_BYTES;
  const body = buf.subarray(b, b + len);
  const hash = sha256(body);
  const p = b + len + RECORD_PREFIX_BYTES + B_PREV;
  const vouched = p + HASH_BYTES <= end && buf.compare(hash, 0, HASH_BYTES, p, p + HASH_BYTES) === 0;
  return vouched || crc32(body) === buf.readUInt32LE(off + 4) ? hash : undefined;
}

/**
 * The hash of the record whose body is [b, next), for the unverified readers: the successor's
 * prevHash when the successor's frame checks out (`nextLen` >= 0, from inspectFrame), else computed.
 */
function recordHash(buf: Buffer, b: number, next: number, nextLen: number): Buffer {
  if (nextLen < 0) return sha256(buf.subarray(b, next));
  const hash = Buffer.allocUnsafe(HASH_BYTES);
  const p = next + RECORD_PREFIX_BYTES + B_PREV;
  buf.copy(hash, 0, p, p + HASH_BYTES);
  return hash;
}

/** What is wrong with the header of the record at body `b` for a reader expecting `seq`, if anything. */
function recordHeaderProblem(buf: Buffer, b: number, next: number, seq: number): string | undefined {
  const kindCode = buf[b + B_KIND];
  if (buf[b + B_VERSION] === JOURNAL_FORMAT_VERSION && (kindCode === KIND_INPUT || kindCode === KIND_EVENT) && readU64(buf, b + B_SEQ) === seq) return undefined;
  return checkBody(buf, b, next, { nextSeq: seq, lastHash: buf.subarray(b + B_PREV, b + B_PREV + HASH_BYTES) }, false)?.reason ?? 'malformed record';
}

function chainBrokenReason(seq: number): string {
  return `hash chain broken: prevHash of seq ${seq} is not the hash of seq ${seq - 1} (one of them was altered)`;
}

/** Checks a checksummed body's fields against the chain; returns the problem, if any. */
function checkBody(
  buf: Buffer,
  b: number,
  bodyEnd: number,
  chain: ChainState,
  checkPayload: boolean,
): { seq: number; reason: string } | undefined {
  const expected = chain.nextSeq;
  const version = buf[b + B_VERSION]!;
  if (version !== JOURNAL_FORMAT_VERSION) return { seq: expected, reason: `unsupported record version ${version}` };
  const kind = buf[b + B_KIND]!;
  if (kind !== KIND_INPUT && kind !== KIND_EVENT) return { seq: expected, reason: `unknown record kind ${kind}` };
  const seq = readU64(buf, b + B_SEQ);
  if (seq !== expected) return { seq: expected, reason: `record carries seq ${seq} but seq ${expected} was expected` };
  if (buf.compare(chain.lastHash, 0, HASH_BYTES, b + B_PREV, b + B_PREV + HASH_BYTES) !== 0) {
    // Records before `expected - 1` are vouched for by its prevHash; that record itself is not.
    return {
      seq: Math.max(1, expected - 1),
      reason: `hash chain broken: prevHash of seq ${expected} is not the hash of seq ${expected - 1} (one of them was altered)`,
    };
  }
  if (checkPayload && parsePayload(buf, b + B_PAYLOAD, bodyEnd) === undefined) {
    return { seq: expected, reason: 'payload is not a JSON object with a string "type"' };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// I/O seam: the flush loop's writes and syncs go through this, so tests can count and fail them
// ---------------------------------------------------------------------------------------------

export interface JournalIo {
  /** One vectored write at `position`; resolves with the bytes written (may be short). */
  writev(fd: number, buffers: readonly Buffer[], position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  /**
   * Writes a whole batch at `position` and (with `sync`) fdatasyncs it, off the caller's thread,
   * and says when it was durable. When present, the steady state's batches (no roll, no new
   * segment) go through this instead of writev + fdatasync; `stream` names the journal, and after
   * a failure of one stream every later batch of it is refused unwritten.
   */
  writeAndSync?(stream: number, fd: number, buffers: readonly Buffer[], position: number, sync: boolean): Promise<ThreadWriteResult>;
}

export const nodeJournalIo: JournalIo = {
  writev: (fd, buffers, position) =>
    new Promise((resolve, reject) => {
      fs.writev(fd, buffers, position, (err, written) => (err ? reject(err) : resolve(written)));
    }),
  fdatasync: (fd) =>
    new Promise((resolve, reject) => {
      fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()));
    }),
};

/**
 * The default: steady-state batches on the journal I/O thread (journal-io-thread.ts), the rest
 * (a roll's seal, a new segment's first batch) through libuv as in nodeJournalIo.
 */
export const threadJournalIo: JournalIo = {
  writev: nodeJournalIo.writev,
  fdatasync: nodeJournalIo.fdatasync,
  writeAndSync: writeOnIoThread,
};

/** Batches handed to the I/O thread and not yet reported back, at most (it merges what queues). */
const MAX_THREAD_BATCHES_IN_FLIGHT = 64;
let nextStream = 1;

const openFd = promisify(fs.open);
const closeFd = promisify(fs.close);
const ftruncateFd = promisify(fs.ftruncate);
const fsyncFd = promisify(fs.fsync);
const fdatasyncFd = promisify(fs.fdatasync);
const writeFd = (fd: number, buf: Buffer, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) => {
    fs.write(fd, buf, 0, length, position, (err, written) => (err ? reject(err) : resolve(written)));
  });

const linkPath = promisify(fs.link);
/** Source of the prepared segment's zeros; only ever read. */
const PREPARE_ZEROS: Buffer = Buffer.alloc(PREPARE_CHUNK_BYTES);

/** A timer wait between zero-fill chunks, so the preparation trickles rather than floods. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Closes a segment's write descriptor and its extra sync descriptors. */
async function closeSegmentFds(seg: WriterSegment): Promise<void> {
  const fds = seg.syncFds.includes(seg.fd!) ? seg.syncFds : [seg.fd!, ...seg.syncFds];
  seg.fd = undefined;
  seg.syncFds = [];
  for (const fd of fds) await closeFd(fd);
}

/** Makes creations, removals and truncations in `dir` durable (Linux: fsync on the directory). */
async function fsyncDir(dir: string): Promise<void> {
  const fd = await openFd(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    await closeFd(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

export interface JournalOptions {
  /** Roll to a new segment when the next record would pass this size. Default 64 MiB. */
  segmentBytes?: number;
  /** fdatasync each batch before calling it durable. Default true; false means "written to the OS". */
  fsync?: boolean;
  /** Un-durable bytes above which `backpressure` turns on (off again at half). Default 64 MiB. */
  maxPendingBytes?: number;
  /**
   * Write/sync implementation. Default threadJournalIo (the journal I/O thread); nodeJournalIo
   * runs every write and sync through libuv's pool; tests pass their own for fault injection.
   */
  io?: JournalIo;
  /**
   * For an io without writeAndSync: batches whose fdatasync may be in flight at once (1 to 8,
   * default 2): while one batch syncs, the next is written and its sync started. Durability is
   * still reported strictly in order. 1 is the strictly serial write-sync-write-sync loop. (The
   * I/O thread syncs serially and merges whatever queued meanwhile, so this does not apply to it.)
   */
  syncsInFlight?: number;
  /**
   * Prepare the next segment ahead of time (created, zero-filled to segmentBytes and synced in the
   * background) so that writes overwrite allocated blocks. Default true; ignored without fsync.
   */
  preallocate?: boolean;
}

/** Reported by open when a torn tail was cut away, so the caller can journal the repair. */
export interface JournalRepair {
  segment: string;
  /** Where the valid data ended (the file now ends here; 0 when the segment file was removed). */
  offset: number;
  droppedBytes: number;
  /** Seq the dropped bytes would have had: nothing at or after it was ever durable. */
  seq: number;
  reason: string;
}

export interface JournalStats {
  appends: number;
  /** Group commits: each is one or more writev (one per segment touched) and one fdatasync. */
  batches: number;
  writes: number;
  syncs: number;
  bytesWritten: number;
  largestBatchRecords: number;
  /** Segments started in a pre-allocated (zero-filled) file rather than created empty. */
  preallocatedSegments: number;
}

export type DurableListener = (seq: number) => void;
export type JournalErrorListener = (error: JournalWriteError) => void;
export type BackpressureListener = (active: boolean, pendingBytes: number) => void;

interface WriterSegment {
  name: string;
  path: string;
  /** Logical size including bytes not yet written. */
  size: number;
  records: number;
  /** Writes go here. */
  fd: number | undefined;
  /**
   * Descriptors the pipelined syncs rotate over (fd first), so each in-flight fdatasync has its
   * own open file description: Linux reports a writeback error once per description, and two
   * concurrent syncs on one descriptor could otherwise see it only in the later one.
   */
  syncFds: number[];
  /** Bytes the file holds on disk (data plus a zero tail when pre-allocated). */
  allocated: number;
  /** Read-only: the next append must start a new segment. */
  sealed: boolean;
}

/** A written batch whose fdatasync is in flight or which waits for an earlier batch's. */
interface Commit {
  lastSeq: number;
  bytes: number;
  synced: boolean;
  /** process.hrtime.bigint() when it was found synced (set with synced). */
  at: bigint;
}

/** The next segment file being zero-filled, or ready. */
interface PreparedSegment {
  path: string;
  size: number;
  ready: boolean;
  done: Promise<void>;
}

/** Bytes for one segment within one batch: contiguous from `position`. */
interface BatchPart {
  seg: WriterSegment;
  position: number;
  slices: Buffer[];
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface RecoveredState {
  lastSeq: number;
  lastHash: Buffer;
  active: WriterSegment | undefined;
  repaired: JournalRepair | undefined;
}

/** Directories open for writing in this process: two writers would interleave garbage. */
const openDirs = new Set<string>();

export class Journal {
  /** Set when open cut away a torn tail; journal it so the repair itself is on record. */
  readonly repaired: JournalRepair | undefined;
  readonly dir: string;

  private readonly segmentBytes: number;
  private readonly fsync: boolean;
  private readonly maxPendingBytes: number;
  private readonly io: JournalIo;
  private readonly syncsInFlight: number;
  private readonly preallocate: boolean;
  /** io.writeAndSync: steady-state batches go to the I/O thread. */
  private readonly threaded: boolean;
  /** This journal's stream on the I/O thread. */
  private readonly stream = nextStream++;
  private durableAtValue = 0n;

  private state: 'open' | 'closing' | 'closed' = 'open';
  private failure: JournalWriteError | undefined;
  private lastSeqValue: number;
  /** SHA-256 of the last record's body as a latin1 string (sha256Latin1). */
  private lastHashValue: string;
  private durableSeqValue: number;

  /** Segment receiving appends, and the one whose file the flush loop holds open. */
  private active: WriterSegment | undefined;
  private writing: WriterSegment | undefined;

  // Current batch: parts reference slices of chunks; [sliceStart, chunkPos) is not yet in a part.
  private chunk: Buffer;
  private chunkPos = 0;
  private sliceStart = 0;
  private parts: BatchPart[] = [];
  private curPart: BatchPart | undefined;
  private batchRecords = 0;
  private batchBytes = 0;
  /** Number of the batch being built; batches are written and become durable in this order. */
  private batchNo = 1;
  /** Full chunks waiting for the batches holding their slices to be written, then reused. */
  private retiredChunks: { chunk: Buffer; lastBatch: number }[] = [];
  private freeChunks: Buffer[] = [];

  private pendingBytesValue = 0;
  private backpressureValue = false;
  private flushLoopRunning: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;

  /** Written batches not yet reported durable, in batch order. */
  private commits: Commit[] = [];
  /** Number of commits started through libuv, to pick each one's sync descriptor. */
  private commitNo = 0;
  /** Syncs in flight, so close can wait for them before closing their descriptors. */
  private readonly syncing = new Set<Promise<void>>();
  /** Woken when a sync settles (the flush loop waiting for a free pipeline slot). */
  private syncSettled: (() => void) | undefined;
  private prepared: PreparedSegment | undefined;
  private prepareStopped = false;

  private waiters: Waiter[] = [];
  private waitHead = 0;
  private readonly durableListeners = new Set<DurableListener>();
  private readonly errorListeners = new Set<JournalErrorListener>();
  private readonly backpressureListeners = new Set<BackpressureListener>();

  private readonly statsValue: JournalStats = {
    appends: 0,
    batches: 0,
    writes: 0,
    syncs: 0,
    bytesWritten: 0,
    largestBatchRecords: 0,
    preallocatedSegments: 0,
  };

  private constructor(dir: string, opts: Required<JournalOptions>, recovered: RecoveredState) {
    this.dir = dir;
    this.segmentBytes = opts.segmentBytes;
    this.fsync = opts.fsync;
    this.maxPendingBytes = opts.maxPendingBytes;
    this.io = opts.io;
    this.syncsInFlight = opts.syncsInFlight;
    this.preallocate = opts.preallocate && opts.fsync;
    this.threaded = opts.io.writeAndSync !== undefined;
    this.chunk = this.allocChunk(CHUNK_BYTES);
    this.lastSeqValue = recovered.lastSeq;
    this.lastHashValue = recovered.lastHash.toString('latin1');
    this.durableSeqValue = recovered.lastSeq;
    this.active = recovered.active;
    this.writing = recovered.active?.fd === undefined ? undefined : recovered.active;
    this.repaired = recovered.repaired;
  }

  /**
   * Opens (creating if needed) the journal in `dir`: validates every segment header, record
   * checksum, seq and hash link; cuts away a torn tail (reported in `repaired`); refuses with a
   * JournalCorruptError naming segment and seq for damage anywhere else.
   */
  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    const opts = resolveOptions(options);
    const abs = path.resolve(dir);
    if (openDirs.has(abs)) throw new Error(`journal ${abs} is already open in this process`);
    openDirs.add(abs);
    try {
      await fsp.mkdir(abs, { recursive: true });
      const recovered = await recover(abs, opts.fsync);
      return new Journal(abs, opts, recovered);
    } catch (e) {
      openDirs.delete(abs);
      throw e;
    }
  }

  get lastSeq(): number {
    return this.lastSeqValue;
  }

  /** SHA-256 of the last record's body (32 zero bytes for an empty journal). A copy. */
  get lastHash(): Buffer {
    return Buffer.from(this.lastHashValue, 'latin1');
  }

  /** Writes lastHash into `target` at `offset` without allocating (the audit trail, per record). */
  copyLastHash(target: Uint8Array, offset: number): void {
    const h = this.lastHashValue;
    for (let i = 0; i < HASH_BYTES; i++) target[offset + i] = h.charCodeAt(i);
  }

  /** Highest seq written and (with fsync) synced to disk. */
  get durableSeq(): number {
    return this.durableSeqValue;
  }

  /**
   * When the batch holding durableSeq became durable, on the process.hrtime.bigint() clock: as
   * the I/O thread read it right after that batch's fdatasync returned (with an io that has no
   * writeAndSync: when the sync's completion reached this thread). 0n before the first commit.
   */
  get durableAt(): bigint {
    return this.durableAtValue;
  }

  /** Bytes appended but not yet durable. */
  get pendingBytes(): number {
    return this.pendingBytesValue;
  }

  get backpressure(): boolean {
    return this.backpressureValue;
  }

  get stats(): Readonly<JournalStats> {
    return { ...this.statsValue };
  }

  /** The write error that stopped the journal, if any. */
  get error(): JournalWriteError | undefined {
    return this.failure;
  }

  /**
   * Encodes the record into the current batch and returns; never waits. Throws (appending nothing)
   * if seq is not lastSeq + 1, the arguments are malformed, the journal is closed, or a write
   * already failed.
   */
  append(kind: JournalKind, seq: number, ts: bigint, payload: JournalPayload): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.state !== 'open') throw new Error(`journal ${this.dir} is ${this.state}`);
    if (seq !== this.lastSeqValue + 1) throw new JournalSequenceError(this.lastSeqValue + 1, seq);
    const kindCode = kind === 'input' ? KIND_INPUT : kind === 'event' ? KIND_EVENT : 0;
    if (kindCode === 0) throw new TypeError(`journal kind must be 'input' or 'event', got ${String(kind)}`);
    if (typeof ts !== 'bigint' || ts < I64_MIN || ts > I64_MAX) {
      throw new RangeError(`journal ts must be a bigint of epoch nanoseconds within i64, got ${String(ts)}`);
    }
    if (typeof payload !== 'object' || payload === null || typeof payload.type !== 'string') {
      throw new TypeError('journal payload must be an object with a string "type"');
    }
    const json: unknown = JSON.stringify(payload);
    if (typeof json !== 'string' || json.charCodeAt(0) !== 0x7b) {
      throw new TypeError('journal payload must serialize to a JSON object (check its toJSON)');
    }

    // Encode into the scratch space after chunkPos; nothing is committed until the end, so every
    // throw above and below leaves the journal unchanged.
    let frameStart = this.chunkPos;
    let jsonBytes: number;
    const payloadAt = RECORD_PREFIX_BYTES + B_PAYLOAD;
    if (this.chunk.length - frameStart - payloadAt >= json.length * 3) {
      // UTF-8 needs at most 3 bytes per UTF-16 unit, so this write cannot be cut short.
      jsonBytes = this.chunk.write(json, frameStart + payloadAt, 'utf8');
    } else {
      jsonBytes = Buffer.byteLength(json, 'utf8');
      if (RECORD_BODY_FIXED_BYTES + jsonBytes > MAX_RECORD_BODY_BYTES) {
        throw new RangeError(`journal record of ${jsonBytes} payload bytes exceeds ${MAX_RECORD_BODY_BYTES}`);
      }
      if (this.chunk.length - frameStart < payloadAt + jsonBytes) {
        this.newChunk(payloadAt + jsonBytes);
        frameStart = 0;
      }
      this.chunk.write(json, frameStart + payloadAt, 'utf8');
    }
    const bodyLen = RECORD_BODY_FIXED_BYTES + jsonBytes;
    if (bodyLen > MAX_RECORD_BODY_BYTES) {
      throw new RangeError(`journal record of ${jsonBytes} payload bytes exceeds ${MAX_RECORD_BODY_BYTES}`);
    }
    const frameBytes = RECORD_PREFIX_BYTES + bodyLen;
    const c = this.chunk;
    const b = frameStart + RECORD_PREFIX_BYTES;
    c[b + B_VERSION] = JOURNAL_FORMAT_VERSION;
    c[b + B_KIND] = kindCode;
    writeU64(c, b + B_SEQ, seq);
    c.writeBigInt64LE(ts, b + B_TS);
    c.write(this.lastHashValue, b + B_PREV, HASH_BYTES, 'latin1');
    const body = c.subarray(b, b + bodyLen);
    c.writeUInt32LE(bodyLen, frameStart);
    c.writeUInt32LE(crc32(body), frameStart + 4);
    const hash = sha256Latin1(body);

    // Route to a segment; rolling adds the new segment's header to the batch ahead of the record.
    let seg = this.active;
    if (seg === undefined || seg.sealed || (seg.records > 0 && seg.size + frameBytes > this.segmentBytes)) {
      seg = this.startSegment(seq, frameStart);
    } else if (this.curPart === undefined) {
      this.curPart = { seg, position: seg.size, slices: [] };
      this.parts.push(this.curPart);
    }

    seg.size += frameBytes;
    seg.records++;
    this.chunkPos = frameStart + frameBytes;
    this.lastSeqValue = seq;
    this.lastHashValue = hash;
    this.batchRecords++;
    this.batchBytes += frameBytes;
    this.pendingBytesValue += frameBytes;
    this.statsValue.appends++;
    if (this.flushLoopRunning === undefined) this.startFlushLoop();
    if (!this.backpressureValue && this.pendingBytesValue > this.maxPendingBytes) {
      this.backpressureValue = true;
      this.emit(this.backpressureListeners, true, this.pendingBytesValue);
    }
  }

  /** Resolves once `seq` is durable, in seq order; rejects if the journal fails first. */
  whenDurable(seq: number): Promise<void> {
    if (!Number.isSafeInteger(seq) || seq < 0) return Promise.reject(new RangeError(`invalid seq ${seq}`));
    if (seq <= this.durableSeqValue) return Promise.resolve();
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (seq > this.lastSeqValue) {
      return Promise.reject(new RangeError(`seq ${seq} has not been appended (lastSeq ${this.lastSeqValue})`));
    }
    return new Promise<void>((resolve, reject) => this.addWaiter({ seq, resolve, reject }));
  }

  /** Called with the new durableSeq after each group commit. Returns an unsubscribe function. */
  onDurable(listener: DurableListener): () => void {
    this.durableListeners.add(listener);
    return () => this.durableListeners.delete(listener);
  }

  /**
   * Called once if a write or sync fails. The journal then stops (no retry: after a failed fsync
   * the kernel may have dropped the dirty pages, so a retry could "succeed" over lost data). With
   * no listener the error is thrown out of band, like an EventEmitter 'error'.
   */
  onError(listener: JournalErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Called when backpressure turns on (pending > maxPendingBytes) and off (pending <= half). */
  onBackpressure(listener: BackpressureListener): () => void {
    this.backpressureListeners.add(listener);
    return () => this.backpressureListeners.delete(listener);
  }

  /** Resolves when everything appended so far is durable. */
  flush(): Promise<void> {
    return this.whenDurable(this.lastSeqValue);
  }

  /** Flushes, then closes the file. Appends are refused from the moment this is called. */
  close(): Promise<void> {
    if (this.closePromise === undefined) {
      this.state = 'closing';
      this.closePromise = this.closeNow();
    }
    return this.closePromise;
  }

  private async closeNow(): Promise<void> {
    try {
      await this.flush();
      await this.flushLoopRunning;
    } finally {
      this.prepareStopped = true;
      try {
        // After a failure, syncs may still be running on the descriptors about to be closed.
        await Promise.allSettled([...this.syncing]);
        await this.flushLoopRunning?.catch(() => {});
        await this.discardPrepared();
        const seg = this.writing;
        if (seg !== undefined && seg.fd !== undefined) await closeSegmentFds(seg);
      } finally {
        this.state = 'closed';
        openDirs.delete(this.dir);
      }
    }
  }

  // --- batch building -------------------------------------------------------------------------

  private closeSlice(upTo: number = this.chunkPos): void {
    if (upTo > this.sliceStart) {
      this.curPart!.slices.push(this.chunk.subarray(this.sliceStart, upTo));
      this.sliceStart = upTo;
    }
  }

  private newChunk(minBytes: number): void {
    this.closeSlice();
    // The old chunk's slices belong to batches up to the one being built; it can be reused only
    // once that batch is written.
    if (this.chunk.length === CHUNK_BYTES) this.retiredChunks.push({ chunk: this.chunk, lastBatch: this.batchNo });
    this.chunk = (minBytes <= CHUNK_BYTES ? this.freeChunks.pop() : undefined) ?? this.allocChunk(Math.max(CHUNK_BYTES, minBytes));
    this.chunkPos = 0;
    this.sliceStart = 0;
  }

  /** Shared memory when batches go to the I/O thread, so handing them over copies nothing. */
  private allocChunk(bytes: number): Buffer {
    return this.threaded ? Buffer.from(new SharedArrayBuffer(bytes)) : Buffer.allocUnsafe(bytes);
  }

  private startSegment(firstSeq: number, frameStart: number): WriterSegment {
    this.closeSlice(frameStart);
    const name = segmentFileName(firstSeq);
    const seg: WriterSegment = {
      name,
      path: path.join(this.dir, name),
      size: SEGMENT_HEADER_BYTES,
      records: 0,
      fd: undefined,
      syncFds: [],
      allocated: 0,
      sealed: false,
    };
    this.curPart = { seg, position: 0, slices: [encodeSegmentHeader(firstSeq, this.lastHashValue)] };
    this.parts.push(this.curPart);
    this.active = seg;
    this.batchBytes += SEGMENT_HEADER_BYTES;
    this.pendingBytesValue += SEGMENT_HEADER_BYTES;
    return seg;
  }

  // --- flush loop -----------------------------------------------------------------------------

  private startFlushLoop(): void {
    // A microtask, so every append made in the current synchronous run joins the first batch.
    this.flushLoopRunning = Promise.resolve().then(() => this.flushLoop());
  }

  /**
   * Writes batches until none is pending, starting each one's sync without waiting for it (up to
   * syncsInFlight at once). The "nothing left" check and clearing flushLoopRunning happen in the
   * same synchronous step, so an append can never slip in between and be left waiting for a loop
   * that already ended. Syncs still in flight when the loop ends report durability on their own.
   */
  private async flushLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.parts.length === 0 || this.failure !== undefined) {
          this.flushLoopRunning = undefined;
          return;
        }
        if (this.commits.length >= (this.threaded ? MAX_THREAD_BATCHES_IN_FLIGHT : this.syncsInFlight)) {
          await new Promise<void>((resolve) => (this.syncSettled = resolve));
          continue;
        }
        await this.writeBatch();
      }
    } catch (err) {
      this.flushLoopRunning = undefined;
      this.fail(err);
    }
  }

  private async writeBatch(): Promise<void> {
    this.closeSlice();
    const parts = this.parts;
    const lastSeq = this.lastSeqValue;
    const bytes = this.batchBytes;
    const records = this.batchRecords;
    const batchNo = this.batchNo++;
    this.parts = [];
    this.curPart = undefined;
    this.batchRecords = 0;
    this.batchBytes = 0;

    if (this.threaded && parts.length === 1 && parts[0]!.seg === this.writing && this.writing.fd !== undefined) {
      this.handToIoThread(parts[0]!, lastSeq, bytes, records, batchNo);
      return;
    }

    // A roll is a barrier: the sealed segment's descriptors may be closed only once no sync runs
    // on them, and the new segment's records count only after everything before them.
    if (parts.some((p) => p.seg !== this.writing)) {
      await this.drainSyncs();
      if (this.failure !== undefined) return;
    }
    let created = false;
    for (const part of parts) {
      const seg = part.seg;
      if (seg !== this.writing) {
        if (this.writing !== undefined) await this.seal(this.writing);
        if (seg.fd === undefined) {
          await this.createSegmentFile(seg);
          created = true;
        }
        this.writing = seg;
      }
      // Before this journal's first write to the segment, so each description sees every error.
      if (this.fsync && !this.threaded && seg.syncFds.length < this.syncsInFlight) await this.openSyncFds(seg);
      await this.writeFully(seg.fd!, part.slices, part.position);
    }
    // Written: the encoding chunks behind this batch may be reused (the sync does not read them).
    this.recycleChunks(batchNo);
    this.countBatch(records);
    const seg = this.writing!;
    const commit: Commit = { lastSeq, bytes, synced: false, at: 0n };
    this.commits.push(commit);
    const commitNo = this.commitNo++;
    if (!this.fsync) {
      this.settle(commit, process.hrtime.bigint());
    } else if (created) {
      // A new segment's records are durable only once its directory entry is: no pipelining here.
      await this.io.fdatasync(seg.fd!);
      this.statsValue.syncs++;
      await fsyncDir(this.dir);
      this.settle(commit, process.hrtime.bigint());
    } else {
      const fd = seg.syncFds[commitNo % seg.syncFds.length]!;
      this.inFlight(this.io.fdatasync(fd), () => {
        this.statsValue.syncs++;
        this.settle(commit, process.hrtime.bigint());
      });
    }
    this.maybePrepareNext(seg);
  }

  /**
   * The steady state: the batch goes to the I/O thread, which writes and syncs it (merging it
   * with whatever else is queued there) while the flush loop goes on to the next one. Its chunks
   * are reused once it is back; it counts as synced with the moment the thread saw its sync end.
   */
  private handToIoThread(part: BatchPart, lastSeq: number, bytes: number, records: number, batchNo: number): void {
    this.countBatch(records);
    const commit: Commit = { lastSeq, bytes, synced: false, at: 0n };
    this.commits.push(commit);
    this.inFlight(this.io.writeAndSync!(this.stream, part.seg.fd!, part.slices, part.position, this.fsync), (r) => {
      this.statsValue.writes += r.writes;
      this.statsValue.bytesWritten += r.bytes;
      this.statsValue.syncs += r.syncs;
      this.recycleChunks(batchNo);
      this.settle(commit, r.at);
    });
    this.maybePrepareNext(part.seg);
  }

  /**
   * Tracks a sync (or a batch on the I/O thread) in flight: close and rolls wait for it; its
   * completion runs `done`, its failure stops the journal; either way the flush loop is woken.
   */
  private inFlight<T>(op: Promise<T>, done: (result: T) => void): void {
    const tracked: Promise<void> = op.then(
      (result) => {
        this.syncing.delete(tracked);
        done(result);
        this.wakeFlushLoop();
      },
      (err: unknown) => {
        this.syncing.delete(tracked);
        this.fail(err);
        this.wakeFlushLoop();
      },
    );
    this.syncing.add(tracked);
  }

  private countBatch(records: number): void {
    this.statsValue.batches++;
    if (records > this.statsValue.largestBatchRecords) this.statsValue.largestBatchRecords = records;
  }

  private settle(commit: Commit, at: bigint): void {
    commit.synced = true;
    commit.at = at;
    this.completeCommits();
  }

  private maybePrepareNext(seg: WriterSegment): void {
    if (this.preallocate && this.prepared === undefined && !this.prepareStopped && seg.size >= this.segmentBytes * PREPARE_AT_FRACTION) {
      this.prepareNextSegment();
    }
  }

  private wakeFlushLoop(): void {
    const wake = this.syncSettled;
    this.syncSettled = undefined;
    wake?.();
  }

  /** Reports the synced prefix of the pipeline durable, in one step. Nothing after a failure. */
  private completeCommits(): void {
    if (this.failure !== undefined) return;
    const c = this.commits;
    let n = 0;
    let bytes = 0;
    while (n < c.length && c[n]!.synced) bytes += c[n++]!.bytes;
    if (n === 0) return;
    const seq = c[n - 1]!.lastSeq;
    this.durableAtValue = c[n - 1]!.at;
    this.commits = n === c.length ? [] : c.slice(n);
    this.markDurable(seq, bytes);
  }

  /** Waits until no sync is in flight (each one settled, successfully or not). */
  private async drainSyncs(): Promise<void> {
    while (this.syncing.size > 0) await Promise.allSettled([...this.syncing]);
  }

  private async openSyncFds(seg: WriterSegment): Promise<void> {
    if (seg.syncFds.length === 0) seg.syncFds.push(seg.fd!);
    while (seg.syncFds.length < this.syncsInFlight) seg.syncFds.push(await openFd(seg.path, 'r+'));
  }

  /** The new segment's file: the prepared zero-filled one moved into place, else a new empty one. */
  private async createSegmentFile(seg: WriterSegment): Promise<void> {
    const prep = this.prepared;
    if (prep !== undefined && prep.ready) {
      this.prepared = undefined;
      // link + unlink rather than rename: never replaces an existing segment of that name.
      await linkPath(prep.path, seg.path);
      await fsp.unlink(prep.path);
      seg.fd = await openFd(seg.path, 'r+');
      seg.allocated = prep.size;
      this.statsValue.preallocatedSegments++;
    } else {
      seg.fd = await openFd(seg.path, 'wx', 0o644);
      seg.allocated = 0;
    }
    seg.syncFds = [seg.fd];
  }

  /**
   * Creates the next segment's file in the background: zero-filled to segmentBytes and synced,
   * in paced chunks so that the active segment's syncs do not queue behind one big flush. Off
   * the hot path; a failure only means the next roll creates an empty file as before.
   */
  private prepareNextSegment(): void {
    const file = path.join(this.dir, PREPARED_SEGMENT_NAME);
    const size = this.segmentBytes;
    const prep: PreparedSegment = { path: file, size, ready: false, done: Promise.resolve() };
    this.prepared = prep;
    prep.done = (async () => {
      let fd: number | undefined;
      try {
        fd = await openFd(file, 'w', 0o644);
        const journalStart = this.statsValue.bytesWritten;
        for (let off = 0; off < size; ) {
          while (!this.prepareStopped && off > PREPARE_HEAD_START_BYTES + PREPARE_PACE * (this.statsValue.bytesWritten - journalStart)) {
            await pause(10);
          }
          if (this.prepareStopped) break;
          const n = Math.min(PREPARE_CHUNK_BYTES, size - off);
          const written = await writeFd(fd, PREPARE_ZEROS, n, off);
          if (written <= 0) throw new Error(`write of zeros returned ${written}`);
          off += written;
          await fdatasyncFd(fd);
          await pause(1);
        }
        if (!this.prepareStopped) {
          // fsync, not fdatasync: the size and block allocation are the point.
          await fsyncFd(fd);
          prep.ready = true;
        }
      } catch {
        // Disabled from now on: the journal works without it, and the real writes will surface
        // whatever the disk's problem is.
        this.prepareStopped = true;
      } finally {
        if (fd !== undefined) await closeFd(fd).catch(() => {});
        if (!prep.ready) {
          await fsp.rm(file, { force: true }).catch(() => {});
          if (this.prepared === prep) this.prepared = undefined;
        }
      }
    })();
  }

  private async discardPrepared(): Promise<void> {
    const prep = this.prepared;
    if (prep === undefined) return;
    await prep.done;
    this.prepared = undefined;
    await fsp.rm(prep.path, { force: true });
  }

  private recycleChunks(writtenBatch: number): void {
    const retired = this.retiredChunks;
    let n = 0;
    while (n < retired.length && retired[n]!.lastBatch <= writtenBatch) {
      if (this.freeChunks.length < MAX_FREE_CHUNKS) this.freeChunks.push(retired[n]!.chunk);
      n++;
    }
    if (n > 0) retired.splice(0, n);
  }

  private async writeFully(fd: number, slices: Buffer[], position: number): Promise<void> {
    let pending = slices;
    let pos = position;
    while (pending.length > 0) {
      const batch = pending.length > IOV_MAX ? pending.slice(0, IOV_MAX) : pending;
      const written = await this.io.writev(fd, batch, pos);
      this.statsValue.writes++;
      this.statsValue.bytesWritten += written;
      if (written <= 0) throw new Error(`writev wrote ${written} bytes at position ${pos}`);
      pos += written;
      // Drop what was written; keep the unwritten remainder of a partially written buffer.
      let i = 0;
      let left = written;
      while (i < pending.length && left >= pending[i]!.length) left -= pending[i++]!.length;
      pending = pending.slice(i);
      if (left > 0) pending[0] = pending[0]!.subarray(left);
    }
  }

  /**
   * A full segment: sync it, cut a pre-allocated file's zero tail (a sealed segment ends at its
   * last record) and make that durable, close it, make it read-only.
   */
  private async seal(seg: WriterSegment): Promise<void> {
    const fd = seg.fd!;
    if (this.fsync) {
      await this.io.fdatasync(fd);
      this.statsValue.syncs++;
    }
    if (seg.allocated > seg.size) {
      await ftruncateFd(fd, seg.size);
      if (this.fsync) await fsyncFd(fd);
    }
    seg.allocated = seg.size;
    seg.sealed = true;
    await closeSegmentFds(seg);
    await fsp.chmod(seg.path, 0o444);
  }

  private markDurable(seq: number, bytes: number): void {
    this.durableSeqValue = seq;
    this.pendingBytesValue -= bytes;
    const w = this.waiters;
    while (this.waitHead < w.length && w[this.waitHead]!.seq <= seq) w[this.waitHead++]!.resolve();
    if (this.waitHead > 1024 && this.waitHead * 2 > w.length) {
      this.waiters = w.slice(this.waitHead);
      this.waitHead = 0;
    }
    this.emit(this.durableListeners, seq);
    if (this.backpressureValue && this.pendingBytesValue <= this.maxPendingBytes / 2) {
      this.backpressureValue = false;
      this.emit(this.backpressureListeners, false, this.pendingBytesValue);
    }
  }

  private addWaiter(waiter: Waiter): void {
    const w = this.waiters;
    if (w.length === this.waitHead || w[w.length - 1]!.seq <= waiter.seq) {
      w.push(waiter);
      return;
    }
    let lo = this.waitHead;
    let hi = w.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (w[mid]!.seq <= waiter.seq) lo = mid + 1;
      else hi = mid;
    }
    w.splice(lo, 0, waiter);
  }

  private fail(cause: unknown): void {
    if (this.failure !== undefined) return;
    const detail = cause instanceof Error ? cause.message : String(cause);
    const error = new JournalWriteError(
      `journal ${this.dir} write failed after durable seq ${this.durableSeqValue}: ${detail}`,
      { cause },
    );
    this.failure = error;
    this.prepareStopped = true;
    const pending = this.waiters.slice(this.waitHead);
    this.waiters = [];
    this.waitHead = 0;
    for (const w of pending) w.reject(error);
    if (this.errorListeners.size === 0) {
      process.nextTick(() => {
        throw error;
      });
    } else {
      this.emit(this.errorListeners, error);
    }
  }

  /** A listener that throws is a bug to surface, not a reason to stop journaling. */
  private emit<A extends unknown[]>(listeners: Set<(...args: A) => void>, ...args: A): void {
    for (const l of listeners) {
      try {
        l(...args);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }

  // --- reading --------------------------------------------------------------------------------

  /**
   * Records in seq order. Each record's integrity and seq contiguity are always checked; `verify`
   * (default true) also recomputes every SHA-256 and checks the chain, which catches a record
   * altered with its CRC recomputed. With verify false (about a third faster: replay right after
   * open, which verified the chain) the `hash` of a record is taken from its successor's prevHash.
   *
   * Reads what is on disk: while a writer is active pass `toSeq: journal.durableSeq`, so the
   * reader never reaches bytes still being written. With fromSeq, the chain is checked from the
   * start of the segment holding fromSeq (its header anchors it).
   */
  static read(dir: string, opts: { fromSeq?: number; toSeq?: number; verify?: boolean } = {}): Generator<JournalEntry, void, undefined> {
    return Journal.scan(dir, opts, true) as Generator<JournalEntry, void, undefined>;
  }

  /**
   * As read, with every check, but the payloads are left as bytes: several times faster for a
   * reader that parses only the few records it wants (a search of the audit trail).
   */
  static frames(dir: string, opts: { fromSeq?: number; toSeq?: number; verify?: boolean } = {}): Generator<JournalFrame, void, undefined> {
    return Journal.scan(dir, opts, false) as Generator<JournalFrame, void, undefined>;
  }

  /** read and frames: the one walk over the segments, parsing payloads or not. */
  private static *scan(
    dir: string,
    opts: { fromSeq?: number; toSeq?: number; verify?: boolean },
    parse: boolean,
  ): Generator<JournalEntry | JournalFrame, void, undefined> {
    const fromSeq = opts.fromSeq ?? 1;
    const toSeq = opts.toSeq ?? Number.MAX_SAFE_INTEGER;
    const verify = opts.verify !== false;
    if (!Number.isSafeInteger(fromSeq) || !Number.isSafeInteger(toSeq)) {
      throw new RangeError('fromSeq and toSeq must be safe integers');
    }
    if (toSeq < fromSeq) return;
    const segments = toSegmentFiles(dir, fs.readdirSync(dir));
    let i = 0;
    while (i + 1 < segments.length && segments[i + 1]!.firstSeq <= fromSeq) i++;

    let nextSeq = -1;
    let lastHash: Buffer = ZERO_HASH;
    for (; i < segments.length; i++) {
      const seg = segments[i]!;
      const buf = fs.readFileSync(seg.path);
      const header = decodeSegmentHeader(buf, seg.firstSeq);
      if (typeof header === 'string') {
        throw new JournalCorruptError(seg.name, nextSeq < 0 ? seg.firstSeq : nextSeq, 0, header);
      }
      if (nextSeq < 0) {
        nextSeq = header.firstSeq;
        lastHash = header.prevHash;
      } else if (header.firstSeq !== nextSeq) {
        throw new JournalCorruptError(seg.name, nextSeq, 0, `segment starts at seq ${header.firstSeq} but seq ${nextSeq} was expected`);
      } else if (verify && !header.prevHash.equals(lastHash)) {
        throw new JournalCorruptError(seg.name, nextSeq - 1, H_PREV, `hash chain broken: the header's prevHash is not the hash of seq ${nextSeq - 1}`);
      }

      const end = buf.length;
      // The last segment may be the active one, pre-allocated: its data ends where, at a record
      // boundary, only zeros remain.
      const isLastSegment = i === segments.length - 1;
      let off = SEGMENT_HEADER_BYTES;
      // The unverified path inspects the next frame early; remember it to avoid a second CRC.
      let knownOff = -1;
      let knownLen = 0;
      while (off < end) {
        if (isLastSegment && buf[off] === 0 && isZeroTail(buf, off)) break;
        const b = off + RECORD_PREFIX_BYTES;
        let len: number;
        let hash: Buffer | undefined;
        if (verify) {
          len = frameLength(buf, off, end);
          if (len >= 0) {
            hash = verifiedBodyHash(buf, off, len, end);
            if (hash === undefined) len = FRAME_BAD_CHECKSUM;
          }
        } else {
          len = off === knownOff ? knownLen : inspectFrame(buf, off, end);
        }
        if (len < 0) {
          throw new JournalCorruptError(seg.name, nextSeq, off, `${frameProblem(len)} (Journal.open repairs a torn tail)`);
        }
        const next = b + len;
        const kindCode = buf[b + B_KIND];
        const problem = recordHeaderProblem(buf, b, next, nextSeq);
        if (problem !== undefined) throw new JournalCorruptError(seg.name, nextSeq, off, problem);
        if (hash !== undefined) {
          if (buf.compare(lastHash, 0, HASH_BYTES, b + B_PREV, b + B_PREV + HASH_BYTES) !== 0) {
            throw new JournalCorruptError(seg.name, Math.max(1, nextSeq - 1), off, chainBrokenReason(nextSeq));
          }
          lastHash = hash;
        }
        if (nextSeq >= fromSeq) {
          if (hash === undefined) {
            knownOff = next;
            knownLen = next < end ? inspectFrame(buf, next, end) : FRAME_INCOMPLETE;
            hash = recordHash(buf, b, next, knownLen);
          }
          if (parse) {
            const payload = parsePayload(buf, b + B_PAYLOAD, next);
            if (payload === undefined) {
              throw new JournalCorruptError(seg.name, nextSeq, off, 'payload is not a JSON object with a string "type"');
            }
            yield { seq: nextSeq, ts: buf.readBigInt64LE(b + B_TS), kind: kindCode === KIND_INPUT ? 'input' : 'event', payload, hash };
          } else {
            yield { seq: nextSeq, ts: buf.readBigInt64LE(b + B_TS), kind: kindCode === KIND_INPUT ? 'input' : 'event', hash, segment: buf, body: b, payloadStart: b + B_PAYLOAD, end: next };
          }
          if (nextSeq >= toSeq) return;
        }
        nextSeq++;
        off = next;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tailing reader
// ---------------------------------------------------------------------------------------------

/** An entry as JournalTail returns it: a JournalEntry plus the payload's JSON text as journaled. */
export interface JournalTailEntry extends JournalEntry {
  /** The payload bytes decoded as UTF-8, exactly as written: the text `payload` was parsed from. */
  payloadText: string;
}

/**
 * An entry as JournalTail.readText returns it: the payload's JSON text only, not parsed (nor
 * checked to be JSON: parsePayloadText does both, for the records a reader needs parsed).
 */
export type JournalTailTextEntry = Omit<JournalTailEntry, 'payload'>;

/** A tail read starts with a read of this size (a reader close behind needs little) ... */
const TAIL_FIRST_READ_BYTES = 64 * 1024;
/** ... and doubles it while it needs more, up to the buffer's size (larger for a larger record). */
const TAIL_BUFFER_BYTES = 1024 * 1024;

/**
 * A reader that keeps its place: where `Journal.read` opens and walks the journal from the start
 * of the segment holding fromSeq at every call, a tail remembers the segment, byte offset, next
 * seq (and, verifying, the hash of the record before it) between calls, and each `read(toSeq)`
 * reads only the bytes after the last record it returned. It returns exactly the entries
 * Journal.read returns for the same range (same checks, same errors), each with `payloadText`.
 *
 * Meant to follow a live journal: pass `toSeq: journal.durableSeq` (or the durable seq published
 * to another thread), so that it never parses bytes still being written. Where the data stops (end
 * of file, a zero tail, a record not wholly written yet) a read simply ends, and the next one
 * continues from there; once the next segment exists, the current one is sealed and the tail
 * moves on. A bad record (length, checksum, seq, kind, chain) throws JournalCorruptError.
 *
 * One read at a time: starting a read makes the generator of the previous one throw if resumed.
 * The tail holds a file descriptor of the current segment: close() it when done.
 */
export class JournalTail {
  private readonly fromSeq: number;
  private readonly verify: boolean;
  private seg: SegmentFile | undefined;
  private fd: number | undefined;
  /** Once positioned: file offset and seq of the next record in `seg`. */
  private pos = 0;
  private seq = -1;
  /** With verify: the hash of record seq - 1 (the chain so far). */
  private lastHash: Buffer = ZERO_HASH;
  /** The current segment has a successor, so it is sealed: its data must end at a record boundary. */
  private sealed = false;
  /** buf[0, bufLen) holds the bytes of `seg` from file offset bufPos. */
  private buf: Buffer = Buffer.allocUnsafe(TAIL_BUFFER_BYTES);
  private bufPos = 0;
  private bufLen = 0;
  private readSize = TAIL_FIRST_READ_BYTES;
  private generation = 0;
  private closed = false;

  /** verify (default true) as in Journal.read: recompute every SHA-256 and check the chain. */
  constructor(
    readonly dir: string,
    fromSeq = 1,
    opts: { verify?: boolean } = {},
  ) {
    if (!Number.isSafeInteger(fromSeq)) throw new RangeError('fromSeq must be a safe integer');
    this.fromSeq = fromSeq;
    this.verify = opts.verify !== false;
  }

  /** The seq the next entry returned will have (a journal that starts later starts there). */
  get nextSeq(): number {
    return Math.max(this.fromSeq, this.seq);
  }

  close(): void {
    this.closed = true;
    this.generation++;
    this.closeFd();
  }

  /** The records from nextSeq up to toSeq (default: as far as the files go) that are on disk now. */
  read(toSeq: number = Number.MAX_SAFE_INTEGER): Generator<JournalTailEntry, void, undefined> {
    return this.entries(toSeq, true) as Generator<JournalTailEntry, void, undefined>;
  }

  /**
   * As read, but the payloads are left as text: for a reader that needs only some of them parsed
   * (the database projector: JSON.parse was a quarter of its CPU, and a third of the text is
   * records it only copies, docs/database.md).
   */
  readText(toSeq: number = Number.MAX_SAFE_INTEGER): Generator<JournalTailTextEntry, void, undefined> {
    return this.entries(toSeq, false);
  }

  private *entries(toSeq: number, parse: boolean): Generator<JournalTailTextEntry & { payload?: JournalPayload }, void, undefined> {
    if (!Number.isSafeInteger(toSeq)) throw new RangeError('toSeq must be a safe integer');
    if (this.closed) throw new Error('JournalTail is closed');
    const generation = ++this.generation;
    // Bytes read past the last record returned may have been read before they were written.
    this.bufPos = this.pos;
    this.bufLen = 0;
    this.readSize = TAIL_FIRST_READ_BYTES;
    // File offset of a frame whose checksum already held (inspected as a successor).
    let knownOff = -1;
    if (toSeq < this.nextSeq) return;
    if (this.seg === undefined && !this.locate()) return;
    while (this.seq <= toSeq) {
      const seg = this.seg!;
      const off = this.pos;
      let have = this.ensure(RECORD_PREFIX_BYTES);
      if (have === 0 && this.sealed) {
        if (!this.nextSegment()) return;
        continue;
      }
      let len = have < RECORD_PREFIX_BYTES ? FRAME_INCOMPLETE : this.buf.readUInt32LE(off - this.bufPos);
      if (len !== FRAME_INCOMPLETE && len !== 0) {
        if (len < RECORD_BODY_FIXED_BYTES || len > MAX_RECORD_BODY_BYTES) this.corrupt(off, `${frameProblem(FRAME_BAD_LENGTH)} (Journal.open repairs a torn tail)`);
        have = this.ensure(RECORD_PREFIX_BYTES + len);
        if (have < RECORD_PREFIX_BYTES + len) len = FRAME_INCOMPLETE;
      }
      if (len === FRAME_INCOMPLETE || len === 0) {
        // No complete record here: the end of the data written so far (a zero length is the zero
        // tail: a record never starts with one), unless the segment is sealed.
        if (this.sealed) this.corrupt(off, `${frameProblem(len === 0 ? FRAME_BAD_LENGTH : len)} (Journal.open repairs a torn tail)`);
        if (!this.hasSuccessor()) return;
        // The writer seals a segment before the next one takes its name: read its end again.
        this.sealed = true;
        this.bufLen = off - this.bufPos;
        continue;
      }
      const buf = this.buf;
      const end = this.bufLen;
      const o = off - this.bufPos;
      const b = o + RECORD_PREFIX_BYTES;
      const next = b + len;
      let hash: Buffer | undefined;
      if (this.verify) {
        hash = verifiedBodyHash(buf, o, len, end);
        if (hash === undefined) len = FRAME_BAD_CHECKSUM;
      } else if (off !== knownOff) {
        len = inspectFrame(buf, o, end);
      }
      if (len < 0) this.corrupt(off, `${frameProblem(len)} (Journal.open repairs a torn tail)`);
      const kindCode = buf[b + B_KIND];
      const problem = recordHeaderProblem(buf, b, next, this.seq);
      if (problem !== undefined) this.corrupt(off, problem);
      if (hash !== undefined) {
        if (buf.compare(this.lastHash, 0, HASH_BYTES, b + B_PREV, b + B_PREV + HASH_BYTES) !== 0) {
          throw new JournalCorruptError(seg.name, Math.max(1, this.seq - 1), off, chainBrokenReason(this.seq));
        }
        this.lastHash = hash;
      }
      const seq = this.seq;
      const nextPos = off + RECORD_PREFIX_BYTES + len;
      if (seq < this.fromSeq) {
        this.seq++;
        this.pos = nextPos;
        continue;
      }
      if (hash === undefined) {
        // (only what is already in the buffer is looked at; a successor whose checksum held need
        // not be checked again)
        const nextLen = next < end ? inspectFrame(buf, next, end) : FRAME_INCOMPLETE;
        if (nextLen >= 0) knownOff = nextPos;
        hash = recordHash(buf, b, next, nextLen);
      }
      const payloadText = buf.toString('utf8', b + B_PAYLOAD, next);
      const ts = buf.readBigInt64LE(b + B_TS);
      const kind: JournalKind = kindCode === KIND_INPUT ? 'input' : 'event';
      const payload = parse ? parsePayloadText(payloadText) : undefined;
      if (parse && payload === undefined) this.corrupt(off, 'payload is not a JSON object with a string "type"');
      this.seq++;
      this.pos = nextPos;
      // readText's entries have no payload key at all
      yield parse ? { seq, ts, kind, payload, hash, payloadText } : { seq, ts, kind, hash, payloadText };
      if (generation !== this.generation) throw new Error('JournalTail: this read was superseded by a later read() or close()');
    }
  }

  private corrupt(offset: number, reason: string): never {
    throw new JournalCorruptError(this.seg!.name, this.seq, offset, reason);
  }

  /** Opens the segment holding fromSeq (as Journal.read chooses it); false while there is none yet. */
  private locate(): boolean {
    const segments = toSegmentFiles(this.dir, fs.readdirSync(this.dir));
    if (segments.length === 0) return false;
    let i = 0;
    while (i + 1 < segments.length && segments[i + 1]!.firstSeq <= this.fromSeq) i++;
    const header = this.openSegment(segments[i]!, -1);
    if (header === undefined) {
      // Only the last segment can be in the making; an earlier one without a header is damaged.
      if (i + 1 < segments.length) throw new JournalCorruptError(segments[i]!.name, segments[i]!.firstSeq, 0, 'segment header missing (zeros or cut short)');
      return false;
    }
    this.seq = header.firstSeq;
    this.lastHash = Buffer.from(header.prevHash);
    return true;
  }

  /** The sealed segment is read to its end: on to the next one, if its header is written yet. */
  private nextSegment(): boolean {
    const cur = this.seg!;
    const next = toSegmentFiles(this.dir, fs.readdirSync(this.dir)).find((s) => s.firstSeq > cur.firstSeq);
    if (next === undefined) return false;
    if (next.firstSeq !== this.seq) {
      throw new JournalCorruptError(next.name, this.seq, 0, `segment starts at seq ${next.firstSeq} but seq ${this.seq} was expected`);
    }
    const header = this.openSegment(next, this.seq);
    if (header === undefined) return false;
    if (this.verify && !header.prevHash.equals(this.lastHash)) {
      throw new JournalCorruptError(next.name, this.seq - 1, H_PREV, `hash chain broken: the header's prevHash is not the hash of seq ${this.seq - 1}`);
    }
    return true;
  }

  /**
   * Makes `seg` the current segment, positioned after its header; undefined (nothing changed)
   * while the header is not written yet (the file is shorter, or zeros).
   */
  private openSegment(seg: SegmentFile, seq: number): SegmentHeader | undefined {
    const fd = fs.openSync(seg.path, 'r');
    let header: SegmentHeader | string;
    try {
      const h = Buffer.alloc(SEGMENT_HEADER_BYTES);
      const got = fs.readSync(fd, h, 0, SEGMENT_HEADER_BYTES, 0);
      if (got < SEGMENT_HEADER_BYTES || isAllZero(h)) {
        fs.closeSync(fd);
        return undefined;
      }
      header = decodeSegmentHeader(h, seg.firstSeq);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    if (typeof header === 'string') {
      fs.closeSync(fd);
      throw new JournalCorruptError(seg.name, seq < 0 ? seg.firstSeq : seq, 0, header);
    }
    this.closeFd();
    this.seg = seg;
    this.fd = fd;
    this.sealed = false;
    this.pos = SEGMENT_HEADER_BYTES;
    this.bufPos = SEGMENT_HEADER_BYTES;
    this.bufLen = 0;
    return header;
  }

  /** Whether a later segment exists (the writer only creates one after sealing the current). */
  private hasSuccessor(): boolean {
    const first = this.seg!.firstSeq;
    // (a segment with no record yet would be its own successor by name)
    if (this.seq !== first && fs.existsSync(path.join(this.dir, segmentFileName(this.seq)))) return true;
    return toSegmentFiles(this.dir, fs.readdirSync(this.dir)).some((s) => s.firstSeq > first);
  }

  /**
   * Makes buf hold at least `n` bytes from file offset pos if the file has them; returns how many
   * it holds from there. Reads only what it lacks, appending to the buffer.
   */
  private ensure(n: number): number {
    let rel = this.pos - this.bufPos;
    let have = this.bufLen - rel;
    if (have >= n) return have;
    if (rel + n > this.buf.length) {
      // Move what is left to the front; a buffer grown for a large record shrinks back here.
      const cap = Math.max(TAIL_BUFFER_BYTES, n);
      if (cap !== this.buf.length) {
        const nb = Buffer.allocUnsafe(cap);
        this.buf.copy(nb, 0, rel, this.bufLen);
        this.buf = nb;
      } else {
        this.buf.copy(this.buf, 0, rel, this.bufLen);
      }
      this.bufPos = this.pos;
      this.bufLen = have;
      rel = 0;
    }
    while (have < n) {
      const want = Math.min(this.buf.length - this.bufLen, Math.max(n - have, this.readSize));
      const got = fs.readSync(this.fd!, this.buf, this.bufLen, want, this.bufPos + this.bufLen);
      if (got === 0) break;
      this.bufLen += got;
      have += got;
      this.readSize = Math.min(this.readSize * 2, TAIL_BUFFER_BYTES);
    }
    return have;
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    fs.closeSync(fd);
  }
}

function resolveOptions(o: JournalOptions): Required<JournalOptions> {
  const segmentBytes = o.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const maxPendingBytes = o.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES) {
    throw new RangeError(`journal segmentBytes must be an integer >= ${MIN_SEGMENT_BYTES}, got ${segmentBytes}`);
  }
  if (!Number.isSafeInteger(maxPendingBytes) || maxPendingBytes < 1) {
    throw new RangeError(`journal maxPendingBytes must be a positive integer, got ${maxPendingBytes}`);
  }
  const syncsInFlight = o.syncsInFlight ?? DEFAULT_SYNCS_IN_FLIGHT;
  if (!Number.isSafeInteger(syncsInFlight) || syncsInFlight < 1 || syncsInFlight > MAX_SYNCS_IN_FLIGHT) {
    throw new RangeError(`journal syncsInFlight must be an integer from 1 to ${MAX_SYNCS_IN_FLIGHT}, got ${syncsInFlight}`);
  }
  return {
    segmentBytes,
    maxPendingBytes,
    fsync: o.fsync ?? true,
    io: o.io ?? threadJournalIo,
    syncsInFlight,
    preallocate: o.preallocate ?? true,
  };
}

/**
 * Validates the whole journal and positions the writer after its last good record. Only the end
 * of the last segment may be damaged (a torn write); it is cut away and reported.
 */
async function recover(dir: string, fsync: boolean): Promise<RecoveredState> {
  // A segment prepared but never used (or half zero-filled) when the process stopped. It holds no
  // record; if a roll had already linked it into place, that name is a segment and scanned below.
  await fsp.rm(path.join(dir, PREPARED_SEGMENT_NAME), { force: true });
  const segments = toSegmentFiles(dir, await fsp.readdir(dir));
  const chain: ChainState = { nextSeq: 1, lastHash: ZERO_HASH };
  let repaired: JournalRepair | undefined;
  let last: { seg: SegmentFile; size: number; records: number; allocated: number } | undefined;

  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const isLast = i === segments.length - 1;
    const buf = await fsp.readFile(seg.path);
    const r = scanSegment(buf, seg, chain, false, isLast);
    if (r.ok) {
      last = { seg, size: r.end, records: r.records, allocated: buf.length };
      continue;
    }
    if (isLast && r.stage === 'header' && (buf.length < SEGMENT_HEADER_BYTES || isAllZero(buf))) {
      // Crash while creating the segment: its header (and so every record in it) never became durable.
      await fsp.unlink(seg.path);
      if (fsync) await fsyncDir(dir);
      repaired = { segment: seg.name, offset: 0, droppedBytes: buf.length, seq: chain.nextSeq, reason: `removed segment: ${r.reason}` };
      break;
    }
    if (isLast && r.stage === 'frame' && !hasValidFrameAfter(buf, r.offset + 1, buf.length)) {
      const fd = await openFd(seg.path, 'r+');
      try {
        await ftruncateFd(fd, r.offset);
        if (fsync) await fsyncFd(fd);
      } finally {
        await closeFd(fd);
      }
      // A pre-allocated segment loses its zero tail here too; it fills by appending until the roll.
      repaired = { segment: seg.name, offset: r.offset, droppedBytes: buf.length - r.offset, seq: r.seq, reason: `torn tail: ${r.reason}` };
      last = { seg, size: r.offset, records: r.records, allocated: r.offset };
      break;
    }
    const where = r.stage === 'frame' && isLast ? ' (valid records follow, so this is not a torn tail)' : '';
    throw new JournalCorruptError(seg.name, r.seq, r.offset, r.reason + where);
  }

  let active: WriterSegment | undefined;
  if (last !== undefined) {
    for (const s of segments) {
      if (s === last.seg) break;
      if (((await fsp.stat(s.path)).mode & 0o222) !== 0) await fsp.chmod(s.path, 0o444);
    }
    let writable = ((await fsp.stat(last.seg.path)).mode & 0o200) !== 0;
    if (!writable && last.records === 0) {
      // A header alone holds nothing to protect, and a new segment would need its file name.
      await fsp.chmod(last.seg.path, 0o644);
      writable = true;
    }
    active = {
      name: last.seg.name,
      path: last.seg.path,
      size: last.size,
      records: last.records,
      fd: undefined,
      syncFds: [],
      allocated: last.allocated,
      sealed: !writable,
    };
    if (writable) {
      const fd = await openFd(last.seg.path, 'r+');
      try {
        // What survived the crash may still sit only in the page cache; make it durable before
        // anything built on it (replay, outbound messages) happens.
        if (fsync) {
          await fsyncFd(fd);
          await fsyncDir(dir);
        }
      } catch (e) {
        await closeFd(fd);
        throw e;
      }
      active.fd = fd;
      active.syncFds = [fd];
    } else if (fsync) {
      await fsyncDir(dir);
    }
  }
  return { lastSeq: chain.nextSeq - 1, lastHash: chain.lastHash, active, repaired };
}

// ---------------------------------------------------------------------------------------------
// Verification (audit)
// ---------------------------------------------------------------------------------------------

export type JournalVerification =
  | { ok: true; lastSeq: number }
  | {
      ok: false;
      /** Every record before this seq is verified; this one and later ones are not. */
      firstBadSeq: number;
      reason: string;
      segment: string;
      offset: number;
    };

/**
 * Checks every segment header, record checksum, seq contiguity, the SHA-256 chain across
 * segments, and that each payload parses. A torn tail counts as a failure here: this is the
 * examiner's view of the files as they are.
 */
export function verifyJournal(dir: string): JournalVerification {
  const segments = toSegmentFiles(dir, fs.readdirSync(dir));
  const chain: ChainState = { nextSeq: 1, lastHash: ZERO_HASH };
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const r = scanSegment(fs.readFileSync(seg.path), seg, chain, true, i === segments.length - 1);
    if (!r.ok) return { ok: false, firstBadSeq: r.seq, reason: r.reason, segment: seg.name, offset: r.offset };
  }
  return { ok: true, lastSeq: chain.nextSeq - 1 };
}
