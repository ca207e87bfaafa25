/**
 * A kernel restored from a snapshot continues exactly like the kernel that took it: the same
 * state (every engine, not only the booked digest) and the same future behaviour (events and
 * venue commands for the same further inputs).
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type OutboundCommand } from '../../src/engine/kernel.js';
import type { Event, Input } from '../../src/engine/messages.js';
import type { KernelSnapshotDoc } from '../../src/engine/snapshots/kernel-snapshot.js';
import { JournalWriter, SyntheticFlow } from '../../bench/recovery-flow.js';

function restored(from: Kernel): Kernel {
  const k = new Kernel({ event: () => {}, command: () => {} });
  k.restore(JSON.parse(from.snapshotJson()) as KernelSnapshotDoc);
  return k;
}

/** Feeds the same inputs to several kernels; the flow reacts to the first kernel's commands. */
function drive(flow: SyntheticFlow, writers: JournalWriter[], inputs: number): { events: Event[][]; commands: OutboundCommand[][] } {
  const events: Event[][] = writers.map(() => []);
  const commands: OutboundCommand[][] = writers.map(() => []);
  for (let i = 0; i < inputs; i++) {
    const input: Input = flow.next();
    const outs = writers.map((w) => w.submit(input, flow.now));
    outs.forEach((o, j) => {
      events[j]!.push(...o.events);
      commands[j]!.push(...o.commands);
    });
    flow.accept(outs[0]!.commands);
  }
  return { events, commands };
}

describe('kernel snapshots', () => {
  it('restore(snapshot) reproduces every engine and the same future behaviour', () => {
    const flow = new SyntheticFlow(11);
    const a = new JournalWriter(null);
    flow.accept(a.submit(flow.start(), flow.now).commands);
    drive(flow, [a], 20_000);
    const k = a.kernel;
    expect(k.oms.orders.size).toBeGreaterThan(500);
    expect(k.oms.fills.length).toBeGreaterThan(200);
    expect(k.oms.open.size).toBeGreaterThan(0);
    expect(k.portfolio.positions.size).toBeGreaterThan(2);
    const b = new JournalWriter(null, restored(k));
    b.seq = a.seq;
    expect(b.kernel.digest()).toBe(k.digest());
    expect(b.kernel.snapshotJson()).toBe(k.snapshotJson());
    // the same further inputs: the same events, the same venue commands, the same state
    const out = drive(flow, [a, b], 20_000);
    expect(out.commands[0]!.length).toBeGreaterThan(100);
    expect(out.events[1]).toEqual(out.events[0]);
    expect(out.commands[1]).toEqual(out.commands[0]);
    expect(b.kernel.digest()).toBe(a.kernel.digest());
    expect(b.kernel.stateDigest()).toBe(a.kernel.stateDigest());
  });

  it('repeated snapshots reuse unchanged parts and still equal a fresh serialization', () => {
    const flow = new SyntheticFlow(5);
    const a = new JournalWriter(null);
    flow.accept(a.submit(flow.start(), flow.now).commands);
    for (let round = 0; round < 5; round++) {
      drive(flow, [a], 3000);
      const incremental = a.kernel.snapshotJson();
      // a kernel that never serialized before has no caches: its text is written from scratch
      expect(restored(a.kernel).snapshotJson()).toBe(incremental);
    }
  });

  it('refuses to restore into a kernel that already holds state', () => {
    const flow = new SyntheticFlow(2);
    const a = new JournalWriter(null);
    flow.accept(a.submit(flow.start(), flow.now).commands);
    expect(() => a.kernel.restore(JSON.parse(a.kernel.snapshotJson()) as KernelSnapshotDoc)).toThrow(/already holds state/);
  });
});
