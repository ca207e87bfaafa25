/**
 * The projector reads payloads as text (JournalTail.readText) and parses only the records it
 * projects beyond audit_log (BatchBuilder.addText, auditOnlyInput). Checked against the parsed
 * path (JournalTail.read + BatchBuilder.add), which stays the reference: the same batches, byte
 * for byte; and auditOnlyInput, where it answers at all, against JSON.parse.
 */
import * as path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal, JournalTail, type JournalKind, type JournalPayload } from '../../src/engine/journal.js';
import { auditOnlyInput, BatchBuilder, PROJECTED_INPUT_TYPES, ProjectionState, ZERO_HASH_HEX, type ProjectionBatch } from '../../src/storage/projection.js';
import { SyntheticFlow } from '../../src/storage/synthetic-flow.js';
import { tempDirs } from '../helpers.js';

const tmpDir = tempDirs('bulwark-projection-text-');
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** actorIdOf restated: the id of a top-level actor object, when it is a string. */
function expectedActorId(p: Record<string, unknown>): string | null {
  const a = p.actor;
  return typeof a === 'object' && a !== null && typeof (a as { id?: unknown }).id === 'string' ? (a as { id: string }).id : null;
}

describe('auditOnlyInput', () => {
  it('reads the journal shapes: commands with their actor first, execution reports without one', () => {
    expect(auditOnlyInput(JSON.stringify({ type: 'cmd.order.new', actor: { id: 'mm-1', channel: 'strategy' }, order: { symbol: 'AAPL' } }))).toEqual({ type: 'cmd.order.new', actorId: 'mm-1' });
    expect(auditOnlyInput(JSON.stringify({ type: 'exec', r: { venue: 'SIMX', execId: 'E1' } }))).toEqual({ type: 'exec', actorId: null });
    // projected inputs are parsed
    for (const type of PROJECTED_INPUT_TYPES) expect(auditOnlyInput(JSON.stringify({ type, m: {} }))).toBeUndefined();
    // shapes it does not read exactly are parsed too
    expect(auditOnlyInput(JSON.stringify({ type: 'cmd.x', order: {}, actor: { id: 'late' } }))).toBeUndefined();
    expect(auditOnlyInput(JSON.stringify({ type: 'cmd.x', actor: { role: 'admin', id: 'second' } }))).toBeUndefined();
    expect(auditOnlyInput(JSON.stringify({ type: 'cmd.x', actor: { id: 'quo"te' } }))).toBeUndefined();
    expect(auditOnlyInput(JSON.stringify({ type: 'we"ird' }))).toBeUndefined();
    expect(auditOnlyInput(JSON.stringify({ i: 1, type: 'later' }))).toBeUndefined();
    // a nested actor key means "parse", even when the top level has none
    expect(auditOnlyInput(JSON.stringify({ type: 'exec', r: { actor: { id: 'x' } } }))).toBeUndefined();
  });

  it('agrees with JSON.parse wherever it answers, on any JSON.stringify output', () => {
    const str = fc.oneof(fc.string(), fc.constantFrom('actor', '"actor":', '\\', '"', 'id', '\u0000', 'é€😀'), fc.string({ unit: 'grapheme' }));
    const actor = fc.oneof(
      fc.record({ id: str, channel: str }),
      fc.record({ channel: str, id: str }),
      fc.record({ id: fc.oneof(fc.integer(), fc.constant(null)) }),
      fc.constant(null),
      str,
    );
    const extra = fc.dictionary(str, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
    const type = fc.oneof(fc.constantFrom('exec', 'cmd.order.new', 'timer', ...PROJECTED_INPUT_TYPES), str);
    const payload = fc
      .tuple(type, fc.option(actor, { nil: undefined }), extra, fc.boolean(), fc.option(fc.record({ actor }), { nil: undefined }))
      .map(([t, a, rest, actorFirst, nested]) => {
        const o: Record<string, unknown> = { type: t };
        if (a !== undefined && actorFirst) o.actor = a;
        for (const [k, v] of Object.entries(rest)) if (k !== 'type' && k !== 'actor') o[k] = v;
        if (nested !== undefined) o.nested = nested;
        if (a !== undefined && !actorFirst) o.actor = a;
        return o;
      });
    let answered = 0;
    fc.assert(
      fc.property(payload, (p) => {
        const text = JSON.stringify(p);
        const got = auditOnlyInput(text);
        if (got === undefined) return;
        answered++;
        const parsed = JSON.parse(text) as Record<string, unknown>;
        expect(got).toEqual({ type: parsed.type, actorId: expectedActorId(parsed) });
        expect(PROJECTED_INPUT_TYPES.has(got.type)).toBe(false);
      }),
      { numRuns: 3000 },
    );
    // the property is about something: the fast path was taken in a good share of the runs
    expect(answered).toBeGreaterThan(100);
  });
});

/** A batch's content: the audit_log COPY bytes and every other field. */
/** A batch's COPY data as bytes (audit_log's and the append-only tables'), and everything else as is. */
function contentOf(b: ProjectionBatch): { audit: Buffer; text: Record<string, Buffer>; rest: Omit<ProjectionBatch, 'audit' | 'orderEvents' | 'fills' | 'positions' | 'marketData'> } {
  const { audit, orderEvents, fills, positions, marketData, ...rest } = b;
  const text = Object.fromEntries([orderEvents, fills, positions, marketData].map((r) => [r.table.table, r.finish()]));
  return { audit: audit.finish(), text, rest };
}

describe('BatchBuilder.addText', () => {
  it('builds, from readText, the batches add builds from read, byte for byte', async () => {
    const dir = path.join(tmpDir(), 'journal');
    const j = await Journal.open(dir, { fsync: false });
    closers.push(() => j.close());
    const flow = new SyntheticFlow(3);
    const t0 = 1_767_225_600_000_000_000n;
    let seq = 0;
    const put = (kind: JournalKind, payload: JournalPayload, ts = t0 + BigInt(seq) * 1000n): void => j.append(kind, ++seq, ts, payload);
    const s = flow.start();
    put(s.kind, s.payload);
    for (let i = 0; i < 400; i++) {
      for (const r of flow.order(i, t0 + BigInt(i) * 1_000_000n)) put(r.kind, r.payload, t0 + BigInt(i) * 1_000_000n);
      if (i % 50 === 0) {
        // inputs of other shapes: actor last, actor id with a quote, nested actor, NUL, a note
        put('input', { type: 'cmd.strategy.pause', strategyId: 's"1', actor: { id: 'ops"1\\', role: 'admin' } });
        put('input', { type: 'cmd.limits', limits: { actor: { id: 'nested' } }, reason: 'nul \u0000 here' });
        put('input', { type: 'timer', at: String(i) });
        put('input', { type: 'system.note', event: 'audit.archived', detail: { archivedThroughSeq: Math.max(0, seq - 5) } });
      }
    }
    await j.flush();
    const build = (text: boolean): ReturnType<typeof contentOf>[] => {
      const tail = new JournalTail(dir, 1, { verify: false });
      closers.push(() => tail.close());
      const state = ProjectionState.fromSeeds([]);
      const out: ReturnType<typeof contentOf>[] = [];
      let b = new BatchBuilder(state, 1, ZERO_HASH_HEX);
      const flush = (): void => {
        const batch = b.finish();
        out.push(contentOf(batch));
        b = new BatchBuilder(state, batch.toSeq + 1, batch.lastHashHex);
      };
      if (text) {
        for (const e of tail.readText()) {
          b.addText(e);
          if (b.size >= 700) flush();
        }
      } else {
        for (const e of tail.read()) {
          b.add(e);
          if (b.size >= 700) flush();
        }
      }
      if (b.size > 0) flush();
      return out;
    };
    const parsed = build(false);
    const viaText = build(true);
    expect(viaText.length).toBe(parsed.length);
    expect(parsed.reduce((n, b) => n + b.rest.toSeq - b.rest.fromSeq + 1, 0)).toBe(seq);
    for (let i = 0; i < parsed.length; i++) {
      expect(viaText[i]!.audit.equals(parsed[i]!.audit), `audit_log COPY of batch ${i}`).toBe(true);
      for (const [table, data] of Object.entries(parsed[i]!.text)) expect(viaText[i]!.text[table]!.equals(data), `${table} COPY of batch ${i}`).toBe(true);
      expect(viaText[i]!.rest).toEqual(parsed[i]!.rest);
    }
  });

  it('refuses a record it must parse whose payload is not a JSON object with a type, naming its seq', () => {
    const b = new BatchBuilder(ProjectionState.fromSeeds([]), 1, ZERO_HASH_HEX);
    expect(() => b.addText({ seq: 1, ts: 1n, kind: 'event', hash: Buffer.alloc(32), payloadText: '{"type":"order.created",' })).toThrow(/journal record 1: payload is not a JSON object/);
    expect(() => b.addText({ seq: 1, ts: 1n, kind: 'input', hash: Buffer.alloc(32), payloadText: '{"kind":"no type"}' })).toThrow(/journal record 1/);
    expect(b.size).toBe(0);
  });
});
