import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Journal, JournalWriteError, nodeJournalIo, threadJournalIo, verifyJournal, type JournalIo, type JournalPayload } from '../../src/engine/journal.js';
import { writeOnIoThread } from '../../src/engine/journal-io-thread.js';
import { tempDirs } from '../helpers.js';

const tmpDir = tempDirs('bulwark-iothread-');
const T0 = 1_767_225_600_000_000_000n;
// Streams of these tests: far from the ones Journal instances number from 1.
let nextStream = 1_000_000;

function sharedBytes(text: string): Buffer {
  const b = Buffer.from(new SharedArrayBuffer(Buffer.byteLength(text)));
  b.write(text);
  return b;
}

function withFile<T>(fn: (fd: number, file: string) => Promise<T>, flags = 'w+'): Promise<T> {
  const file = path.join(tmpDir(), 'f.bin');
  const fd = fs.openSync(file, flags);
  return fn(fd, file).finally(() => fs.closeSync(fd));
}

describe('journal I/O thread', () => {
  it('writes each batch at its position, syncs it, and stamps it between hand-over and answer', async () => {
    await withFile(async (fd, file) => {
      const stream = nextStream++;
      const before = process.hrtime.bigint();
      // Shared-memory slices (as the journal's chunks are), a plain Buffer (copied), a pooled slice.
      const batches = Array.from({ length: 50 }, (_, i) => [sharedBytes(`a${i}-`), Buffer.from(`b${i}-`), Buffer.from(`c${i};`)]);
      let pos = 0;
      const out = batches.map((slices) => {
        const p = writeOnIoThread(stream, fd, slices, pos, true);
        pos += slices.reduce((n, s) => n + s.length, 0);
        return p;
      });
      const results = await Promise.all(out);
      const after = process.hrtime.bigint();
      expect(fs.readFileSync(file, 'utf8')).toBe(batches.map((s) => s.map((b) => b.toString()).join('')).join(''));
      expect(results.reduce((n, r) => n + r.bytes, 0)).toBe(pos);
      // Every batch covered by a sync, each sync counted once: 1..50 of them.
      const syncs = results.reduce((n, r) => n + r.syncs, 0);
      expect(syncs).toBeGreaterThanOrEqual(1);
      expect(syncs).toBeLessThanOrEqual(50);
      expect(results.at(-1)!.syncs).toBe(1);
      for (let i = 0; i < results.length; i++) {
        expect(results[i]!.at).toBeGreaterThan(before);
        expect(results[i]!.at).toBeLessThan(after);
        if (i > 0) expect(results[i]!.at).toBeGreaterThanOrEqual(results[i - 1]!.at);
      }
    });
  });

  it('refuses every later batch of a stream whose write failed, unwritten, and goes on with other streams', async () => {
    const dir = tmpDir();
    const good = path.join(dir, 'good.bin');
    const fdGood = fs.openSync(good, 'w+');
    const fdReadOnly = fs.openSync(good, 'r');
    try {
      const bad = nextStream++;
      const other = nextStream++;
      const failing = writeOnIoThread(bad, fdReadOnly, [sharedBytes('xxxx')], 0, true);
      const later = writeOnIoThread(bad, fdGood, [sharedBytes('never')], 0, true);
      const fine = writeOnIoThread(other, fdGood, [sharedBytes('other')], 0, true);
      await expect(failing).rejects.toMatchObject({ code: 'EBADF', syscall: 'write' });
      await expect(later).rejects.toMatchObject({ code: 'EBADF' });
      await expect(fine).resolves.toMatchObject({ bytes: 5 });
      expect(fs.readFileSync(good, 'utf8')).toBe('other');
    } finally {
      fs.closeSync(fdGood);
      fs.closeSync(fdReadOnly);
    }
  });

  it('a journal whose batch fails on the thread stops: durableSeq stays, waiters and later batches are refused', async () => {
    const dir = tmpDir();
    const readOnly = fs.openSync(path.join(dir, 'ro.bin'), 'w');
    fs.closeSync(readOnly);
    const roFd = fs.openSync(path.join(dir, 'ro.bin'), 'r');
    let breakNext = false;
    const io: JournalIo = {
      ...threadJournalIo,
      // The real thread, handed a descriptor it cannot write: a real EBADF from its pwritev.
      writeAndSync: (stream, fd, buffers, position, sync) => threadJournalIo.writeAndSync!(stream, breakNext ? roFd : fd, buffers, position, sync),
    };
    try {
      const j = await Journal.open(path.join(dir, 'j'), { io, preallocate: false });
      const errors: JournalWriteError[] = [];
      j.onError((e) => errors.push(e));
      for (let s = 1; s <= 10; s++) j.append('input', s, T0 + BigInt(s), { type: 'tick', s });
      await j.flush();
      for (let s = 11; s <= 20; s++) j.append('input', s, T0 + BigInt(s), { type: 'tick', s });
      await j.flush(); // seq 11..20 go to the thread in the segment's steady state
      expect(j.durableSeq).toBe(20);
      breakNext = true;
      for (let s = 21; s <= 30; s++) j.append('input', s, T0 + BigInt(s), { type: 'tick', s });
      await expect(j.whenDurable(30)).rejects.toBeInstanceOf(JournalWriteError);
      expect(j.durableSeq).toBe(20);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(/EBADF/);
      expect(() => j.append('input', 31, T0, { type: 'tick' })).toThrow(JournalWriteError);
      await j.close().catch(() => {});
      // What was acknowledged is on disk and verifies; nothing after it was written.
      const entries = [...Journal.read(path.join(dir, 'j'))];
      expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    } finally {
      fs.closeSync(roFd);
    }
  });

  it('stamps durableAt with the moment the thread saw the sync, after the append and before the callback', async () => {
    const j = await Journal.open(tmpDir());
    j.append('input', 1, T0, { type: 'tick' });
    await j.flush();
    const appended = process.hrtime.bigint();
    j.append('input', 2, T0, { type: 'tick' });
    const seen: bigint[] = [];
    j.onDurable(() => seen.push(j.durableAt, process.hrtime.bigint()));
    await j.flush();
    await j.close();
    expect(seen).toHaveLength(2);
    expect(seen[0]!).toBeGreaterThan(appended);
    expect(seen[0]!).toBeLessThanOrEqual(seen[1]!);
  });

  it('writes the same bytes as the libuv path, across rolls, chunk boundaries and flushes at any point (property)', async () => {
    const sizes = fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0, max: 400 }) },
      // records bigger than an encoding chunk's remainder, and bigger than a chunk (1 MiB)
      { weight: 1, arbitrary: fc.integer({ min: 200_000, max: 1_200_000 }) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(sizes, fc.boolean()), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 2048, max: 3_000_000 }),
        async (steps, segmentBytes) => {
          const dirs: Record<string, string> = {};
          for (const [name, io] of [['thread', threadJournalIo], ['libuv', nodeJournalIo]] as const) {
            const dir = tmpDir();
            dirs[name] = dir;
            const j = await Journal.open(dir, { io, segmentBytes, preallocate: false });
            let seq = 0;
            for (const [size, flush] of steps) {
              seq++;
              const p: JournalPayload = { type: 'blob', seq, pad: 'é'.repeat(size >> 1) + 'x'.repeat(size & 1) };
              j.append(seq % 3 === 0 ? 'event' : 'input', seq, T0 + BigInt(seq), p);
              if (flush) await j.flush();
            }
            await j.close();
            expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: steps.length });
          }
          const files = fs.readdirSync(dirs.thread!).sort();
          expect(fs.readdirSync(dirs.libuv!).sort()).toEqual(files);
          for (const f of files) expect(fs.readFileSync(path.join(dirs.thread!, f)).equals(fs.readFileSync(path.join(dirs.libuv!, f)))).toBe(true);
          for (const d of Object.values(dirs)) fs.rmSync(d, { recursive: true, force: true });
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  it('keeps a batch\'s encoding chunks until the thread has written them (a slow thread still writes what was appended)', async () => {
    const dir = tmpDir();
    // The real thread, reached 30 ms late: meanwhile the journal fills several more 1 MiB chunks.
    const slow: JournalIo = {
      ...threadJournalIo,
      writeAndSync: (stream, fd, buffers, position, sync) =>
        new Promise((r) => setTimeout(r, 30)).then(() => threadJournalIo.writeAndSync!(stream, fd, buffers, position, sync)),
    };
    const j = await Journal.open(dir, { io: slow, preallocate: false });
    const payloadOf = (seq: number): JournalPayload => ({ type: 'blob', seq, pad: String(seq % 10).repeat(150_000) });
    j.append('input', 1, T0, payloadOf(1));
    await j.flush();
    for (let seq = 2; seq <= 60; seq++) {
      j.append('input', seq, T0 + BigInt(seq), payloadOf(seq));
      // each record its own batch, handed over before the next is appended
      await new Promise((r) => setImmediate(r));
    }
    await j.close();
    expect(verifyJournal(dir)).toEqual({ ok: true, lastSeq: 60 });
    expect([...Journal.read(dir)].map((e) => e.payload)).toEqual(Array.from({ length: 60 }, (_, i) => payloadOf(i + 1)));
  });

  it('does not keep a process alive once its journal is closed (the thread is unref-ed when idle)', () => {
    const dir = tmpDir();
    const dist = path.resolve('dist/src/engine/journal.js');
    const script = `
      const { Journal } = await import(${JSON.stringify(dist)});
      const j = await Journal.open(${JSON.stringify(dir)}, { segmentBytes: 4096 });
      for (let s = 1; s <= 200; s++) j.append('input', s, 1n, { type: 'tick', s, pad: 'x'.repeat(100) });
      await j.close();
      console.log(j.durableSeq);
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });
    expect(out.trim()).toBe('200');
  });
});
