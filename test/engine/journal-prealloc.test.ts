/**
 * Pre-allocated segments (a zero tail on the active segment) and the pipelined group commit.
 * No timings are asserted: waits poll for a state, bounded by a count.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  Journal,
  JournalWriteError,
  PREPARED_SEGMENT_NAME,
  RECORD_PREFIX_BYTES,
  SEGMENT_HEADER_BYTES,
  nodeJournalIo,
  segmentFileName,
  verifyJournal,
  type JournalIo,
  type JournalPayload,
} from '../../src/engine/journal.js';
import { tempDirs } from '../helpers.js';

const T0 = 1_767_225_600_000_000_000n;
const SEGMENT = 8 * 1024;
const tmpDir = tempDirs('bulwark-journal-prealloc-');

function payload(i: number): JournalPayload {
  return { type: 'tick', i, price: '101.25', note: `record ${i}` };
}

function segments(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => /^\d{20}\.seg$/.test(n))
    .sort();
}

/** Offsets of the record frames in a segment, stopping at the end of the file or a zero tail. */
function frames(file: string): { offsets: number[]; end: number; size: number } {
  const buf = fs.readFileSync(file);
  const offsets: number[] = [];
  let off = SEGMENT_HEADER_BYTES;
  while (off + RECORD_PREFIX_BYTES <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len === 0) break;
    offsets.push(off);
    off += RECORD_PREFIX_BYTES + len;
  }
  return { offsets, end: off, size: buf.length };
}

/** Every segment but the last is sealed: read-only, its last record ending at the end of the file. */
function expectSealedExactly(dir: string): string[] {
  const segs = segments(dir);
  for (const name of segs.slice(0, -1)) {
    const f = frames(path.join(dir, name));
    expect(f.end).toBe(f.size);
    expect(fs.statSync(path.join(dir, name)).mode & 0o222).toBe(0);
  }
  return segs;
}

/** A journal of records 1..n written without pre-allocation (every file exactly its data). */
async function writePlain(n: number, segmentBytes?: number): Promise<string> {
  const dir = tmpDir();
  const j = await Journal.open(dir, { segmentBytes, preallocate: false });
  for (let s = 1; s <= n; s++) j.append('input', s, T0 + BigInt(s), payload(s));
  await j.close();
  return dir;
}

function isZero(buf: Buffer): boolean {
  return buf.every((b) => b === 0);
}

/**
 * Appends one record per flush until `n` segments were started in a prepared file (the
 * background preparation gets its turns in between). Returns the last seq.
 */
async function fillUntilPreallocated(j: Journal, n: number, from = j.lastSeq + 1): Promise<number> {
  let seq = from - 1;
  for (let guard = 0; j.stats.preallocatedSegments < n; guard++) {
    if (guard > 20_000) throw new Error(`only ${j.stats.preallocatedSegments} pre-allocated segments after ${guard} appends`);
    seq++;
    j.append('input', seq, T0 + BigInt(seq), payload(seq));
    await j.flush();
    await new Promise((r) => setTimeout(r, 1));
  }
  return seq;
}

describe('pre-allocated segments', () => {
  it('rolls into zero-filled files, seals them to their exact data size, and reads and verifies the zero-tailed active segment', async () => {
    const dir = tmpDir();
    const j = await Journal.open(dir, { segmentBytes: SEGMENT });
    const last = await fillUntilPreallocated(j, 2);
    await j.close();

    // Sealed segments: the last record ends exactly at the end of the file, as before pre-allocation.
    const segs = expectSealedExactly(dir);
    expect(segs.length).toBeGreaterThanOrEqual(3);
    // The active segment was pre-allocated: data, then zeros to segmentBytes.
    const active = path.join(dir, segs.at(-1)!);
    const f = frames(active);
    expect(f.size).toBe(SEGMENT);
    expect(f.end).toBeLessThan(f.size);
    expect(isZero(fs.readFileSync(active).subarray(f.end))).toBe(true);
    // close removes the prepared file, if one was ready.
    expect(fs.existsSync(path.join(dir, PREPARED_SEGMENT_NAME))).toBe(false);

    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: last });
    const entries = [...Journal.read(dir)];
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    expect([...Journal.read(dir, { verify: false })].map((e) => e.hash.toString('hex'))).toEqual(entries.map((e) => e.hash.toString('hex')));

    // Reopen: no repair; new records overwrite the zeros in place.
    const k = await Journal.open(dir, { segmentBytes: SEGMENT });
    expect(k.repaired).toBeUndefined();
    expect(k.lastSeq).toBe(last);
    k.append('input', last + 1, T0, payload(last + 1));
    await k.close();
    expect(fs.statSync(active).size).toBe(SEGMENT);
    expect(frames(active).end).toBeGreaterThan(f.end);
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: last + 1 });
  });

  it('recovers a segment with a zero tail without repairing it, and keeps writing into it', async () => {
    const dir = await writePlain(20);
    const file = path.join(dir, segmentFileName(1));
    const dataEnd = fs.statSync(file).size;
    fs.appendFileSync(file, Buffer.alloc(4096));
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 20 });
    expect([...Journal.read(dir)]).toHaveLength(20);

    const k = await Journal.open(dir);
    expect(k.repaired).toBeUndefined();
    expect(k.lastSeq).toBe(20);
    for (let s = 21; s <= 25; s++) k.append('event', s, T0 + BigInt(s), payload(s));
    await k.close();
    expect(fs.statSync(file).size).toBe(dataEnd + 4096);
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 25 });
    expect([...Journal.read(dir)].map((e) => e.seq).at(-1)).toBe(25);
  });

  it('cuts a torn record followed by zeros and reports the repair', async () => {
    for (const tear of ['cut', 'lost-first-sector'] as const) {
      const dir = await writePlain(30);
      const file = path.join(dir, segmentFileName(1));
      const buf = fs.readFileSync(file);
      const f = frames(file);
      const lastFrame = f.offsets.at(-1)!;
      // The last record only partly reached the disk, in a file pre-allocated with zeros.
      const torn = Buffer.alloc(buf.length - lastFrame + 4096);
      if (tear === 'cut') buf.copy(torn, 0, lastFrame, lastFrame + 40);
      else buf.copy(torn, 20, lastFrame + 20, buf.length); // the first bytes (its length) are still zero
      fs.writeFileSync(file, Buffer.concat([buf.subarray(0, lastFrame), torn]));

      expect(verifyJournal(dir)).toMatchObject({ ok: false, firstBadSeq: 30, offset: lastFrame });
      expect(() => [...Journal.read(dir)]).toThrow(/seq 30/);
      const k = await Journal.open(dir);
      expect(k.repaired).toMatchObject({ segment: segmentFileName(1), offset: lastFrame, seq: 30, droppedBytes: torn.length });
      expect(k.lastSeq).toBe(29);
      expect(fs.statSync(file).size).toBe(lastFrame);
      k.append('event', 30, T0, { type: 'journal.repaired', droppedBytes: k.repaired!.droppedBytes });
      await k.close();
      expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 30 });
    }
  });

  it('does not take zeros inside the data for its end: a zeroed record with records after it is damage', async () => {
    const dir = await writePlain(10);
    const file = path.join(dir, segmentFileName(1));
    fs.appendFileSync(file, Buffer.alloc(1000));
    const f = frames(file);
    const buf = fs.readFileSync(file);
    buf.fill(0, f.offsets[4]!, f.offsets[5]!); // record 5 zeroed out entirely
    fs.writeFileSync(file, buf);
    expect(verifyJournal(dir)).toMatchObject({ ok: false, firstBadSeq: 5, offset: f.offsets[4] });
    expect(() => [...Journal.read(dir)]).toThrow(/seq 5/);
    await expect(Journal.open(dir)).rejects.toMatchObject({ seq: 5, offset: f.offsets[4] });
  });

  it('accepts a zero tail only on the last segment', async () => {
    const dir = await writePlain(40, 2048);
    const segs = segments(dir);
    expect(segs.length).toBeGreaterThan(2);
    const first = path.join(dir, segs[0]!);
    fs.chmodSync(first, 0o644);
    fs.appendFileSync(first, Buffer.alloc(512));
    const nextFirstSeq = Number(segs[1]!.slice(0, 20));
    expect(verifyJournal(dir)).toMatchObject({ ok: false, firstBadSeq: nextFirstSeq, segment: segs[0] });
    await expect(Journal.open(dir)).rejects.toMatchObject({ segment: segs[0], seq: nextFirstSeq });
  });

  it('survives a crash between preparing the next segment and using it', async () => {
    const dir = tmpDir();
    const j = await Journal.open(dir, { segmentBytes: SEGMENT });
    const last = await fillUntilPreallocated(j, 1);
    // Keep appending until the next file has been prepared (it waits in the directory, unnamed).
    let seq = last;
    for (let guard = 0; !fs.existsSync(path.join(dir, PREPARED_SEGMENT_NAME)) || fs.statSync(path.join(dir, PREPARED_SEGMENT_NAME)).size < SEGMENT; guard++) {
      if (guard > 20_000) throw new Error('the next segment was never prepared');
      seq++;
      j.append('input', seq, T0 + BigInt(seq), payload(seq));
      await j.flush();
      await new Promise((r) => setTimeout(r, 1));
    }
    // "Crash": a copy of the directory as it is now, with the prepared file in it.
    const crashed = tmpDir();
    fs.cpSync(dir, crashed, { recursive: true });
    await j.close();
    expect(fs.existsSync(path.join(crashed, PREPARED_SEGMENT_NAME))).toBe(true);
    expect(verifyJournal(crashed)).toEqual({ ok: true, lastSeq: seq });

    const k = await Journal.open(crashed, { segmentBytes: SEGMENT });
    expect(k.repaired).toBeUndefined();
    expect(k.lastSeq).toBe(seq);
    expect(fs.existsSync(path.join(crashed, PREPARED_SEGMENT_NAME))).toBe(false);
    const more = await fillUntilPreallocated(k, 1, seq + 1);
    await k.close();
    expect(verifyJournal(crashed)).toEqual({ ok: true, lastSeq: more });
  });

  it('removes a segment whose prepared file was moved into place before its header reached the disk', async () => {
    const dir = await writePlain(10, SEGMENT);
    // The roll renamed the zero-filled file to the new segment's name, then the machine stopped.
    fs.writeFileSync(path.join(dir, segmentFileName(11)), Buffer.alloc(SEGMENT));
    fs.writeFileSync(path.join(dir, PREPARED_SEGMENT_NAME), Buffer.alloc(SEGMENT / 2));
    const k = await Journal.open(dir, { segmentBytes: SEGMENT });
    expect(k.repaired).toMatchObject({ segment: segmentFileName(11), offset: 0, droppedBytes: SEGMENT, seq: 11 });
    expect(segments(dir)).toEqual([segmentFileName(1)]);
    expect(fs.existsSync(path.join(dir, PREPARED_SEGMENT_NAME))).toBe(false);
    k.append('input', 11, T0, payload(11));
    await k.close();
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 11 });
  });

  it('keeps a header-only pre-allocated segment (header written, no record yet) and writes into it', async () => {
    const dir = await writePlain(12, 1024);
    const last = segments(dir).at(-1)!;
    const firstSeq = Number(last.slice(0, 20));
    expect(firstSeq).toBeGreaterThan(1);
    // What a roll into a prepared file leaves when the machine stops right after the header.
    const file = path.join(dir, last);
    const header = fs.readFileSync(file).subarray(0, SEGMENT_HEADER_BYTES);
    fs.writeFileSync(file, Buffer.concat([header, Buffer.alloc(SEGMENT - SEGMENT_HEADER_BYTES)]));
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: firstSeq - 1 });

    const k = await Journal.open(dir, { segmentBytes: SEGMENT });
    expect(k.repaired).toBeUndefined();
    expect(k.lastSeq).toBe(firstSeq - 1);
    k.append('input', firstSeq, T0 + BigInt(firstSeq), payload(firstSeq));
    await k.close();
    expect(fs.statSync(file).size).toBe(SEGMENT);
    expect(segments(dir).at(-1)).toBe(last);
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: firstSeq });
  });
});

describe('pipelined group commit', () => {
  /** An io whose syncs wait until released, one gate per sync call, in call order. */
  function gatedIo(): { io: JournalIo; syncFds: number[]; release: (i: number, error?: Error) => void; calls: () => number } {
    const gates: { resolve: () => void; reject: (e: Error) => void }[] = [];
    const pending: Promise<void>[] = [];
    const syncFds: number[] = [];
    const io: JournalIo = {
      writev: (fd, bufs, pos) => nodeJournalIo.writev(fd, bufs, pos),
      fdatasync: (fd) => {
        syncFds.push(fd);
        const p = new Promise<void>((resolve, reject) => gates.push({ resolve, reject }));
        pending.push(p);
        return p.then(() => nodeJournalIo.fdatasync(fd));
      },
    };
    return {
      io,
      syncFds,
      release: (i, error) => (error === undefined ? gates[i]!.resolve() : gates[i]!.reject(error)),
      calls: () => gates.length,
    };
  }

  /**
   * Waits for `cond`, up to 10 s. A deadline, not a count of loop turns: 5,000 turns were about
   * 100 ms, and a write through libuv on a machine busy with the other test files took longer.
   */
  async function until(cond: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error('condition never became true');
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Seq 1 durable (its batch created the segment, synced on its own); 2 and 3 in two batches, both syncs hanging. */
  async function twoSyncsHanging(syncsInFlight: number) {
    const dir = tmpDir();
    const g = gatedIo();
    const j = await Journal.open(dir, { io: g.io, syncsInFlight, preallocate: false });
    const seen: number[] = [];
    j.onDurable((s) => seen.push(s));
    j.append('input', 1, T0, payload(1));
    await until(() => g.calls() === 1);
    g.release(0);
    await j.flush();
    j.append('input', 2, T0, payload(2));
    await until(() => g.calls() === 2);
    j.append('input', 3, T0, payload(3));
    await until(() => g.calls() === 3); // batch 3 written and syncing while batch 2's sync hangs
    return { dir, g, j, seen };
  }

  it('writes the next batch while a sync is in flight and reports durability strictly in order', async () => {
    const { dir, g, j, seen } = await twoSyncsHanging(2);
    j.append('input', 4, T0, payload(4));
    await new Promise((r) => setTimeout(r, 20));
    expect(g.calls()).toBe(3); // at most two syncs in flight: batch 4 waits
    // Two concurrent syncs go through two different open file descriptions.
    expect(g.syncFds[1]).not.toBe(g.syncFds[2]);

    g.release(2); // the later batch's sync finishes first: nothing more is durable yet
    await new Promise((r) => setTimeout(r, 20));
    expect(j.durableSeq).toBe(1);
    g.release(1);
    await until(() => j.durableSeq === 3);
    await until(() => g.calls() === 4);
    g.release(3);
    await j.flush();
    expect(seen).toEqual([1, 3, 4]);
    await j.close();
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 4 });
  });

  it('stops at a failed sync even when a later batch synced, and close waits for syncs in flight', async () => {
    const { g, j } = await twoSyncsHanging(3);
    const errors: JournalWriteError[] = [];
    j.onError((e) => errors.push(e));
    const w3 = j.whenDurable(3);
    w3.catch(() => {});
    g.release(2); // batch 3 synced...
    await new Promise((r) => setTimeout(r, 50));
    expect(j.durableSeq).toBe(1);
    g.release(1, Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })); // ...batch 2 did not
    await expect(w3).rejects.toBeInstanceOf(JournalWriteError);
    expect(j.durableSeq).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/durable seq 1: EIO/);
    expect(() => j.append('input', 4, T0, payload(4))).toThrow(JournalWriteError);
    await expect(j.close()).rejects.toBeInstanceOf(JournalWriteError);
  });

  it('keeps roll ordering: the sealed segment is synced and truncated before the next one is used', async () => {
    const dir = tmpDir();
    const j = await Journal.open(dir, { segmentBytes: 2048, syncsInFlight: 3 });
    let s = 0;
    for (let t = 0; t < 60; t++) {
      for (let k = 0; k < 5; k++) {
        s++;
        j.append('input', s, T0 + BigInt(s), payload(s));
      }
      await new Promise((r) => setImmediate(r));
    }
    await j.close();
    expect(expectSealedExactly(dir).length).toBeGreaterThan(5);
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: s });
  });
});
