/**
 * Tamper evidence: every way of changing the record that an insider with disk access might try
 * makes `verify` fail and name the first record that can no longer be trusted; the untouched
 * record verifies.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/engine/journal.js';
import { parsePublicKey } from '../../src/audit/keys.js';
import { readCheckpointFile } from '../../src/audit/checkpoint.js';
import { verifyAudit, type AuditReport } from '../../src/audit/verify.js';
import { tempDir } from '../helpers.js';
import { copyDir, findFrame, fixCrc, readFrames, rewrite, writeAuditedJournal, type WrittenJournal } from './helpers.js';

let base: WrittenJournal;
let root: { dir: string; cleanup: () => void };
let n = 0;

function fresh(): { dataDir: string; journalDir: string } {
  const dataDir = path.join(root.dir, `case-${++n}`);
  copyDir(base.dataDir, dataDir);
  return { dataDir, journalDir: path.join(dataDir, 'journal') };
}

/**
 * With `both`, verifies twice: the chain checked on this thread before the pass over the records,
 * and on a thread of its own beside it (what a journal above CHAIN_THREAD_MIN_BYTES gets), and
 * both must say the same. (Only for some cases: under vitest the thread spends ~1.5 s compiling
 * the journal's TypeScript.)
 */
async function verify(dataDir: string, extra: Partial<Parameters<typeof verifyAudit>[0]> = {}, both = false): Promise<AuditReport> {
  const here = await verifyAudit({ dataDir, database: 'none', ...extra, chainOnThread: false });
  if (both) {
    const beside = await verifyAudit({ dataDir, database: 'none', ...extra, chainOnThread: true });
    expect({ ...beside, elapsedMs: 0 }).toEqual({ ...here, elapsedMs: 0 });
  }
  return here;
}

/** A seq in the middle of a middle segment, away from checkpoint boundaries. */
let target: number;

beforeAll(async () => {
  root = tempDir('bulwark-audit-tamper-');
  base = await writeAuditedJournal(path.join(root.dir, 'base'), { records: 900, segmentBytes: 16 * 1024, checkpointEvery: 100, tree: 'worker' });
  const segs = readFrames(path.join(base.dataDir, 'journal'));
  const mid = segs[Math.floor(segs.length / 2)]!;
  target = mid.frames[Math.floor(mid.frames.length / 2)]!.seq;
  expect(segs.length).toBeGreaterThan(5);
});

afterAll(() => root.cleanup());

describe('an untouched record', () => {
  it('verifies: chain, tree, every checkpoint and its signature', async () => {
    const r = await verify(base.dataDir, {}, true);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.firstBadSeq).toBeNull();
    expect(r.journal.lastSeq).toBe(base.lastSeq);
    expect(r.checkpoints.total).toBeGreaterThanOrEqual(9);
    expect(r.checkpoints.verified).toBe(r.checkpoints.total);
    // the final checkpoint (at close) covers every record but its own note
    expect(r.checkpoints.latest!.treeSize).toBe(base.lastSeq - 2);
    // checkpoints are both in checkpoints.jsonl and journaled
    expect(r.checkpoints.list.every((c) => c.sources.some((s) => s.startsWith('jsonl:')) && c.sources.some((s) => s.startsWith('journal:')))).toBe(true);
  });

  it('verifies with the key pinned, and fails with somebody else\'s key', async () => {
    const pinned = parsePublicKey(base.publicPem, 'test');
    expect((await verify(base.dataDir, { publicKeys: [pinned] })).ok).toBe(true);
    const { generateKeyPairSync } = await import('node:crypto');
    const other = parsePublicKey(generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString(), 'other');
    const r = await verify(base.dataDir, { publicKeys: [other] });
    expect(r.ok).toBe(false);
    expect(r.problems.some((p) => p.area === 'keys' && /not trusted/.test(p.message))).toBe(true);
  });
});

describe('tampering with the journal', () => {
  it('flipping one byte of a record names that record', async () => {
    const { dataDir, journalDir } = fresh();
    const { file, frame } = findFrame(journalDir, target);
    const buf = fs.readFileSync(file);
    buf[frame.offset + frame.length - 3] ^= 0x01; // inside the payload JSON
    rewrite(file, buf);
    const r = await verify(dataDir);
    expect(r.ok).toBe(false);
    expect(r.firstBadSeq).toBe(target);
  });

  it('flipping one byte and recomputing its CRC (a careful forger) is caught by the chain', async () => {
    const { dataDir, journalDir } = fresh();
    const { file, frame } = findFrame(journalDir, target);
    const buf = fs.readFileSync(file);
    // keep the JSON valid: change a digit inside the payload into another digit
    let at = frame.offset + frame.length - 1;
    while (buf[at]! < 0x30 || buf[at]! > 0x39) at--;
    buf[at] = buf[at] === 0x39 ? 0x38 : buf[at]! + 1;
    fixCrc(buf, frame.offset);
    rewrite(file, buf);
    const r = await verify(dataDir, {}, true);
    expect(r.firstBadSeq).toBe(target);
    expect(r.problems[0]!.message).toMatch(/hash chain broken/);
  });

  it('flipping a byte of a segment header names the first record of that segment', async () => {
    const { dataDir, journalDir } = fresh();
    const seg = readFrames(journalDir)[3]!;
    const buf = fs.readFileSync(seg.file);
    buf[30] ^= 0x80; // inside the header's prevHash
    rewrite(seg.file, buf);
    const r = await verify(dataDir);
    expect(r.ok).toBe(false);
    expect(r.firstBadSeq).toBe(seg.firstSeq);
  });

  it('deleting a record names the deleted seq', async () => {
    const { dataDir, journalDir } = fresh();
    const { file, frame } = findFrame(journalDir, target);
    const buf = fs.readFileSync(file);
    rewrite(file, Buffer.concat([buf.subarray(0, frame.offset), buf.subarray(frame.offset + frame.length)]));
    const r = await verify(dataDir);
    expect(r.firstBadSeq).toBe(target);
  });

  it('inserting a record names the position it was inserted at', async () => {
    const { dataDir, journalDir } = fresh();
    const { file, frame } = findFrame(journalDir, target);
    const buf = fs.readFileSync(file);
    const copy = buf.subarray(frame.offset, frame.offset + frame.length);
    const end = frame.offset + frame.length;
    rewrite(file, Buffer.concat([buf.subarray(0, end), copy, buf.subarray(end)]));
    const r = await verify(dataDir);
    expect(r.firstBadSeq).toBe(target + 1);
  });

  it('reordering two records names the first of them', async () => {
    const { dataDir, journalDir } = fresh();
    const a = findFrame(journalDir, target);
    const b = findFrame(journalDir, target + 1);
    expect(b.file).toBe(a.file);
    const buf = fs.readFileSync(a.file);
    const fa = buf.subarray(a.frame.offset, a.frame.offset + a.frame.length);
    const fb = buf.subarray(b.frame.offset, b.frame.offset + b.frame.length);
    rewrite(a.file, Buffer.concat([buf.subarray(0, a.frame.offset), fb, fa, buf.subarray(b.frame.offset + b.frame.length)]));
    const r = await verify(dataDir);
    expect(r.firstBadSeq).toBe(target);
  });

  it('swapping two segments names the first record of the earlier one', async () => {
    const { dataDir, journalDir } = fresh();
    const segs = readFrames(journalDir);
    const [s1, s2] = [segs[2]!, segs[4]!];
    const b1 = fs.readFileSync(s1.file);
    const b2 = fs.readFileSync(s2.file);
    rewrite(s1.file, b2);
    rewrite(s2.file, b1);
    const r = await verify(dataDir);
    expect(r.firstBadSeq).toBe(s1.firstSeq);
  });

  it('removing a whole segment names its first record', async () => {
    const { dataDir, journalDir } = fresh();
    const seg = readFrames(journalDir)[5]!;
    fs.rmSync(seg.file);
    const r = await verify(dataDir);
    expect(r.firstBadSeq).toBe(seg.firstSeq);
  });

  it('removing the first segment names seq 1', async () => {
    const { dataDir, journalDir } = fresh();
    fs.rmSync(readFrames(journalDir)[0]!.file);
    expect((await verify(dataDir)).firstBadSeq).toBe(1);
  });

  it('cutting records off the end is caught by the signed checkpoint that covered them', async () => {
    const { dataDir, journalDir } = fresh();
    const segs = readFrames(journalDir);
    const last = segs[segs.length - 1]!;
    // cut at a record boundary, so that the chain itself is intact
    const keep = last.frames[Math.floor(last.frames.length / 2)]!;
    const buf = fs.readFileSync(last.file);
    rewrite(last.file, buf.subarray(0, keep.offset));
    const r = await verify(dataDir);
    expect(r.ok).toBe(false);
    expect(r.firstBadSeq).toBe(keep.seq);
    expect(r.problems.some((p) => /records .* are missing/.test(p.message))).toBe(true);
  });

  it('a torn tail (partial last record, as after a crash) fails and says what it is', async () => {
    const { dataDir, journalDir } = fresh();
    const segs = readFrames(journalDir);
    const last = segs[segs.length - 1]!;
    fs.appendFileSync(last.file, Buffer.from([0x40, 0, 0, 0, 1, 2, 3]));
    const r = await verify(dataDir, {}, true);
    expect(r.firstBadSeq).toBe(base.lastSeq + 1);
    expect(r.problems[0]!.message).toMatch(/torn write/);
  });

  it('rewriting history consistently (every hash recomputed) is caught by the checkpoints', async () => {
    const { dataDir, journalDir } = fresh();
    // The forger rebuilds the whole journal with one payload changed; the chain is perfect.
    const records = [...Journal.read(journalDir)];
    fs.rmSync(journalDir, { recursive: true, force: true });
    const j = await Journal.open(journalDir, { segmentBytes: 16 * 1024, fsync: false });
    for (const e of records) {
      const p = e.seq === target ? { ...e.payload, forged: true } : e.payload;
      j.append(e.kind, e.seq, e.ts, p);
    }
    await j.close();
    const r = await verify(dataDir, {}, true);
    expect(r.ok).toBe(false);
    const lastGoodCheckpoint = Math.max(...readCheckpointFile(path.join(dataDir, 'audit', 'checkpoints.jsonl')).checkpoints.map((c) => c.checkpoint.treeSize).filter((s) => s < target));
    // everything up to the last checkpoint before the change still verifies; the change is after it
    expect(r.firstBadSeq).toBe(lastGoodCheckpoint + 1);
    expect(r.firstBadSeq).toBeLessThanOrEqual(target);
    expect(r.problems.every((p) => p.area === 'checkpoint')).toBe(true);
  });
});

describe('tampering with the checkpoints', () => {
  it('an altered checkpoint fails its signature', async () => {
    const { dataDir } = fresh();
    const file = path.join(dataDir, 'audit', 'checkpoints.jsonl');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const cp = JSON.parse(lines[2]!) as { rootHash: string };
    cp.rootHash = cp.rootHash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    lines[2] = JSON.stringify(cp);
    fs.writeFileSync(file, lines.join('\n'));
    const r = await verify(dataDir);
    expect(r.ok).toBe(false);
    expect(r.problems.some((p) => p.area === 'checkpoint' && /signature does not verify/.test(p.message))).toBe(true);
  });

  it('a torn checkpoints.jsonl fails until the node repairs it', async () => {
    const { dataDir } = fresh();
    fs.appendFileSync(path.join(dataDir, 'audit', 'checkpoints.jsonl'), '{"version":1,"origin":"te');
    const r = await verify(dataDir);
    expect(r.ok).toBe(false);
    expect(r.problems.some((p) => /partial line/.test(p.message))).toBe(true);
  });
});
