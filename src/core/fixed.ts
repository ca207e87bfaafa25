/**
 * Exact fixed-point numbers for everything that is booked: prices, quantities, cash, fees, P&L.
 *
 * One global scale (10^-8) for all of them keeps arithmetic simple and lossless: a price times a
 * quantity is divided by SCALE once, with an explicit rounding rule. Values are bigint because a
 * notional in 10^-8 units passes 2^53 at about 90 million.
 *
 * On the wire (API, journal, venue messages) these values travel as decimal strings ("101.25"),
 * never as JSON numbers, so they stay exact end to end.
 */

export type Fixed = bigint;
/** A price in 10^-8 units of the instrument's currency. */
export type Price = bigint;
/** A quantity in 10^-8 units (lots and shares are whole multiples of the lot size). */
export type Qty = bigint;
/** Money (cash, fees, P&L, notional) in 10^-8 units of the currency. */
export type Money = bigint;

export const DECIMALS = 8;
export const SCALE = 100_000_000n;
export const ZERO = 0n;
export const ONE = SCALE;

const DECIMAL_RE = /^(-)?(\d{1,30})(?:\.(\d{1,8}))?$/;
const PAD = '00000000';

export class DecimalFormatError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'DecimalFormatError';
  }
}

/**
 * Parses a decimal string with at most 8 fractional digits. Exponents, '+', spaces, empty
 * fractions ("1.") and more than 8 decimals are refused: a value we cannot book exactly is an
 * error, not something to round silently.
 */
export function parseDecimal(s: unknown, field = 'value'): Fixed {
  if (typeof s !== 'string') {
    throw new DecimalFormatError(field, s, `must be a decimal string such as "101.25", got ${typeof s}`);
  }
  const m = DECIMAL_RE.exec(s);
  if (m === null) {
    throw new DecimalFormatError(field, s, `"${s.length > 40 ? s.slice(0, 40) + '...' : s}" is not a decimal with at most ${DECIMALS} fractional digits`);
  }
  const frac = m[3] === undefined ? PAD : m[3] + PAD.slice(m[3].length);
  const v = BigInt(m[2]!) * SCALE + BigInt(frac);
  return m[1] === '-' ? -v : v;
}

export function tryParseDecimal(s: unknown): Fixed | undefined {
  if (typeof s !== 'string' || !DECIMAL_RE.test(s)) return undefined;
  return parseDecimal(s);
}

/** Canonical decimal string: no trailing fractional zeros, no exponent. */
export function formatDecimal(v: Fixed): string {
  if (v === 0n) return '0';
  const neg = v < 0n;
  const a = neg ? -v : v;
  const int = a / SCALE;
  const frac = a % SCALE;
  let s = int.toString();
  if (frac !== 0n) {
    let f = frac.toString().padStart(DECIMALS, '0');
    let end = f.length;
    while (end > 0 && f.charCodeAt(end - 1) === 48) end--;
    f = f.slice(0, end);
    s += '.' + f;
  }
  return neg ? '-' + s : s;
}

export function fromInt(n: number | bigint): Fixed {
  if (typeof n === 'number' && !Number.isSafeInteger(n)) throw new RangeError(`fromInt: ${n} is not a safe integer`);
  return BigInt(n) * SCALE;
}

/** For display, metrics and statistics only; never for anything booked. */
export function toNumber(v: Fixed): number {
  return Number(v) / 1e8;
}

/** Rounding rule: half away from zero for exact ties, used for every booked product. */
export function divRound(n: bigint, d: bigint): bigint {
  if (d === 0n) throw new RangeError('division by zero');
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const q = n / d;
  const r = n % d;
  if (r === 0n) return q;
  const twice = (r < 0n ? -r : r) * 2n;
  if (twice >= d) return n < 0n ? q - 1n : q + 1n;
  return q;
}

/** a × b at scale (for price × quantity = notional). */
export function mul(a: Fixed, b: Fixed): Fixed {
  return divRound(a * b, SCALE);
}

/** a ÷ b at scale. */
export function div(a: Fixed, b: Fixed): Fixed {
  return divRound(a * SCALE, b);
}

/** value × bps / 10,000 (fees, percentage limits expressed in basis points). */
export function applyBps(value: Fixed, bps: Fixed): Fixed {
  return divRound(value * bps, 10_000n * SCALE);
}

export function abs(v: Fixed): Fixed {
  return v < 0n ? -v : v;
}

export function min(a: Fixed, b: Fixed): Fixed {
  return a < b ? a : b;
}

export function max(a: Fixed, b: Fixed): Fixed {
  return a > b ? a : b;
}

export function isMultipleOf(v: Fixed, step: Fixed): boolean {
  return step > 0n && v % step === 0n;
}

/** Rounds to the nearest multiple of step (ties away from zero). */
export function roundToStep(v: Fixed, step: Fixed): Fixed {
  return divRound(v, step) * step;
}

/** Rounds down (toward negative infinity) to a multiple of step. */
export function floorToStep(v: Fixed, step: Fixed): Fixed {
  const r = v % step;
  return r < 0n ? v - r - step : v - r;
}
