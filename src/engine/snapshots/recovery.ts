/**
 * Recovery at start: the newest valid snapshot plus a replay of the journal after it.
 *
 * A snapshot is valid when its checksum matches, it reflects no record beyond the journal's last
 * one (a snapshot of state whose records a crash lost from the journal would resurrect them), the
 * journal's record at its seq has the hash the snapshot recorded (it belongs to this journal), and
 * the kernel accepts it. An invalid one is reported and the next older one is tried; with none
 * left, the whole journal is replayed. Either way the result is the same state: snapshots only
 * shorten the replay.
 *
 * The journal was verified (checksums and hash chain) by Journal.open just before, so the replay
 * reads it without recomputing hashes.
 */
import { hash } from 'node:crypto';
import { Journal } from '../journal.js';
import { Kernel } from '../kernel.js';
import { applyRecord } from '../replay.js';
import type { KernelSnapshotDoc } from './kernel-snapshot.js';
import { SnapshotStore } from './store.js';

export interface RecoveryInfo {
  /** the snapshot recovery started from, or null for a full replay */
  snapshot: { seq: number; inputSeq: number; file: string; createdAt: string } | null;
  /** snapshots found unusable, newest first, with the reason */
  rejected: { file: string; reason: string }[];
  /** journal records read after the snapshot, and the inputs among them that were replayed */
  replayedRecords: number;
  replayedInputs: number;
  /** inputs reflected by the recovered state (snapshot + replay) */
  inputs: number;
  lastSeq: number;
  openOrders: number;
  /** booked-state digest of the recovered state, before the node's new system.start */
  digest: string;
  ms: number;
  loadMs: number;
  replayMs: number;
}

const nullSink = { event: () => {}, command: () => {} };

function sha256Hex(b: Buffer): string {
  return hash('sha256', b, 'hex');
}

/** Replays journal inputs from `fromSeq` into `kernel`; checks record `anchor.seq` has `anchor.hash` first. */
function replay(kernel: Kernel, journalDir: string, toSeq: number, fromSeq: number, anchor?: { seq: number; hash: string }): { records: number; inputs: number; lastSeq: number } {
  let records = 0;
  let inputs = 0;
  let lastSeq = fromSeq - 1;
  const start = anchor ? anchor.seq : fromSeq;
  let anchored = anchor === undefined;
  for (const rec of Journal.read(journalDir, { fromSeq: start, toSeq, verify: false })) {
    if (!anchored) {
      if (rec.seq !== anchor!.seq || rec.hash.toString('hex') !== anchor!.hash) throw new AnchorError(`journal record ${anchor!.seq} is not the one the snapshot was taken after (hash differs)`);
      anchored = true;
      continue;
    }
    records++;
    lastSeq = rec.seq;
    if (applyRecord(kernel, rec)) inputs++;
  }
  if (!anchored) throw new AnchorError(`journal record ${anchor!.seq} was not found`);
  return { records, inputs, lastSeq };
}

class AnchorError extends Error {}

/**
 * Rebuilds the core from `snapshotsDir` (may be null: no snapshots) and the journal in
 * `journalDir` whose last record is `journalLastSeq`.
 */
export function recoverKernel(journalDir: string, snapshotsDir: string | null, journalLastSeq: number, log: (msg: string, data?: Record<string, unknown>) => void = () => {}): { kernel: Kernel; info: RecoveryInfo } {
  const t0 = process.hrtime.bigint();
  const ms = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6;
  const rejected: RecoveryInfo['rejected'] = [];
  const finish = (kernel: Kernel, snapshot: RecoveryInfo['snapshot'], r: { records: number; inputs: number }, loadMs: number, replayMs: number) => ({
    kernel,
    info: {
      snapshot,
      rejected,
      replayedRecords: r.records,
      replayedInputs: r.inputs,
      inputs: kernel.inputsProcessed,
      lastSeq: journalLastSeq,
      openOrders: kernel.oms.open.size,
      digest: kernel.digest(),
      ms: ms(t0),
      loadMs,
      replayMs,
    },
  });
  if (journalLastSeq === 0) return finish(new Kernel(nullSink), null, { records: 0, inputs: 0 }, 0, 0);

  if (snapshotsDir !== null) {
    const store = new SnapshotStore(snapshotsDir, 1);
    for (const file of store.list()) {
      if (file.seq > journalLastSeq) {
        rejected.push({ file: file.name, reason: `reflects seq ${file.seq}, beyond the journal's last record ${journalLastSeq}` });
        continue;
      }
      const tl = process.hrtime.bigint();
      let kernel: Kernel;
      let header;
      try {
        const loaded = SnapshotStore.load(file, sha256Hex);
        header = loaded.header;
        const doc = JSON.parse(loaded.body.toString('utf8')) as KernelSnapshotDoc;
        kernel = new Kernel(nullSink);
        kernel.restore(doc);
      } catch (e) {
        rejected.push({ file: file.name, reason: (e as Error).message });
        log('snapshot unusable, trying an older one', { file: file.name, reason: (e as Error).message });
        continue;
      }
      const loadMs = ms(tl);
      const tr = process.hrtime.bigint();
      try {
        const r = replay(kernel, journalDir, journalLastSeq, header.seq + 1, { seq: header.seq, hash: header.journalHash });
        return finish(kernel, { seq: header.seq, inputSeq: header.inputSeq, file: file.name, createdAt: header.createdAt }, r, loadMs, ms(tr));
      } catch (e) {
        if (!(e instanceof AnchorError)) throw e;
        rejected.push({ file: file.name, reason: e.message });
        log('snapshot does not belong to this journal, trying an older one', { file: file.name, reason: e.message });
      }
    }
  }
  const kernel = new Kernel(nullSink);
  const tr = process.hrtime.bigint();
  const r = replay(kernel, journalDir, journalLastSeq, 1);
  return finish(kernel, null, r, 0, ms(tr));
}
