/**
 * JournalTail: the reader that keeps its place between calls (the database projector's). Checked
 * against Journal.read, which stays the reference: same entries, same errors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Journal,
  JournalCorruptError,
  JournalTail,
  RECORD_PREFIX_BYTES,
  SEGMENT_HEADER_BYTES,
  type JournalEntry,
  type JournalPayload,
} from '../../src/engine/journal.js';
import { tempDirs } from '../helpers.js';
import { BatchBuilder, ProjectionState, ZERO_HASH_HEX, jsonText } from '../../src/storage/projection.js';
import { auditRowsOf } from '../storage/audit-copy.js';

const T0 = 1_767_225_600_000_000_000n;
const SEGMENT = 8 * 1024;
// registered first, so its afterEach runs after the one closing the tails below
const tmpDir = tempDirs('bulwark-journal-tail-');
const tails: JournalTail[] = [];

function tailOf(dir: string, fromSeq?: number, verify = false): JournalTail {
  const t = new JournalTail(dir, fromSeq, { verify });
  tails.push(t);
  return t;
}

afterEach(() => {
  for (const t of tails.splice(0)) t.close();
});

function payload(i: number): JournalPayload {
  // sizes vary, so record boundaries fall everywhere relative to the reads and the segment ends
  return { type: i % 3 === 0 ? 'order.new' : 'tick', i, price: '101.25', note: 'x'.repeat((i * 37) % 300) };
}

function append(j: Journal, from: number, to: number): void {
  for (let s = from; s <= to; s++) j.append(s % 2 === 0 ? 'event' : 'input', s, T0 + BigInt(s), payload(s));
}

/** The JournalEntry part of an entry (a tail's entry also has payloadText). */
function plain(e: JournalEntry): JournalEntry {
  return { seq: e.seq, ts: e.ts, kind: e.kind, payload: e.payload, hash: e.hash };
}

function segments(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => /^\d{20}\.seg$/.test(n))
    .sort();
}

/** A closed journal of records 1..n, every file exactly its data (no zero tail). */
async function writePlain(n: number, segmentBytes?: number): Promise<string> {
  const dir = tmpDir();
  const j = await Journal.open(dir, { segmentBytes, preallocate: false, fsync: false });
  append(j, 1, n);
  await j.close();
  return dir;
}

/** End offsets of the record frames of a segment file without a zero tail. */
function recordEnds(buf: Buffer): number[] {
  const ends: number[] = [];
  for (let off = SEGMENT_HEADER_BYTES; off < buf.length; ) {
    off += RECORD_PREFIX_BYTES + buf.readUInt32LE(off);
    ends.push(off);
  }
  return ends;
}

describe('JournalTail', () => {
  for (const verify of [false, true]) {
    it(`returns what Journal.read returns while the journal is appended to and rolls over small pre-allocated segments (verify ${verify})`, async () => {
      const dir = tmpDir();
      const j = await Journal.open(dir, { segmentBytes: SEGMENT });
      const tail = tailOf(dir, 1, verify);
      const got: JournalEntry[] = [];
      const texts: string[] = [];
      const take = (toSeq: number): void => {
        for (const e of tail.read(toSeq)) {
          got.push(plain(e));
          texts.push(e.payloadText);
        }
        expect(tail.nextSeq).toBe(Math.max(got.length, toSeq) + 1);
      };
      let seq = 0;
      for (let round = 0; round < 120; round++) {
        const n = 1 + ((round * 7) % 23);
        append(j, seq + 1, seq + n);
        seq += n;
        // the batch is being written (writev and fdatasync on the thread pool) while we read
        take(j.durableSeq);
        await new Promise((r) => setImmediate(r));
        take(j.durableSeq);
        if (round % 10 === 0) await j.flush();
      }
      await j.flush();
      take(j.durableSeq);
      expect(j.stats.preallocatedSegments).toBeGreaterThan(0);
      expect(segments(dir).length).toBeGreaterThan(5);
      expect(got.length).toBe(seq);
      expect(got).toEqual([...Journal.read(dir, { verify })]);
      expect(texts).toEqual(got.map((e) => JSON.stringify(e.payload)));
      // nothing more to read, at the end of the zero-tailed active segment
      expect([...tail.read(j.durableSeq)]).toEqual([]);
      await j.close();
    });
  }

  it('never returns a record beyond toSeq, and continues from there at the next call', async () => {
    const dir = await writePlain(300, SEGMENT);
    const all = [...Journal.read(dir, { verify: false })];
    const tail = tailOf(dir);
    expect([...tail.read(5)].map(plain)).toEqual(all.slice(0, 5));
    expect([...tail.read(5)]).toEqual([]);
    expect([...tail.read(3)]).toEqual([]);
    const bounds = [6, 7, 50, 51, 120, 299, 300, 400];
    let from = 5;
    for (const b of bounds) {
      expect([...tail.read(b)].map(plain)).toEqual(all.slice(from, Math.min(b, 300)));
      from = Math.min(b, 300);
    }
    expect(tail.nextSeq).toBe(301);
  });

  it('starts at any seq (a projector restarting from the database) as Journal.read with fromSeq does', async () => {
    const dir = await writePlain(300, SEGMENT);
    const all = [...Journal.read(dir)];
    const firsts = segments(dir).map((n) => Number(n.slice(0, 20)));
    expect(firsts.length).toBeGreaterThan(3);
    for (const from of [1, 2, firsts[1]! - 1, firsts[1]!, firsts[1]! + 1, firsts.at(-1)!, 299, 300]) {
      for (const verify of [false, true]) {
        const got = [...tailOf(dir, from, verify).read()];
        expect(got.map(plain)).toEqual([...Journal.read(dir, { fromSeq: from, verify })]);
        expect(got.map(plain)).toEqual(all.slice(from - 1));
      }
    }
    // past the end: nothing yet, then the records as they come
    const later = tailOf(dir, 305);
    expect([...later.read()]).toEqual([]);
    const j = await Journal.open(dir, { segmentBytes: SEGMENT, fsync: false });
    append(j, 301, 310);
    await j.flush();
    expect([...later.read(j.durableSeq)].map((e) => e.seq)).toEqual([305, 306, 307, 308, 309, 310]);
    await j.close();
  });

  it('waits for an empty journal directory to get its first segment', async () => {
    const dir = tmpDir();
    const tail = tailOf(dir);
    expect([...tail.read()]).toEqual([]);
    const j = await Journal.open(dir, { fsync: false });
    expect([...tail.read()]).toEqual([]);
    append(j, 1, 3);
    await j.flush();
    expect([...tail.read(j.durableSeq)].map((e) => e.seq)).toEqual([1, 2, 3]);
    await j.close();
  });

  it('does not return a record until it is wholly written (appended files)', async () => {
    const src = await writePlain(40);
    const [name] = segments(src);
    const full = fs.readFileSync(path.join(src, name!));
    const expected = [...Journal.read(src, { verify: false })];
    const dir = tmpDir();
    const file = path.join(dir, name!);
    const ends = recordEnds(full);
    const tail = tailOf(dir);
    const got: JournalEntry[] = [];
    // cut points everywhere: inside the header, the length, the CRC, the body, and at boundaries
    const cuts = [0, 10, 63, 64, 66, 70, 72, 100, ends[0]!, ends[0]! + 1, ends[3]! - 1, ends[3]!, ends[10]! + 5, ends[25]! + 60, full.length];
    let written = 0;
    fs.writeFileSync(file, Buffer.alloc(0));
    for (const cut of cuts) {
      fs.appendFileSync(file, full.subarray(written, cut));
      written = cut;
      for (const e of tail.read()) got.push(plain(e));
      const complete = ends.filter((e) => e <= cut).length;
      expect(got.length).toBe(complete);
    }
    expect(got).toEqual(expected);
  });

  it('stops at a zero tail and reads records written over it, bounded by toSeq while a record is half written', async () => {
    const src = await writePlain(40);
    const [name] = segments(src);
    const full = fs.readFileSync(path.join(src, name!));
    const expected = [...Journal.read(src, { verify: false })];
    const ends = recordEnds(full);
    for (const verify of [false, true]) {
      const dir = tmpDir();
      const file = path.join(dir, name!);
      // pre-allocated: header, then zeros well past the data
      fs.writeFileSync(file, Buffer.alloc(full.length + 4096));
      const fd = fs.openSync(file, 'r+');
      const tail = tailOf(dir, 1, verify);
      const got: JournalEntry[] = [];
      try {
        let written = 0;
        for (const cut of [SEGMENT_HEADER_BYTES, ends[0]!, ends[0]! + 3, ends[1]! - 7, ends[4]!, ends[9]! + 20, ends[20]!, full.length]) {
          fs.writeSync(fd, full, written, cut - written, written);
          written = cut;
          const complete = ends.filter((e) => e <= cut).length;
          // bounded by the records wholly written (the durable seq), a half-written one is never parsed
          for (const e of tail.read(complete)) got.push(plain(e));
          expect(got.length).toBe(complete);
          // at a record boundary, an unbounded read stops at the zero tail
          if (ends.includes(cut) || cut === SEGMENT_HEADER_BYTES) expect([...tail.read()]).toEqual([]);
        }
      } finally {
        fs.closeSync(fd);
      }
      expect(got).toEqual(expected);
    }
  });

  it('moves to the next segment only once it exists, with the header written', async () => {
    const src = await writePlain(200, SEGMENT);
    const names = segments(src);
    expect(names.length).toBeGreaterThan(2);
    const expected = [...Journal.read(src, { verify: false })];
    const dir = tmpDir();
    fs.copyFileSync(path.join(src, names[0]!), path.join(dir, names[0]!));
    const tail = tailOf(dir);
    const first = [...tail.read()].map(plain);
    expect(first).toEqual(expected.slice(0, first.length));
    // the next segment's file exists but its header is not written yet (a prepared, zero-filled file)
    const second = path.join(dir, names[1]!);
    fs.writeFileSync(second, Buffer.alloc(SEGMENT));
    expect([...tail.read()]).toEqual([]);
    fs.copyFileSync(path.join(src, names[1]!), second);
    const more = [...tail.read()].map(plain);
    expect([...first, ...more]).toEqual(expected.slice(0, first.length + more.length));
    expect(more.length).toBeGreaterThan(0);
  });

  it('throws on a record whose checksum fails, as Journal.read does', async () => {
    const dir = await writePlain(300, SEGMENT);
    const names = segments(dir);
    const file = path.join(dir, names[1]!);
    fs.chmodSync(file, 0o644);
    const buf = fs.readFileSync(file);
    const ends = recordEnds(buf);
    // flip a byte in the payload of the third record of the second segment
    buf[ends[2]! - 5] ^= 0x55;
    fs.writeFileSync(file, buf);
    const badSeq = Number(names[1]!.slice(0, 20)) + 2;
    for (const verify of [false, true]) {
      const readErr = (() => {
        try {
          for (const e of Journal.read(dir, { verify })) void e;
        } catch (e) {
          return e as JournalCorruptError;
        }
        return undefined;
      })();
      expect(readErr).toBeInstanceOf(JournalCorruptError);
      const tail = tailOf(dir, 1, verify);
      const seen: number[] = [];
      let tailErr: unknown;
      try {
        for (const e of tail.read()) seen.push(e.seq);
      } catch (e) {
        tailErr = e;
      }
      expect(tailErr).toBeInstanceOf(JournalCorruptError);
      expect((tailErr as JournalCorruptError).segment).toBe(readErr!.segment);
      expect((tailErr as JournalCorruptError).seq).toBe(readErr!.seq);
      expect(seen.at(-1)).toBe(badSeq - 1);
    }
  });

  it('a read superseded by a later one cannot be resumed', async () => {
    const dir = await writePlain(20);
    const tail = tailOf(dir);
    const a = tail.read();
    expect(a.next().value?.seq).toBe(1);
    expect([...tail.read(3)].map((e) => e.seq)).toEqual([2, 3]);
    expect(() => a.next()).toThrow(/superseded/);
    expect([...tail.read()].map((e) => e.seq)[0]).toBe(4);
  });
});

describe('JournalTail.readText', () => {
  it('gives the entries read gives, payload left as its text, across segments and rounds', async () => {
    const dir = await writePlain(300, SEGMENT);
    const all = [...Journal.read(dir, { verify: false })];
    const tail = tailOf(dir);
    const got = [...tail.readText(120), ...tail.readText()];
    expect(got.map((e) => ('payload' in e ? 'parsed' : 'text'))).toEqual(all.map(() => 'text'));
    expect(got.map((e) => ({ seq: e.seq, ts: e.ts, kind: e.kind, hash: e.hash, payload: JSON.parse(e.payloadText) as unknown }))).toEqual(all);
    expect(got.map((e) => e.payloadText)).toEqual(all.map((e) => JSON.stringify(e.payload)));
  });
});

describe('payloadText in the projection', () => {
  it('is stored as the audit payload with the NUL rule of jsonText', () => {
    const payloads: JournalPayload[] = [
      { type: 'note', text: 'plain' },
      { type: 'note', text: 'nul \u0000 here', path: 'C:\\u0000' },
    ];
    const viaText = new BatchBuilder(ProjectionState.fromSeeds([]), 1, ZERO_HASH_HEX);
    const viaValue = new BatchBuilder(ProjectionState.fromSeeds([]), 1, ZERO_HASH_HEX);
    payloads.forEach((p, i) => {
      const e: JournalEntry = { seq: i + 1, ts: T0, kind: 'input', payload: p, hash: Buffer.alloc(32, i + 1) };
      viaText.add({ ...e, payloadText: JSON.stringify(p) });
      viaValue.add(e);
    });
    const a = auditRowsOf(viaText.finish()).map((r) => r.payload);
    expect(a).toEqual(auditRowsOf(viaValue.finish()).map((r) => r.payload));
    expect(a).toEqual(payloads.map((p) => jsonText(p)));
    expect(a[1]).toContain('\\ufffd');
    expect(a[1]).toContain('C:\\\\u0000');
  });
});
