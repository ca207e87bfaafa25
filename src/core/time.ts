/**
 * Time is nanoseconds since the Unix epoch as bigint. The core never reads a clock: the sequencer
 * stamps each input from a Clock, and the core sees time only through those stamps.
 */
export type Nanos = bigint;

export interface Clock {
  /** Epoch nanoseconds, strictly increasing within one Clock. */
  now(): Nanos;
}

/**
 * Wall clock anchored once to Date.now() and advanced by the monotonic hrtime counter, so that it
 * never goes backwards when NTP/PTP slews the system clock. Each reading is strictly greater than
 * the previous one, which gives a total order of inputs even within one nanosecond.
 */
export class WallClock implements Clock {
  private readonly anchorWall: bigint;
  private readonly anchorMono: bigint;
  private last = 0n;

  constructor() {
    this.anchorMono = process.hrtime.bigint();
    this.anchorWall = BigInt(Date.now()) * 1_000_000n;
  }

  now(): Nanos {
    let t = this.anchorWall + (process.hrtime.bigint() - this.anchorMono);
    if (t <= this.last) t = this.last + 1n;
    this.last = t;
    return t;
  }
}

/** A clock that only moves when told: for tests, backtests and benchmarks. */
export class ManualClock implements Clock {
  private t: Nanos;
  constructor(start: Nanos = 1_767_225_600_000_000_000n) {
    this.t = start;
  }
  now(): Nanos {
    this.t += 1n;
    return this.t;
  }
  advance(ns: Nanos): void {
    this.t += ns;
  }
  set(ns: Nanos): void {
    if (ns < this.t) throw new RangeError('ManualClock cannot go backwards');
    this.t = ns;
  }
}

export const NS_PER_MS = 1_000_000n;
export const NS_PER_SEC = 1_000_000_000n;

/** ISO-8601 UTC with all nine fractional digits, e.g. 2026-11-28T04:32:58.123456789Z. */
export function formatNanos(ns: Nanos): string {
  const ms = ns / NS_PER_MS;
  const iso = new Date(Number(ms)).toISOString(); // 2026-11-28T04:32:58.123Z
  const frac = (ns % NS_PER_SEC).toString().padStart(9, '0');
  return iso.slice(0, 19) + '.' + frac + 'Z';
}

export function nanosToMillis(ns: Nanos): number {
  return Number(ns / NS_PER_MS);
}
