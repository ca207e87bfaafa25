import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyBps, DecimalFormatError, div, divRound, floorToStep, formatDecimal, mul, parseDecimal, roundToStep, SCALE } from '../../src/core/fixed.js';

describe('fixed-point decimals', () => {
  it('parses and formats exactly', () => {
    expect(parseDecimal('101.25')).toBe(10_125_000_000n);
    expect(parseDecimal('0.00000001')).toBe(1n);
    expect(parseDecimal('-3')).toBe(-300_000_000n);
    expect(formatDecimal(10_125_000_000n)).toBe('101.25');
    expect(formatDecimal(-1n)).toBe('-0.00000001');
    expect(formatDecimal(0n)).toBe('0');
    expect(formatDecimal(500_000_000n)).toBe('5');
  });

  it('refuses what it cannot book exactly, naming the field', () => {
    for (const bad of ['1.123456789', '1e5', '+1', ' 1', '1.', '.5', '', 'NaN', '0x10', '1,5']) {
      expect(() => parseDecimal(bad, 'price')).toThrow(DecimalFormatError);
      expect(() => parseDecimal(bad, 'price')).toThrow(/^price: /);
    }
    expect(() => parseDecimal(12 as unknown, 'quantity')).toThrow(/quantity: must be a decimal string/);
  });

  it('stays exact past 2^53', () => {
    const big = '123456789012345678.12345678';
    const v = parseDecimal(big);
    expect(v > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(formatDecimal(v)).toBe(big);
    // 9,007,199,254,740,993 cannot be a double; it survives here
    expect(formatDecimal(parseDecimal('9007199254740993') + parseDecimal('0.00000001'))).toBe('9007199254740993.00000001');
    // notional of a large order: 50,000,000 shares at 987,654.32 = 49,382,716,000,000 exactly
    expect(formatDecimal(mul(parseDecimal('987654.32'), parseDecimal('50000000')))).toBe('49382716000000');
  });

  it('rounds half away from zero', () => {
    expect(divRound(5n, 2n)).toBe(3n);
    expect(divRound(-5n, 2n)).toBe(-3n);
    expect(divRound(4n, 3n)).toBe(1n);
    expect(divRound(-4n, 3n)).toBe(-1n);
    expect(divRound(5n, -2n)).toBe(-3n);
    expect(() => divRound(1n, 0n)).toThrow(RangeError);
    // 0.00000001 × 0.5 = 0.000000005 → rounds to 0.00000001
    expect(mul(1n, SCALE / 2n)).toBe(1n);
    expect(div(parseDecimal('1'), parseDecimal('3'))).toBe(33_333_333n);
    expect(applyBps(parseDecimal('10000'), parseDecimal('0.3'))).toBe(parseDecimal('0.3'));
    expect(applyBps(parseDecimal('20'), parseDecimal('-0.2'))).toBe(-parseDecimal('0.0004'));
  });

  it('steps', () => {
    expect(roundToStep(parseDecimal('10.005'), parseDecimal('0.01'))).toBe(parseDecimal('10.01'));
    expect(floorToStep(parseDecimal('10.019'), parseDecimal('0.01'))).toBe(parseDecimal('10.01'));
    expect(floorToStep(parseDecimal('-10.011'), parseDecimal('0.01'))).toBe(parseDecimal('-10.02'));
  });

  it('round-trips every representable value (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), (v) => {
        expect(parseDecimal(formatDecimal(v))).toBe(v);
      }),
    );
  });

  it('mul agrees with exact rational arithmetic (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), (a, b) => {
        const exact = a * b; // at scale 10^16
        const r = mul(a, b);
        // |r × 10^8 − exact| ≤ 10^8 / 2
        const err = r * SCALE - exact;
        expect(err <= SCALE / 2n && err >= -SCALE / 2n).toBe(true);
      }),
    );
  });
});
