/**
 * Recovery from snapshots: the newest valid snapshot plus the journal after it gives the same state
 * and the same future behaviour as a full replay; unusable snapshots are skipped with a reason.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, readdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../src/engine/journal.js';
import { Kernel } from '../../src/engine/kernel.js';
import { replayInto, replayJournal } from '../../src/engine/replay.js';
import { recoverKernel } from '../../src/engine/snapshots/recovery.js';
import { Snapshotter } from '../../src/engine/snapshots/snapshotter.js';
import { SnapshotStore, snapshotFileName } from '../../src/engine/snapshots/store.js';
import { JournalWriter, runFlow, SyntheticFlow } from '../../bench/recovery-flow.js';
import { tempDir } from '../helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/** A journal of a synthetic trading day with snapshots at the given record counts. */
async function dayWithSnapshots(seed: number, snapshotsAt: number[], total: number) {
  const t = tempDir('bulwark-recovery-');
  cleanups.push(t.cleanup);
  const jdir = join(t.dir, 'journal');
  const sdir = join(t.dir, 'snapshots');
  const journal = await Journal.open(jdir, { fsync: false, segmentBytes: 1024 * 1024 });
  const w = new JournalWriter(journal);
  const flow = new SyntheticFlow(seed);
  const snapper = new Snapshotter(w.kernel, journal, { dir: sdir, intervalMs: 1000, keep: 10, nodeId: 'test', fsync: false });
  let first = true;
  for (const at of snapshotsAt) {
    runFlow(flow, w, { untilSeq: at, start: first });
    first = false;
    const h = await snapper.take();
    expect(h).not.toBeNull();
  }
  runFlow(flow, w, { untilSeq: total, start: first });
  await journal.close();
  return { dir: t.dir, jdir, sdir, flow, writer: w, lastSeq: w.seq };
}

describe('recovery from snapshots', () => {
  it('snapshot + replay of the rest = full replay: same digest, same state, same future behaviour', async () => {
    const d = await dayWithSnapshots(21, [20_000, 40_000], 55_000);
    const full = replayJournal(d.jdir);
    const { kernel, info } = recoverKernel(d.jdir, d.sdir, d.lastSeq);
    expect(info.snapshot).not.toBeNull();
    expect(info.snapshot!.seq).toBeGreaterThanOrEqual(40_000);
    expect(info.rejected).toEqual([]);
    expect(info.replayedRecords).toBe(d.lastSeq - info.snapshot!.seq);
    expect(info.inputs).toBe(full.inputs);
    expect(kernel.digest()).toBe(full.digest);
    expect(kernel.digest()).toBe(d.writer.kernel.digest());

    // a full replay's kernel, to compare every engine and then the future
    const fullKernel = new Kernel({ event: () => {}, command: () => {} });
    replayInto(fullKernel, d.jdir);
    expect(kernel.stateDigest()).toBe(fullKernel.stateDigest());

    const a = new JournalWriter(null, fullKernel);
    const b = new JournalWriter(null, kernel);
    a.seq = b.seq = d.lastSeq;
    const evA: unknown[] = [];
    const evB: unknown[] = [];
    for (let i = 0; i < 15_000; i++) {
      const input = d.flow.next();
      const oa = a.submit(input, d.flow.now);
      const ob = b.submit(input, d.flow.now);
      evA.push(...oa.events, ...oa.commands);
      evB.push(...ob.events, ...ob.commands);
      d.flow.accept(oa.commands);
    }
    expect(evA.length).toBeGreaterThan(1000);
    expect(evB).toEqual(evA);
    expect(kernel.digest()).toBe(fullKernel.digest());
    expect(kernel.stateDigest()).toBe(fullKernel.stateDigest());
  });

  it('skips a corrupt snapshot, one ahead of the journal and one of another journal, then falls back to a full replay', async () => {
    const d = await dayWithSnapshots(22, [5000, 10_000, 15_000], 20_000);
    const full = replayJournal(d.jdir);
    const store = new SnapshotStore(d.sdir, 10);
    const files = store.list();
    expect(files.map((f) => f.seq)).toEqual([...files.map((f) => f.seq)].sort((x, y) => y - x));
    expect(files.length).toBe(3);

    // newest: one flipped byte in the body
    const newest = files[0]!;
    const buf = readFileSync(newest.path);
    buf[buf.length - 10] ^= 0x01;
    writeFileSync(newest.path, buf);
    let r = recoverKernel(d.jdir, d.sdir, d.lastSeq);
    expect(r.info.rejected[0]!.reason).toMatch(/checksum/);
    expect(r.info.snapshot!.seq).toBe(files[1]!.seq);
    expect(r.kernel.digest()).toBe(full.digest);

    // a snapshot beyond the journal's end (the journal lost its tail, the snapshot did not)
    copyFileSync(files[1]!.path, join(d.sdir, snapshotFileName(d.lastSeq + 50)));
    r = recoverKernel(d.jdir, d.sdir, d.lastSeq);
    expect(r.info.rejected.map((x) => x.reason)[0]).toMatch(/beyond the journal/);
    expect(r.info.snapshot!.seq).toBe(files[1]!.seq);

    // the second newest claims another journal's record hash
    const second = readFileSync(files[1]!.path, 'utf8');
    const nl = second.indexOf('\n');
    const header = JSON.parse(second.slice(0, nl)) as { journalHash: string };
    header.journalHash = '00'.repeat(32);
    writeFileSync(files[1]!.path, JSON.stringify(header) + second.slice(nl));
    r = recoverKernel(d.jdir, d.sdir, d.lastSeq);
    expect(r.info.rejected.some((x) => /hash differs/.test(x.reason))).toBe(true);
    expect(r.info.snapshot!.seq).toBe(files[2]!.seq);
    expect(r.kernel.digest()).toBe(full.digest);

    // nothing usable: a full replay
    writeFileSync(files[2]!.path, 'not a snapshot');
    r = recoverKernel(d.jdir, d.sdir, d.lastSeq);
    expect(r.info.snapshot).toBeNull();
    expect(r.info.rejected.length).toBe(4);
    expect(r.info.replayedInputs).toBe(full.inputs);
    expect(r.kernel.digest()).toBe(full.digest);
  });

  it('keeps the newest N snapshots and no temp files', async () => {
    const d = await dayWithSnapshots(23, [1000, 2000, 3000, 4000, 5000], 5500);
    const store = new SnapshotStore(d.sdir, 3);
    await store.prune();
    expect(store.list().map((f) => f.seq).length).toBe(3);
    expect(readdirSync(d.sdir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const kept = store.list().map((f) => f.seq);
    expect(kept[0]).toBeGreaterThanOrEqual(5000);
  });
});
