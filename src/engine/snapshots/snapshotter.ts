/**
 * Takes a snapshot of the core every `intervalMs` (1–5 s) while the node runs, and one more at a
 * clean stop. The cut is consistent by construction: the timer callback runs between two inputs
 * (the sequencer is synchronous), and the kernel is serialized to text in that one synchronous
 * pass. Everything after it — waiting until the journal holds every record the snapshot reflects,
 * hashing (on the thread pool), writing, fsync, rename — is asynchronous and never blocks the core.
 * A snapshot is skipped while the previous one is still being written, and when nothing happened
 * since the last one. A periodic one is also deferred while a kill switch activation is cancelling:
 * serializing holds the core for tens of milliseconds (docs/benchmarks.md), which the kill switch's
 * confirmations must not wait behind; the next tick after the activation completes (or turns
 * UNCERTAIN at its timeout) takes it.
 */
import type { Journal } from '../journal.js';
import type { Kernel } from '../kernel.js';
import { SnapshotStore, type SnapshotHeader } from './store.js';

export interface SnapshotterOptions {
  dir: string;
  intervalMs: number;
  keep: number;
  nodeId: string;
  fsync?: boolean;
  log?: (msg: string, data?: Record<string, unknown>) => void;
}

export interface SnapshotterStats {
  taken: number;
  skipped: number;
  /** periodic snapshots put off because a kill switch activation was cancelling */
  deferred: number;
  failed: number;
  lastSeq: number;
  lastBytes: number;
  /** time the core was held serializing the last snapshot, and the longest such time */
  lastSerializeMs: number;
  maxSerializeMs: number;
  /** durability wait + hash + write of the last snapshot (off the core) */
  lastWriteMs: number;
  lastError?: string;
}

export class Snapshotter {
  readonly store: SnapshotStore;
  readonly stats: SnapshotterStats = { taken: 0, skipped: 0, deferred: 0, failed: 0, lastSeq: 0, lastBytes: 0, lastSerializeMs: 0, maxSerializeMs: 0, lastWriteMs: 0 };
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<SnapshotHeader | null> | undefined;
  private lastInputSeq = -1;

  constructor(
    private readonly kernel: Kernel,
    private readonly journal: Journal,
    private readonly opts: SnapshotterOptions,
  ) {
    if (!Number.isInteger(opts.intervalMs) || opts.intervalMs < 1000 || opts.intervalMs > 5000) throw new RangeError(`snapshots.intervalMs: ${opts.intervalMs} must be 1000-5000`);
    this.store = new SnapshotStore(opts.dir, opts.keep, { fsync: opts.fsync ?? true, ...(opts.log ? { log: opts.log } : {}) });
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** The periodic snapshot: taken unless a kill switch activation is cancelling. */
  tick(): Promise<SnapshotHeader | null> {
    if (this.kernel.killSwitch.cancelling) {
      this.stats.deferred++;
      return Promise.resolve(null);
    }
    return this.take();
  }

  /** Takes a snapshot now unless one is being written or nothing changed; resolves once it is on disk. */
  take(): Promise<SnapshotHeader | null> {
    if (this.writing !== undefined || !this.kernel.isStarted() || this.kernel.lastInputSeq === this.lastInputSeq) {
      this.stats.skipped++;
      return Promise.resolve(null);
    }
    const t0 = process.hrtime.bigint();
    // the cut: between two inputs, in one synchronous pass
    const seq = this.journal.lastSeq;
    const journalHash = this.journal.lastHash.toString('hex');
    const inputSeq = this.kernel.lastInputSeq;
    const meta = {
      seq,
      inputSeq,
      journalHash,
      ts: this.kernel.now.toString(),
      nodeId: this.opts.nodeId,
      createdAt: new Date().toISOString(),
      openOrders: this.kernel.oms.open.size,
    };
    let body: Buffer;
    try {
      body = this.concat(this.kernel.snapshotParts());
    } catch (e) {
      this.fail(e);
      return Promise.resolve(null);
    }
    const serializeMs = Number(process.hrtime.bigint() - t0) / 1e6;
    this.stats.lastSerializeMs = serializeMs;
    if (serializeMs > this.stats.maxSerializeMs) this.stats.maxSerializeMs = serializeMs;
    this.lastInputSeq = inputSeq;
    const t1 = process.hrtime.bigint();
    this.writing = (async () => {
      try {
        // a snapshot must never get ahead of the journal on disk
        await this.journal.whenDurable(seq);
        const { header } = await this.store.write(meta, body);
        this.stats.taken++;
        this.stats.lastSeq = seq;
        this.stats.lastBytes = body.length;
        this.stats.lastWriteMs = Number(process.hrtime.bigint() - t1) / 1e6;
        return header;
      } catch (e) {
        this.lastInputSeq = -1;
        this.fail(e);
        return null;
      } finally {
        this.writing = undefined;
      }
    })();
    return this.writing;
  }

  private scratch: Buffer = Buffer.alloc(0);

  /**
   * Concatenates into a buffer kept between snapshots (a fresh 10 MB allocation costs more in page
   * faults than the copy itself). Safe: the next snapshot starts only after this one was written.
   */
  private concat(parts: Buffer[]): Buffer {
    let n = 0;
    for (const p of parts) n += p.length;
    if (this.scratch.length < n) this.scratch = Buffer.alloc(Math.max(n, this.scratch.length * 2));
    let off = 0;
    for (const p of parts) off += p.copy(this.scratch, off);
    return this.scratch.subarray(0, n);
  }

  private fail(e: unknown): void {
    this.stats.failed++;
    this.stats.lastError = e instanceof Error ? e.message : String(e);
    this.opts.log?.('snapshot failed', { error: this.stats.lastError });
  }

  /** Stops the timer, waits for a write in progress and, with `final`, takes one last snapshot. */
  async stop(final = false): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.writing !== undefined) await this.writing;
    if (final) await this.take();
  }
}
