import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HASH_BYTES,
  Journal,
  JournalCorruptError,
  framePayload,
  framePrevHash,
  JournalSequenceError,
  JournalWriteError,
  RECORD_PREFIX_BYTES,
  SEGMENT_HEADER_BYTES,
  nodeJournalIo,
  segmentFileName,
  verifyJournal,
  type JournalEntry,
  type JournalIo,
  type JournalKind,
  type JournalPayload,
} from '../../src/engine/journal.js';
import { tempDirs } from '../helpers.js';

const T0 = 1_767_225_600_000_000_000n;
const tmpDir = tempDirs('bulwark-journal-');

function payload(i: number): JournalPayload {
  return { type: i % 3 === 0 ? 'order.new' : 'tick', i, price: '101.25', note: `record ${i} é€😀` };
}

function kindOf(i: number): JournalKind {
  return i % 4 === 0 ? 'event' : 'input';
}

function appendRange(j: Journal, from: number, to: number): void {
  for (let s = from; s <= to; s++) j.append(kindOf(s), s, T0 + BigInt(s), payload(s));
}

function readAll(dir: string, opts?: { fromSeq?: number; toSeq?: number; verify?: boolean }): JournalEntry[] {
  return [...Journal.read(dir, opts)];
}

function segments(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort();
}

/** Byte offset of each record frame in a segment, by walking the length prefixes. */
function frameOffsets(file: string): number[] {
  const buf = fs.readFileSync(file);
  const out: number[] = [];
  let off = SEGMENT_HEADER_BYTES;
  while (off + RECORD_PREFIX_BYTES <= buf.length) {
    out.push(off);
    off += RECORD_PREFIX_BYTES + buf.readUInt32LE(off);
  }
  return out;
}

function flipByte(file: string, offset: number): void {
  fs.chmodSync(file, 0o644);
  const buf = fs.readFileSync(file);
  buf[offset]! ^= 0x01;
  fs.writeFileSync(file, buf);
}

async function writeJournal(dir: string, n: number, segmentBytes = 64 * 1024 * 1024): Promise<void> {
  const j = await Journal.open(dir, { segmentBytes });
  appendRange(j, 1, n);
  await j.close();
}

function countingIo(delayMs = 0): JournalIo & { writes: number; syncs: number } {
  const io = {
    writes: 0,
    syncs: 0,
    async writev(fd: number, buffers: readonly Buffer[], position: number): Promise<number> {
      io.writes++;
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      return nodeJournalIo.writev(fd, buffers, position);
    },
    async fdatasync(fd: number): Promise<void> {
      io.syncs++;
      return nodeJournalIo.fdatasync(fd);
    },
  };
  return io;
}

describe('journal append and read', () => {
  it('round-trips records across segment rolls, with a hash chain', async () => {
    const dir = tmpDir();
    const j = await Journal.open(dir, { segmentBytes: 4096 });
    expect(j.lastSeq).toBe(0);
    expect(j.lastHash.equals(Buffer.alloc(HASH_BYTES))).toBe(true);
    appendRange(j, 1, 500);
    expect(j.lastSeq).toBe(500);
    await j.flush();
    expect(j.durableSeq).toBe(500);
    const lastHash = j.lastHash;
    await j.close();

    const segs = segments(dir);
    expect(segs.length).toBeGreaterThan(5);
    expect(segs[0]).toBe(segmentFileName(1));
    for (const s of segs) expect(fs.statSync(path.join(dir, s)).size).toBeLessThanOrEqual(4096);

    const entries = readAll(dir);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    for (const e of entries) {
      expect(e.payload).toEqual(payload(e.seq));
      expect(e.kind).toBe(kindOf(e.seq));
      expect(e.ts).toBe(T0 + BigInt(e.seq));
      expect(e.hash.length).toBe(HASH_BYTES);
    }
    expect(entries[499]!.hash.equals(lastHash)).toBe(true);
    // Each segment's first seq is in its name, and the records in it start there.
    for (const s of segs) {
      const first = Number(s.slice(0, 20));
      expect(entries[first - 1]!.seq).toBe(first);
    }

    const unverified = readAll(dir, { verify: false });
    expect(unverified.map((e) => e.hash.toString('hex'))).toEqual(entries.map((e) => e.hash.toString('hex')));

    const slice = readAll(dir, { fromSeq: 123, toSeq: 321 });
    expect(slice.map((e) => e.seq)).toEqual(Array.from({ length: 199 }, (_, i) => i + 123));
    expect(slice[0]!.hash.equals(entries[122]!.hash)).toBe(true);
    expect(readAll(dir, { fromSeq: 600 })).toEqual([]);

    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 500 });

    // frames: the same records, payloads left as bytes, from any seq, verified or not
    for (const opts of [{}, { verify: false }, { fromSeq: 123, toSeq: 321 }, { fromSeq: 123, toSeq: 321, verify: false }]) {
      const want = readAll(dir, opts);
      const frames = [...Journal.frames(dir, opts)];
      expect(frames.map((f) => [f.seq, f.ts, f.kind, f.hash.toString('hex')])).toEqual(want.map((e) => [e.seq, e.ts, e.kind, e.hash.toString('hex')]));
      frames.forEach((f, i) => {
        expect(framePayload(f)).toEqual(want[i]!.payload);
        expect(framePrevHash(f).equals(f.seq === 1 ? Buffer.alloc(HASH_BYTES) : entries[f.seq - 2]!.hash)).toBe(true);
        expect(f.segment.toString('utf8', f.payloadStart, f.end)).toBe(JSON.stringify(want[i]!.payload));
      });
    }
  });

  it('computes the record hash as SHA-256 of the body and chains it', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 3);
    const file = path.join(dir, segments(dir)[0]!);
    const buf = fs.readFileSync(file);
    const [o1, o2] = frameOffsets(file);
    const body1 = buf.subarray(o1! + 8, o1! + 8 + buf.readUInt32LE(o1!));
    expect(body1.subarray(18, 50).equals(Buffer.alloc(32))).toBe(true);
    const h1 = createHash('sha256').update(body1).digest();
    expect(buf.subarray(o2! + 8 + 18, o2! + 8 + 50).equals(h1)).toBe(true);
    expect(readAll(dir)[0]!.hash.equals(h1)).toBe(true);
  });

  it('refuses a seq that is not lastSeq + 1 and appends nothing', async () => {
    const dir = tmpDir();
    const j = await Journal.open(dir);
    j.append('input', 1, T0, payload(1));
    expect(() => j.append('input', 3, T0, payload(3))).toThrow(JournalSequenceError);
    expect(() => j.append('input', 1, T0, payload(1))).toThrow(/expected seq 2, got 1/);
    expect(() => j.append('input', 2, T0, { type: 'x', n: 1n } as unknown as JournalPayload)).toThrow(TypeError);
    expect(() => j.append('other' as JournalKind, 2, T0, payload(2))).toThrow(TypeError);
    expect(() => j.append('input', 2, 2n ** 64n, payload(2))).toThrow(RangeError);
    expect(j.lastSeq).toBe(1);
    j.append('input', 2, T0 + 2n, payload(2));
    await j.close();
    expect(readAll(dir).map((e) => e.seq)).toEqual([1, 2]);
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 2 });
  });

  it('refuses appends after close and a second open of the same directory', async () => {
    const dir = tmpDir();
    const j = await Journal.open(dir);
    await expect(Journal.open(dir)).rejects.toThrow(/already open/);
    await j.close();
    expect(() => j.append('input', 1, T0, payload(1))).toThrow(/closed/);
    const again = await Journal.open(dir);
    await again.close();
  });

  it('reopens after close and continues the chain', async () => {
    const dir = tmpDir();
    const a = await Journal.open(dir, { segmentBytes: 2048 });
    appendRange(a, 1, 20);
    await a.close();
    const lastHash = a.lastHash;

    const b = await Journal.open(dir, { segmentBytes: 2048 });
    expect(b.repaired).toBeUndefined();
    expect(b.lastSeq).toBe(20);
    expect(b.durableSeq).toBe(20);
    expect(b.lastHash.equals(lastHash)).toBe(true);
    appendRange(b, 21, 60);
    await b.close();

    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 60 });
    const entries = readAll(dir);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(entries[19]!.hash.equals(lastHash)).toBe(true);
  });

  it('seals rolled segments read-only, and again on open', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 200, 4096);
    const segs = segments(dir);
    expect(segs.length).toBeGreaterThan(2);
    const mode = (s: string): number => fs.statSync(path.join(dir, s)).mode & 0o777;
    for (const s of segs.slice(0, -1)) expect(mode(s)).toBe(0o444);
    expect(mode(segs.at(-1)!) & 0o200).not.toBe(0);

    fs.chmodSync(path.join(dir, segs[0]!), 0o644);
    const j = await Journal.open(dir, { segmentBytes: 4096 });
    expect(mode(segs[0]!)).toBe(0o444);
    await j.close();
  });

  it('starts a new segment when the last one on disk is sealed', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 10);
    fs.chmodSync(path.join(dir, segmentFileName(1)), 0o444);
    const j = await Journal.open(dir);
    appendRange(j, 11, 12);
    await j.close();
    expect(segments(dir)).toEqual([segmentFileName(1), segmentFileName(11)]);
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 12 });
  });
  it('keeps writing into a header-only last segment even if it was made read-only', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 40, 2048);
    const last = segments(dir).at(-1)!;
    const first = Number(last.slice(0, 20));
    fs.truncateSync(path.join(dir, last), SEGMENT_HEADER_BYTES);
    fs.chmodSync(path.join(dir, last), 0o444);
    const j = await Journal.open(dir, { segmentBytes: 2048 });
    expect(j.lastSeq).toBe(first - 1);
    appendRange(j, first, first + 5);
    await j.close();
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: first + 5 });
  });
});

describe('journal durability and group commit', () => {
  it('resolves whenDurable in seq order and reports durable progress', async () => {
    const dir = tmpDir();
    const j = await Journal.open(dir);
    const seen: number[] = [];
    j.onDurable((s) => seen.push(s));
    appendRange(j, 1, 10);
    const order: number[] = [];
    const waits = [10, 3, 7, 1].map((s) => j.whenDurable(s).then(() => order.push(s)));
    await expect(j.whenDurable(11)).rejects.toThrow(RangeError);
    await Promise.all(waits);
    expect(order).toEqual([1, 3, 7, 10]);
    expect(j.durableSeq).toBe(10);

    appendRange(j, 11, 11);
    const later: number[] = [];
    const p = Promise.all([j.whenDurable(11).then(() => later.push(11)), j.whenDurable(5).then(() => later.push(5))]);
    await p;
    expect(later).toEqual([5, 11]);
    expect(seen.at(-1)).toBe(11);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
    await j.close();
  });

  it('batches many appends made in one tick into one write and one sync', async () => {
    const dir = tmpDir();
    const io = countingIo();
    const j = await Journal.open(dir, { io });
    appendRange(j, 1, 10_000);
    expect(j.durableSeq).toBe(0);
    await j.flush();
    expect(io.writes).toBe(1);
    expect(io.syncs).toBe(1);
    expect(j.stats).toMatchObject({ appends: 10_000, batches: 1, writes: 1, syncs: 1, largestBatchRecords: 10_000 });
    await j.close();
  });

  it('grows batches while a write is in flight instead of writing each append', async () => {
    const dir = tmpDir();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const io = countingIo();
    const slowFirstWrite: JournalIo = {
      writev: async (fd, bufs, pos) => {
        if (io.writes === 0) await gate;
        return io.writev(fd, bufs, pos);
      },
      fdatasync: (fd) => io.fdatasync(fd),
    };
    const j = await Journal.open(dir, { io: slowFirstWrite });
    // 50 event-loop turns of 20 appends while the first batch's write hangs.
    for (let t = 0; t < 50; t++) {
      appendRange(j, t * 20 + 1, t * 20 + 20);
      await new Promise((r) => setImmediate(r));
    }
    expect(j.durableSeq).toBe(0);
    release();
    await j.flush();
    expect(j.durableSeq).toBe(1000);
    expect(io.writes).toBe(2);
    expect(io.syncs).toBe(2);
    expect(j.stats.largestBatchRecords).toBe(980);
    await j.close();
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 1000 });
  });

  it('reuses encoding buffers only once the batch holding them is written', async () => {
    const dir = tmpDir();
    const j = await Journal.open(dir, { io: countingIo(3), fsync: false });
    const blob = (s: number): JournalPayload => ({ type: 'blob', s, data: String(s % 10).repeat(3000) });
    let s = 0;
    // ~27 MB through 1 MiB encoding chunks while writes are slow, so chunks turn over mid-write.
    for (let t = 0; t < 30; t++) {
      for (let k = 0; k < 300; k++) {
        s++;
        j.append('input', s, T0 + BigInt(s), blob(s));
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await j.close();
    let n = 0;
    for (const e of Journal.read(dir)) {
      n++;
      expect(e.payload).toEqual(blob(n));
    }
    expect(n).toBe(s);
  });

  it('signals backpressure above the pending bound and clears it once durable', async () => {
    const dir = tmpDir();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const io: JournalIo = {
      writev: async (fd, bufs, pos) => {
        await gate;
        return nodeJournalIo.writev(fd, bufs, pos);
      },
      fdatasync: (fd) => nodeJournalIo.fdatasync(fd),
    };
    const j = await Journal.open(dir, { io, maxPendingBytes: 20_000 });
    const events: boolean[] = [];
    j.onBackpressure((active) => events.push(active));
    let s = 0;
    while (!j.backpressure) {
      s++;
      j.append('input', s, T0 + BigInt(s), payload(s));
    }
    expect(events).toEqual([true]);
    expect(j.pendingBytes).toBeGreaterThan(20_000);
    // Appends still succeed under backpressure: nothing is dropped.
    j.append('input', s + 1, T0, payload(s + 1));
    release();
    await j.flush();
    expect(j.backpressure).toBe(false);
    expect(events).toEqual([true, false]);
    expect(j.pendingBytes).toBe(0);
    await j.close();
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: s + 1 });
  });

  it('does not swallow a write error: durability stops, onError fires, appends refuse', async () => {
    const dir = tmpDir();
    let fail = false;
    const io: JournalIo = {
      writev: (fd, bufs, pos) =>
        fail ? Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })) : nodeJournalIo.writev(fd, bufs, pos),
      fdatasync: (fd) => nodeJournalIo.fdatasync(fd),
    };
    const j = await Journal.open(dir, { io });
    const errors: JournalWriteError[] = [];
    const durable: number[] = [];
    j.onError((e) => errors.push(e));
    j.onDurable((s) => durable.push(s));
    appendRange(j, 1, 5);
    await j.flush();
    fail = true;
    appendRange(j, 6, 8);
    await expect(j.whenDurable(8)).rejects.toBeInstanceOf(JournalWriteError);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/durable seq 5: EIO/);
    expect(j.durableSeq).toBe(5);
    expect(durable).toEqual([5]);
    expect(() => j.append('input', 9, T0, payload(9))).toThrow(JournalWriteError);
    await expect(j.flush()).rejects.toBeInstanceOf(JournalWriteError);
    await expect(j.close()).rejects.toBeInstanceOf(JournalWriteError);
    // What did reach the disk is intact.
    expect(readAll(dir).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('flushes an append made while the flush loop is winding down', async () => {
    const dir = tmpDir();
    const j = await Journal.open(dir, { fsync: false });
    // Append from durability continuations a varying number of microtasks later, so some land
    // right as the loop decides it has nothing left to do: each must still become durable.
    for (let s = 1; s <= 60; s++) {
      j.append('input', s, T0, payload(s));
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`seq ${s} never became durable`)), 2000);
      });
      await Promise.race([j.whenDurable(s), stuck]).finally(() => clearTimeout(timer));
      for (let hop = 0; hop < s % 8; hop++) await Promise.resolve();
    }
    expect(j.durableSeq).toBe(60);
    await j.close();
  });
});

describe('journal recovery', () => {
  it('truncates a torn tail cut mid-record and reports the repair', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 50);
    const file = path.join(dir, segmentFileName(1));
    const offsets = frameOffsets(file);
    const cut = offsets[49]! + 30;
    const size = fs.statSync(file).size;
    fs.truncateSync(file, cut);

    const j = await Journal.open(dir);
    expect(j.repaired).toMatchObject({ segment: segmentFileName(1), offset: offsets[49], droppedBytes: cut - offsets[49]!, seq: 50 });
    expect(size).toBeGreaterThan(cut);
    expect(j.lastSeq).toBe(49);
    expect(fs.statSync(file).size).toBe(offsets[49]);
    j.append('event', 50, T0, { type: 'journal.repaired', droppedBytes: j.repaired!.droppedBytes });
    await j.close();
    const entries = readAll(dir);
    expect(entries).toHaveLength(50);
    expect(entries[49]!.payload.type).toBe('journal.repaired');
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 50 });
  });

  it('truncates a garbage tail', async () => {
    for (const tail of [randomBytes(1000), Buffer.concat([randomBytes(100), Buffer.alloc(4096)])]) {
      const dir = tmpDir();
      await writeJournal(dir, 20);
      const file = path.join(dir, segmentFileName(1));
      const size = fs.statSync(file).size;
      fs.appendFileSync(file, tail);
      expect(verifyJournal(dir)).toMatchObject({ ok: false, firstBadSeq: 21 });
      const j = await Journal.open(dir);
      expect(j.repaired).toMatchObject({ segment: segmentFileName(1), offset: size, droppedBytes: tail.length });
      expect(j.lastSeq).toBe(20);
      await j.close();
      expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 20 });
    }
  });

  it('removes a last segment whose creation was torn (no complete header)', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 10);
    fs.writeFileSync(path.join(dir, segmentFileName(11)), Buffer.alloc(20));
    const j = await Journal.open(dir);
    expect(j.repaired).toMatchObject({ segment: segmentFileName(11), offset: 0, droppedBytes: 20, seq: 11 });
    expect(j.lastSeq).toBe(10);
    appendRange(j, 11, 12);
    await j.close();
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 12 });
  });

  it('refuses to open on a damaged record followed by valid data, naming segment and seq', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 30);
    const file = path.join(dir, segmentFileName(1));
    flipByte(file, frameOffsets(file)[9]! + 8 + 60); // inside seq 10's payload
    const err = await Journal.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalCorruptError);
    expect(err).toMatchObject({ segment: segmentFileName(1), seq: 10 });
    expect((err as Error).message).toMatch(/00000000000000000001\.seg, seq 10, .*checksum mismatch.*not a torn tail/);
    // The refusal changed nothing: the directory can be opened after the damage is fixed.
    flipByte(file, frameOffsets(file)[9]! + 8 + 60);
    const j = await Journal.open(dir);
    expect(j.lastSeq).toBe(30);
    await j.close();
  });

  it('refuses to treat the end of a sealed segment as a torn tail', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 100, 2048);
    const segs = segments(dir);
    const first = path.join(dir, segs[0]!);
    const offsets = frameOffsets(first);
    const lastInFirst = Number(segs[1]!.slice(0, 20)) - 1;
    fs.chmodSync(first, 0o644);
    fs.truncateSync(first, offsets.at(-1)! + 10);
    await expect(Journal.open(dir, { segmentBytes: 2048 })).rejects.toMatchObject({ segment: segs[0], seq: lastInFirst });
  });

  it('refuses a gap in seq (missing segment) and a segment with a wrong header', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 100, 2048);
    const segs = segments(dir);
    const expectedAfterFirst = Number(segs[1]!.slice(0, 20));
    const second = path.join(dir, segs[1]!);
    const saved = fs.readFileSync(second);
    fs.rmSync(second);
    await expect(Journal.open(dir)).rejects.toMatchObject({ segment: segs[2], seq: expectedAfterFirst });
    expect(verifyJournal(dir)).toMatchObject({ ok: false, firstBadSeq: expectedAfterFirst, segment: segs[2] });

    fs.writeFileSync(second, saved);
    flipByte(second, 3); // magic
    await expect(Journal.open(dir)).rejects.toThrow(/bad magic/);
    expect(verifyJournal(dir)).toMatchObject({ ok: false, firstBadSeq: expectedAfterFirst, reason: expect.stringMatching(/magic/) });
  });

  it('names the seq whose payload byte was flipped in verifyJournal', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 300, 4096);
    const segs = segments(dir);
    const seg = segs[2]!;
    const first = Number(seg.slice(0, 20));
    const file = path.join(dir, seg);
    flipByte(file, frameOffsets(file)[3]! + 8 + 55);
    expect(verifyJournal(dir)).toMatchObject({ ok: false, firstBadSeq: first + 3, segment: seg, reason: expect.stringMatching(/checksum/) });
    expect(() => readAll(dir)).toThrow(JournalCorruptError);
    expect(readAll(dir, { toSeq: first + 2 })).toHaveLength(first + 2);
  });

  it('detects an altered record whose checksum was recomputed through the hash chain', async () => {
    const dir = tmpDir();
    await writeJournal(dir, 20);
    const file = path.join(dir, segmentFileName(1));
    const off = frameOffsets(file)[6]!; // seq 7
    const buf = fs.readFileSync(file);
    const len = buf.readUInt32LE(off);
    const body = buf.subarray(off + 8, off + 8 + len);
    const at = body.indexOf('record 7');
    body.write('record 8', at, 'utf8');
    const { crc32 } = await import('node:zlib');
    buf.writeUInt32LE(crc32(body), off + 4);
    fs.writeFileSync(file, buf);
    expect(verifyJournal(dir)).toMatchObject({ ok: false, firstBadSeq: 7, reason: expect.stringMatching(/hash chain broken/) });
    await expect(Journal.open(dir)).rejects.toMatchObject({ seq: 7 });
    expect(() => readAll(dir)).toThrow(/hash chain broken/);
  });

  it('reopen after any truncation yields exactly a prefix of what was appended (property)', async () => {
    const payloadArb = fc.record({
      type: fc.string({ unit: 'binary', maxLength: 12 }),
      body: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom<JournalKind>('input', 'event'), payloadArb), { minLength: 1, maxLength: 60 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.option(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 300 }).map((n) => new Uint8Array(n)))),
        async (records, cutAt, tail) => {
          const dir = tmpDir();
          const j = await Journal.open(dir, { segmentBytes: 1024, fsync: false });
          records.forEach(([kind, p], i) => j.append(kind, i + 1, T0 + BigInt(i), p));
          await j.close();

          // Cut the concatenated journal at one byte position: segments after it are gone, the
          // one holding it ends there (what a crash mid-write can leave).
          const segs = segments(dir).map((n) => path.join(dir, n));
          const sizes = segs.map((s) => fs.statSync(s).size);
          const total = sizes.reduce((a, b) => a + b, 0);
          let cut = Math.floor(cutAt * total);
          let k = 0;
          while (k < segs.length - 1 && cut >= sizes[k]!) cut -= sizes[k++]!;
          for (const s of segs.slice(k + 1)) fs.rmSync(s, { force: true });
          fs.chmodSync(segs[k]!, 0o644);
          fs.truncateSync(segs[k]!, Math.min(cut, sizes[k]!));
          // Sometimes followed by random bytes or zeros, as a torn write can leave.
          if (tail !== null && cut >= SEGMENT_HEADER_BYTES) fs.appendFileSync(segs[k]!, tail);

          const reopened = await Journal.open(dir, { segmentBytes: 1024, fsync: false });
          const n = reopened.lastSeq;
          await reopened.close();
          const got = readAll(dir);
          expect(got).toHaveLength(n);
          expect(n).toBeLessThanOrEqual(records.length);
          got.forEach((e, i) => {
            expect(e.seq).toBe(i + 1);
            expect(e.kind).toBe(records[i]![0]);
            expect(e.payload).toEqual(JSON.parse(JSON.stringify(records[i]![1])));
          });
          expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: n });
          fs.rmSync(dir, { recursive: true, force: true });
        },
      ),
      { numRuns: 60 },
    );
  });
});
