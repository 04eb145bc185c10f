// Exact decimal arithmetic on strings (bigint inside). The emulator must hand out amounts that a
// client can compare digit for digit with its own state; one float on the way breaks that.

interface Fixed {
  /** value = int / 10^scale */
  int: bigint;
  scale: number;
}

const PLAIN = /^(-?)(\d+)(?:\.(\d+))?$/;

export class DecimalFormatError extends Error {
  override name = 'DecimalFormatError';
}

export function isDecimal(s: string): boolean {
  return PLAIN.test(s);
}

function parse(s: string): Fixed {
  const m = PLAIN.exec(s);
  if (!m) throw new DecimalFormatError(`not a plain decimal string: "${s}"`);
  const frac = m[3] ?? '';
  const int = BigInt(`${m[2]}${frac}`);
  return { int: m[1] === '-' ? -int : int, scale: frac.length };
}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

function rescale(a: Fixed, scale: number): bigint {
  return a.int * pow10(scale - a.scale);
}

function format(a: Fixed, minScale = 0): string {
  let { int, scale } = a;
  // strip trailing zeros down to minScale, so the canonical form has no "1.50"
  while (scale > minScale && int % 10n === 0n) {
    int /= 10n;
    scale -= 1;
  }
  if (scale < minScale) {
    int *= pow10(minScale - scale);
    scale = minScale;
  }
  const negative = int < 0n;
  let digits = (negative ? -int : int).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  return negative && /[1-9]/.test(digits) ? `-${digits}` : digits;
}

/** Canonical form: no trailing zeros, no "-0" ("1.50" -> "1.5"). */
export function canonical(s: string): string {
  return format(parse(s));
}

/** At least `minScale` decimals, more if the value needs them (exchange style "0.91974100"). */
export function padded(s: string, minScale: number): string {
  return format(parse(s), minScale);
}

export function add(a: string, b: string): string {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x.scale, y.scale);
  return format({ int: rescale(x, scale) + rescale(y, scale), scale });
}

export function sub(a: string, b: string): string {
  return add(a, neg(b));
}

export function neg(a: string): string {
  const x = parse(a);
  return format({ int: -x.int, scale: x.scale });
}

export function abs(a: string): string {
  const x = parse(a);
  return format({ int: x.int < 0n ? -x.int : x.int, scale: x.scale });
}

export function mul(a: string, b: string): string {
  const x = parse(a);
  const y = parse(b);
  return format({ int: x.int * y.int, scale: x.scale + y.scale });
}

export function cmp(a: string, b: string): -1 | 0 | 1 {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x.scale, y.scale);
  const d = rescale(x, scale) - rescale(y, scale);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

export function isZero(a: string): boolean {
  return parse(a).int === 0n;
}

export function sum(values: Iterable<string>): string {
  let total = '0';
  for (const v of values) total = add(total, v);
  return total;
}

export type Rounding = 'half-up' | 'down';

function divInt(n: bigint, d: bigint, mode: Rounding): bigint {
  const negative = n < 0n !== d < 0n;
  const an = n < 0n ? -n : n;
  const ad = d < 0n ? -d : d;
  let q = an / ad;
  if (mode === 'half-up' && (an % ad) * 2n >= ad) q += 1n;
  return negative ? -q : q;
}

/** a / b with `scale` decimals; 'half-up' rounds half away from zero, 'down' truncates. */
export function div(a: string, b: string, scale: number, mode: Rounding = 'half-up'): string {
  const x = parse(a);
  const y = parse(b);
  if (y.int === 0n) throw new DecimalFormatError('division by zero');
  // x.int/10^xs / (y.int/10^ys) * 10^scale = x.int * 10^(ys + scale - xs) / y.int
  const shift = y.scale + scale - x.scale;
  const n = shift >= 0 ? x.int * pow10(shift) : x.int;
  const d = shift >= 0 ? y.int : y.int * pow10(-shift);
  return format({ int: divInt(n, d, mode), scale });
}

export function round(a: string, scale: number, mode: Rounding = 'half-up'): string {
  return div(a, '1', scale, mode);
}

/** Rounds to a multiple of `step` (a tick size such as "0.10"). */
export function quantize(a: string, step: string, mode: Rounding = 'half-up'): string {
  return mul(div(a, step, 0, mode), step);
}

/** Number of decimals as written ("0.10" -> 2); exchanges format prices with the tick's decimals. */
export function decimalsOf(s: string): number {
  return parse(s).scale;
}
