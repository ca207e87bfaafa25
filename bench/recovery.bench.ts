/**
 * Crash recovery: how long a node takes to rebuild its core from a journal of 1,000,000 records,
 * with and without a snapshot (target: under 5 s with snapshots, for 1 M journaled events), and
 * what taking a snapshot costs the core while it runs.
 *
 * The journal is a synthetic trading day (bench/recovery-flow.ts: two strategies, manual orders,
 * a venue that acks, fills, cancels and replaces) written exactly as the sequencer writes it.
 * Snapshots are taken every 100,000 records, as the node's snapshotter would take them every
 * second, plus one shortly before the end (the node takes one per second: at most a second of
 * journal is left to replay). Recovery = Journal.open (verifies checksums and the hash chain) +
 * recoverKernel (newest valid snapshot + replay of the rest, or a full replay).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../src/engine/journal.js';
import { recoverKernel } from '../src/engine/snapshots/recovery.js';
import { Snapshotter } from '../src/engine/snapshots/snapshotter.js';
import { round, type BenchResult } from './harness.js';
import { JournalWriter, runFlow, SyntheticFlow } from './recovery-flow.js';

const RECORDS = Number(process.env.BENCH_RECOVERY_RECORDS ?? 1_000_000);
/** records left to replay after the last snapshot: about one second of a busy node */
const TAIL = 5_000;
const EVERY = 100_000;

export async function benchRecovery(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-recovery-'));
  try {
    const jdir = join(dir, 'journal');
    const sdir = join(dir, 'snapshots');
    const journal = await Journal.open(jdir, { fsync: false });
    const w = new JournalWriter(journal);
    const flow = new SyntheticFlow(7);
    const snapper = new Snapshotter(w.kernel, journal, { dir: sdir, intervalMs: 1000, keep: 3, nodeId: 'bench', fsync: true });
    const t0 = Date.now();
    const serialize: number[] = [];
    const writes: number[] = [];
    let first = true;
    for (let at = EVERY; at < RECORDS - TAIL; at += EVERY) {
      runFlow(flow, w, { untilSeq: at, start: first });
      first = false;
      await snapper.take();
      serialize.push(snapper.stats.lastSerializeMs);
      writes.push(snapper.stats.lastWriteMs);
    }
    runFlow(flow, w, { untilSeq: RECORDS - TAIL, start: first });
    await snapper.take();
    serialize.push(snapper.stats.lastSerializeMs);
    writes.push(snapper.stats.lastWriteMs);
    // a second snapshot right after, of the same large state: what the core pays every second
    runFlow(flow, w, { untilSeq: RECORDS - TAIL + 1000, start: false });
    await snapper.take();
    const steadySerializeMs = snapper.stats.lastSerializeMs;
    runFlow(flow, w, { untilSeq: RECORDS, start: false });
    const k = w.kernel;
    const stateInfo = { orders: k.oms.orders.size, openOrders: k.oms.open.size, fills: k.oms.fills.length, lastSeq: w.seq };
    await journal.close();
    const generateS = (Date.now() - t0) / 1000;

    const recover = async (withSnapshots: boolean) => {
      const t = process.hrtime.bigint();
      const j = await Journal.open(jdir, { fsync: false });
      const openMs = Number(process.hrtime.bigint() - t) / 1e6;
      const r = recoverKernel(jdir, withSnapshots ? sdir : null, j.lastSeq);
      const totalMs = Number(process.hrtime.bigint() - t) / 1e6;
      await j.close();
      return { openMs, totalMs, info: r.info };
    };
    const full = await recover(false);
    const snap = await recover(true);
    if (full.info.digest !== snap.info.digest) throw new Error('recovery from a snapshot did not reach the state of a full replay');
    if (snap.info.snapshot === null) throw new Error('the snapshot was not used');

    return {
      name: 'Crash recovery (1 M journaled events)',
      metrics: {
        journal_records: stateInfo.lastSeq,
        journal_inputs: full.info.inputs,
        orders: stateInfo.orders,
        open_orders: stateInfo.openOrders,
        fills: stateInfo.fills,
        journal_open_ms: round(full.openMs, 0),
        recovery_full_replay_ms: round(full.totalMs, 0),
        recovery_with_snapshot_ms: round(snap.totalMs, 0),
        snapshot_load_restore_ms: round(snap.info.loadMs, 0),
        snapshot_tail_replay_ms: round(snap.info.replayMs, 1),
        snapshot_tail_records: snap.info.replayedRecords,
        snapshot_bytes: snapper.stats.lastBytes,
        snapshot_serialize_first_ms: round(serialize.at(-1)!, 1),
        snapshot_serialize_steady_ms: round(steadySerializeMs, 1),
        snapshot_serialize_max_ms: round(snapper.stats.maxSerializeMs, 1),
        snapshot_write_ms: round(writes.at(-1)!, 1),
        generate_s: round(generateS, 1),
      },
      notes:
        `Target: recovery under 5 s with snapshots. "serialize" is the time the core is held (one synchronous pass); "first" is the first snapshot ` +
        `after ${EVERY.toLocaleString('en')} records of activity, "steady" one a second later (unchanged orders, fills and execution ids reuse their ` +
        `serialized form); the write (durability wait, SHA-256 on the thread pool, write, fsync, rename) runs off the core. ` +
        `Recovery includes Journal.open, which reads and verifies the whole journal either way.`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
