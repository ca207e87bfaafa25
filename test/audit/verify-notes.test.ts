/**
 * `audit verify` parses a payload only when it may be a system.note (NoteFilter: the bytes
 * `system.note`, or a backslash, which every JSON escape starts with). The notes carry the
 * journaled checkpoints, keys and repairs the verdict rests on, so the filter must never pass one
 * by, whatever JSON spelling the file holds: escaped characters in the key or the value, other
 * keys before "type", whitespace between the tokens. Checked here against JSON.parse.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NoteFilter } from '../../src/audit/verify.js';

const WS = fc.constantFrom('', ' ', '\t', '\n', '\r\n', '  ');

/** `text` as a JSON string literal with any of its characters written as \uXXXX (either hex case). */
function spelled(text: string): fc.Arbitrary<string> {
  return fc.array(fc.record({ escape: fc.boolean(), upper: fc.boolean() }), { minLength: text.length, maxLength: text.length }).map((how) => {
    let out = '"';
    for (let i = 0; i < text.length; i++) {
      const hex = text.charCodeAt(i).toString(16).padStart(4, '0');
      out += how[i]!.escape ? `\\u${how[i]!.upper ? hex.toUpperCase() : hex}` : text[i];
    }
    return out + '"';
  });
}

/** A JSON object text: the given type, some other members before and after, any whitespace. */
function objectText(type: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const member = fc.tuple(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => `${JSON.stringify(k === 'type' ? 'k' : k)}:${JSON.stringify(v)}`);
  return fc
    .tuple(fc.array(member, { maxLength: 3 }), spelled('type'), type, fc.array(member, { maxLength: 3 }), WS, WS, WS)
    .map(([before, key, value, after, a, b, c]) => `{${a}${[...before, `${key}${b}:${c}${value}`, ...after].join(`,${a}`)}${b}}`);
}

const note = objectText(spelled('system.note'));
const other = objectText(fc.constantFrom('order.new', 'fill', 'system.notes', 'cmd.order.cancel', 'system').map((t) => JSON.stringify(t)));
const plain = fc.record({ type: fc.constantFrom('order.new', 'fill', 'exec'), qty: fc.integer(), id: fc.stringMatching(/^[A-Za-z0-9-]{0,12}$/) }).map((o) => JSON.stringify(o));

describe('NoteFilter: which payloads verify parses', () => {
  it('never passes by a payload that parses to type "system.note", in a segment of mixed records read in order', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(note, other, plain), { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 12, maxLength: 12 }), (payloads, gaps) => {
        // payloads laid out as in a segment: each behind a header of filler bytes (no backslash)
        const parts: Buffer[] = [];
        const ranges: [number, number][] = [];
        let at = 0;
        payloads.forEach((p, i) => {
          const gap = Buffer.alloc(gaps[i]!, 0x41);
          const bytes = Buffer.from(p, 'utf8');
          parts.push(gap, bytes);
          ranges.push([at + gap.length, at + gap.length + bytes.length]);
          at += gap.length + bytes.length;
        });
        const segment = Buffer.concat(parts);
        const filter = new NoteFilter();
        payloads.forEach((p, i) => {
          const isNote = (JSON.parse(p) as { type?: unknown }).type === 'system.note';
          const [from, to] = ranges[i]!;
          if (isNote) expect(filter.mayHold(segment, from, to)).toBe(true);
        });
      }),
      { numRuns: 500 },
    );
  });

  it('passes by what JSON.stringify writes for other records (the point of the filter)', () => {
    const payloads = [{ type: 'order.new', order: { id: 'O1', qty: '10' } }, { type: 'fill', note: 'system' }, { type: 'system.notes' }].map((p) => JSON.stringify(p));
    const segment = Buffer.from(payloads.join(''), 'utf8');
    const filter = new NoteFilter();
    let from = 0;
    for (const p of payloads) {
      const to = from + Buffer.byteLength(p);
      expect(filter.mayHold(segment, from, to)).toBe(p.includes('system.note'));
      from = to;
    }
  });
});
