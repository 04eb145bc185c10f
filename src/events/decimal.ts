// Money is carried as canonical decimal strings: exact, comparable as text, hashable.
import { z } from 'zod';

const CANONICAL = /^-?(0|[1-9]\d*)(\.\d*[1-9])?$/;
const LOOSE = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** A decimal string in canonical form: no exponent, no leading or trailing zeros, no "-0". */
export const Decimal = z.string().regex(CANONICAL, 'expected a canonical decimal string such as "12.5"');
export type Decimal = z.infer<typeof Decimal>;

export class DecimalError extends Error {
  override name = 'DecimalError';
}

/**
 * Canonicalizes a decimal given as text ("0012.500", "1e-8", "-0.0"). Numbers are refused:
 * a float has already lost the exact value by the time it arrives here.
 */
export function toDecimal(input: string): Decimal {
  const m = LOOSE.exec(input.trim());
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) throw new DecimalError(`not a decimal number: "${input}"`);
  const [, sign = '', intPart = '', fracPart = '', expPart] = m;
  let digits = intPart + fracPart;
  let point = intPart.length + (expPart ? Number(expPart) : 0);
  if (!Number.isSafeInteger(point) || Math.abs(point) > 1000) throw new DecimalError(`exponent out of range: "${input}"`);
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  const int = digits.slice(0, point).replace(/^0+/, '') || '0';
  const frac = digits.slice(point).replace(/0+$/, '');
  const body = frac ? `${int}.${frac}` : int;
  return sign === '-' && body !== '0' ? `-${body}` : body;
}

// Exact arithmetic on canonical decimals, through integers of 10^-scale units.

/** The decimal as an integer count of 10^-scale units: "-1.25" -> { units: -125n, scale: 2 }. */
function scaled(decimal: string): { units: bigint; scale: number } {
  const canonical = toDecimal(decimal);
  const negative = canonical.startsWith('-');
  const [int = '0', frac = ''] = (negative ? canonical.slice(1) : canonical).split('.');
  const units = BigInt(int + frac);
  return { units: negative ? -units : units, scale: frac.length };
}

/** a x b as a canonical decimal string, with every digit of the product kept. */
export function multiplyDecimals(a: string, b: string): string {
  const x = scaled(a);
  const y = scaled(b);
  return fromScaled(x.units * y.units, x.scale + y.scale);
}

function fromScaled(units: bigint, scale: number): string {
  const digits = (units < 0n ? -units : units).toString().padStart(scale + 1, '0');
  const body = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return toDecimal(units < 0n ? `-${body}` : body);
}

/** a + b as a canonical decimal string, exact. */
export function addDecimals(a: string, b: string): string {
  const x = scaled(a);
  const y = scaled(b);
  const scale = Math.max(x.scale, y.scale);
  return fromScaled(x.units * 10n ** BigInt(scale - x.scale) + y.units * 10n ** BigInt(scale - y.scale), scale);
}
