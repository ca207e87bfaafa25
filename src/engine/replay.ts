/**
 * Replay: folds a journal's inputs into a fresh kernel. The events in the journal are the record of
 * what the core concluded; replay recomputes them and ignores the stored ones, so the resulting
 * state digest proves that the core is deterministic.
 */
import { Journal, type JournalEntry } from './journal.js';
import { Kernel } from './kernel.js';
import type { Input } from './messages.js';

export interface ReplayResult {
  inputs: number;
  records: number;
  lastSeq: number;
  digest: string;
}

/**
 * Folds one journal record into a kernel: inputs are processed, events skipped (replay recomputes
 * them). Returns whether it was an input. Shared by replay and snapshot recovery.
 */
export function applyRecord(kernel: Kernel, rec: JournalEntry): boolean {
  if (rec.kind !== 'input') return false;
  try {
    kernel.process(rec.seq, rec.ts, rec.payload as unknown as Input);
  } catch {
    // the live node recorded a core exception for this input and kept going; so does replay
  }
  return true;
}

export function replayInto(kernel: Kernel, dir: string, opts: { toSeq?: number; fromSeq?: number } = {}): ReplayResult {
  let inputs = 0;
  let records = 0;
  let lastSeq = 0;
  for (const rec of Journal.read(dir, { ...(opts.fromSeq !== undefined ? { fromSeq: opts.fromSeq } : {}), ...(opts.toSeq !== undefined ? { toSeq: opts.toSeq } : {}) })) {
    records++;
    lastSeq = rec.seq;
    if (applyRecord(kernel, rec)) inputs++;
  }
  return { inputs, records, lastSeq, digest: kernel.digest() };
}

export function replayJournal(dir: string, opts: { toSeq?: number } = {}): ReplayResult {
  const kernel = new Kernel({ event: () => {}, command: () => {} });
  return replayInto(kernel, dir, opts);
}
