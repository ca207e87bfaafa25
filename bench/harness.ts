/**
 * Small shared pieces for benchmarks: a result shape that `npm run bench` can print and
 * docs/benchmarks.md can quote, and HDR-histogram latency recording (record in nanoseconds,
 * report microseconds at p50 / p99 / p99.9).
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Journal } from '../src/engine/journal.js';

export interface BenchResult {
  name: string;
  metrics: Record<string, string | number>;
  notes?: string;
}

export interface LatencySummary {
  count: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  meanUs: number;
}

/** Highest latency tracked exactly: one minute. Longer values are clamped, and counted. */
const MAX_TRACKABLE_NS = 60_000_000_000;

export class LatencyRecorder {
  private readonly histogram: Histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_NS,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
  });
  /** Values above MAX_TRACKABLE_NS, recorded as the maximum so the tail is not hidden. */
  clamped = 0;

  recordNs(ns: number | bigint): void {
    let v = typeof ns === 'bigint' ? Number(ns) : ns;
    if (v < 0) v = 0;
    if (v > MAX_TRACKABLE_NS) {
      this.clamped++;
      v = MAX_TRACKABLE_NS;
    }
    this.histogram.recordValue(Math.round(v));
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  summary(): LatencySummary {
    const h = this.histogram;
    const us = (ns: number): number => round(ns / 1000, 2);
    return {
      count: h.totalCount,
      p50Us: us(h.getValueAtPercentile(50)),
      p99Us: us(h.getValueAtPercentile(99)),
      p999Us: us(h.getValueAtPercentile(99.9)),
      maxUs: us(h.maxValue),
      meanUs: us(h.mean),
    };
  }

  reset(): void {
    this.histogram.reset();
    this.clamped = 0;
  }
}

export function nowNs(): bigint {
  return process.hrtime.bigint();
}

/**
 * For every record the journal reports durable, records append → durable (the journal's
 * durableAt: when the fdatasync covering it returned) and append → acknowledged (the onDurable
 * callback, i.e. now). `appendedAtNs(seq)` is the record's append stamp in ns since `start`, or
 * undefined for a record outside the measurement; records up to `from` are not looked at.
 */
export function recordDurability(
  journal: Journal,
  start: bigint,
  from: number,
  appendedAtNs: (seq: number) => number | undefined,
): { durable: LatencyRecorder; ack: LatencyRecorder } {
  const durable = new LatencyRecorder();
  const ack = new LatencyRecorder();
  let notified = from;
  journal.onDurable((s) => {
    const now = sinceNs(start);
    const syncedAt = Number(journal.durableAt - start);
    for (let k = notified + 1; k <= s; k++) {
      const at = appendedAtNs(k);
      if (at === undefined) continue;
      durable.recordNs(syncedAt - at);
      ack.recordNs(now - at);
    }
    notified = s;
  });
  return { durable, ack };
}

/** Nanoseconds since `start` (from nowNs), as a number. */
export function sinceNs(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

/** Times each call of `fn` after `warmup` untimed calls. */
export function measureLatency(fn: (i: number) => void, iterations: number, warmup = Math.min(1000, iterations)): LatencySummary {
  for (let i = 0; i < warmup; i++) fn(i);
  const rec = new LatencyRecorder();
  for (let i = 0; i < iterations; i++) {
    const t = process.hrtime.bigint();
    fn(i);
    rec.recordNs(process.hrtime.bigint() - t);
  }
  return rec.summary();
}

/** Flattens a summary into metrics named `<prefix>_p50_us` and so on. */
export function latencyMetrics(prefix: string, s: LatencySummary): Record<string, number> {
  return {
    [`${prefix}_p50_us`]: s.p50Us,
    [`${prefix}_p99_us`]: s.p99Us,
    [`${prefix}_p999_us`]: s.p999Us,
    [`${prefix}_max_us`]: s.maxUs,
    [`${prefix}_count`]: s.count,
  };
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** What the numbers were measured on: they mean little without it. */
export function machineInfo(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

/**
 * A speed check of the machine itself, taken with every run: the same two small jobs the hot path
 * does most (JSON.stringify of a ~260-byte event, SHA-256 of a ~300-byte record), median of nine
 * rounds. A shared VM's speed varies by several times from one day to the next; this says which
 * kind of day a section was measured on, so figures from different runs can be compared.
 */
export function speedCheck(): { stringifyNs: number; sha256Ns: number } {
  const event = {
    type: 'order.updated',
    order: { id: 'O1234567', status: 'Canceled', filledQuantity: '0', leavesQuantity: '0', averagePrice: null, fees: '0', venueOrderId: 'SIMX-1234567', uncertain: false, updatedTs: '1795848453815296016' },
    from: 'PendingCancel',
    cause: 'venue mass cancel K1-1',
  };
  const body = Buffer.alloc(300, 7);
  const n = 20_000;
  const med = (fn: () => void): number => {
    const rounds: number[] = [];
    for (let r = 0; r < 9; r++) {
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) fn();
      rounds.push(Number(process.hrtime.bigint() - t) / n);
    }
    return round(rounds.sort((a, b) => a - b)[4]!, 0);
  };
  let sink = 0;
  const stringifyNs = med(() => {
    sink += JSON.stringify(event).length;
  });
  const sha256Ns = med(() => {
    sink += createHash('sha256').update(body).digest()[0]!;
  });
  if (sink < 0) throw new Error('unreachable');
  return { stringifyNs, sha256Ns };
}

export function formatResult(r: BenchResult): string {
  const lines = [`## ${r.name}`, '', '| metric | value |', '|---|---|'];
  for (const [k, v] of Object.entries(r.metrics)) lines.push(`| ${k} | ${v} |`);
  if (r.notes !== undefined) lines.push('', r.notes);
  return lines.join('\n');
}

/**
 * Brings a journal to the state a running node is in: its first segment (created empty on a fresh
 * journal, so appends extend the file and every fdatasync also commits its new size) filled and
 * sealed, and the active segment one that was pre-allocated in the background. Calls `appendBurst`
 * (a few thousand records) at full speed, slowing down near the roll so that the preparation can
 * finish, then lets the disk settle. Latency measured after this is the steady state's.
 */
export async function warmToSteadyState(j: Journal, appendBurst: () => void, segmentBytes = 64 * 1024 * 1024, deadlineNs = 20e9): Promise<void> {
  const t0 = nowNs();
  while (j.stats.preallocatedSegments < 1) {
    if (sinceNs(t0) > deadlineNs) throw new Error('warm-up: no pre-allocated segment within the deadline');
    appendBurst();
    await j.flush();
    await sleep(j.stats.bytesWritten > 0.9 * segmentBytes ? 20 : 0);
  }
  await sleep(1000);
}
