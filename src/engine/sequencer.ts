/**
 * The sequencer: the one door into the core. Each input gets the next sequence number and a
 * nanosecond timestamp, is appended to the journal, and is then processed by the kernel; the events
 * the kernel concludes are journaled right behind it. Venue commands the input caused wait in the
 * outbox until the journal says the input is durable, so nothing leaves the process that a crash
 * could make us forget (the LMAX publisher waits for the journaller the same way).
 *
 * Single-threaded by construction: submit() is synchronous and refuses re-entry.
 */
import type { Clock, Nanos } from '../core/time.js';
import type { Journal } from './journal.js';
import type { Kernel, OutboundCommand, ProcessResult } from './kernel.js';
import type { Event, Input } from './messages.js';

export interface SequencedEvent {
  seq: number;
  ts: Nanos;
  inputSeq: number;
  event: Event;
}

export interface Submitted {
  seq: number;
  /** last sequence number this input produced (its last event), for waiting on durability */
  lastSeq: number;
  ts: Nanos;
  result: ProcessResult;
}

interface Pending {
  releaseSeq: number;
  c: OutboundCommand;
}

export class Sequencer {
  private seq: number;
  private busy = false;
  private readonly events: Event[] = [];
  private readonly commands: OutboundCommand[] = [];
  private readonly outbox: Pending[] = [];
  private outboxHead = 0;
  private readonly listeners: ((e: SequencedEvent) => void)[] = [];
  private readonly inputListeners: ((seq: number, ts: Nanos, input: Input) => void)[] = [];
  inputs = 0;

  constructor(
    private readonly journal: Journal,
    private readonly kernel: Kernel,
    private readonly clock: Clock,
    private readonly dispatch: (c: OutboundCommand) => void,
  ) {
    this.seq = journal.lastSeq;
    kernel.setSink({
      event: (e) => this.events.push(e),
      command: (c) => this.commands.push(c),
    });
    journal.onDurable((d) => this.release(d));
  }

  get lastSeq(): number {
    return this.seq;
  }

  onEvent(l: (e: SequencedEvent) => void): void {
    this.listeners.push(l);
  }

  onInput(l: (seq: number, ts: Nanos, input: Input) => void): void {
    this.inputListeners.push(l);
  }

  submit(input: Input): Submitted {
    if (this.busy) throw new Error(`re-entrant submit of ${input.type}: inputs must be submitted from outside the core`);
    this.busy = true;
    try {
      const seq = ++this.seq;
      const ts = this.clock.now();
      this.journal.append('input', seq, ts, input as unknown as { type: string });
      for (const l of this.inputListeners) l(seq, ts, input);
      let result: ProcessResult;
      try {
        result = this.kernel.process(seq, ts, input);
      } catch (e) {
        // a bug in the core must not take the node down silently: record it and refuse the input's effects
        this.events.length = 0;
        this.commands.length = 0;
        this.events.push({ type: 'system.note', event: 'core.exception', detail: { input: input.type, error: (e as Error).stack ?? String(e) } });
        result = { error: { code: 'INTERNAL_ERROR', detail: { message: (e as Error).message } } };
      }
      for (let i = 0; i < this.events.length; i++) {
        const e = this.events[i]!;
        const eseq = ++this.seq;
        const ets = this.clock.now();
        this.journal.append('event', eseq, ets, e as unknown as { type: string });
        const se: SequencedEvent = { seq: eseq, ts: ets, inputSeq: seq, event: e };
        for (const l of this.listeners) l(se);
      }
      this.events.length = 0;
      const last = this.seq;
      for (let i = 0; i < this.commands.length; i++) this.outbox.push({ releaseSeq: last, c: this.commands[i]! });
      this.commands.length = 0;
      this.inputs++;
      return { seq, lastSeq: last, ts, result };
    } finally {
      this.busy = false;
    }
  }

  private release(durable: number): void {
    while (this.outboxHead < this.outbox.length && this.outbox[this.outboxHead]!.releaseSeq <= durable) {
      const p = this.outbox[this.outboxHead++]!;
      this.dispatch(p.c);
    }
    if (this.outboxHead > 1024 && this.outboxHead * 2 > this.outbox.length) {
      this.outbox.splice(0, this.outboxHead);
      this.outboxHead = 0;
    }
  }

  get outboxDepth(): number {
    return this.outbox.length - this.outboxHead;
  }
}
