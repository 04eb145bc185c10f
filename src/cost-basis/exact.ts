// Exact decimals for the cost-basis fold. Strings are exact too, but a fold over a million fills
// would parse and print every intermediate; this keeps them as integers of 10^-scale units and
// prints once at the end. Sums, differences and products are exact. Division is the one rounding
// step: half to even at the 32nd significant digit (DIVISION_DIGITS), as docs/cost-basis.md says.
import { toDecimal } from '../events/decimal.js';

export const DIVISION_DIGITS = 32;

const POWERS: bigint[] = [1n];
function pow10(n: number): bigint {
  for (let i = POWERS.length; i <= n; i++) POWERS.push(POWERS[i - 1]! * 10n);
  return POWERS[n]!;
}

/** Decimal digits of a positive integer, by the table of powers (no conversion to text). */
function digitCount(x: bigint): number {
  let lo = 1;
  while (pow10(lo) <= x) lo *= 2;
  let hi = lo;
  lo = lo / 2;
  // Now 10^lo <= x < 10^hi (or x < 10 when lo is 0): find the first power above x.
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (pow10(mid) <= x) lo = mid;
    else hi = mid;
  }
  return x < 10n ? 1 : hi;
}

export class Exact {
  private constructor(
    readonly units: bigint,
    readonly scale: number,
  ) {}

  static readonly ZERO = new Exact(0n, 0);
  static readonly ONE = new Exact(1n, 0);
  static readonly HUNDRED = new Exact(100n, 0);

  /** From a canonical decimal string (what events and numeric columns hold). */
  static of(decimal: string): Exact {
    const negative = decimal.charCodeAt(0) === 45;
    const body = negative ? decimal.slice(1) : decimal;
    const dot = body.indexOf('.');
    if (dot < 0) return new Exact(BigInt(decimal), 0);
    const units = BigInt(body.slice(0, dot) + body.slice(dot + 1));
    return new Exact(negative ? -units : units, body.length - dot - 1);
  }

  /** From any decimal text ("1e-8", "0012.50"); for input that may not be canonical. */
  static parse(text: string): Exact {
    return Exact.of(toDecimal(text));
  }

  plus(other: Exact): Exact {
    if (other.units === 0n) return this;
    if (this.units === 0n) return other;
    const d = this.scale - other.scale;
    if (d === 0) return new Exact(this.units + other.units, this.scale);
    return d > 0 ? new Exact(this.units + other.units * pow10(d), this.scale) : new Exact(this.units * pow10(-d) + other.units, other.scale);
  }

  minus(other: Exact): Exact {
    if (other.units === 0n) return this;
    const d = this.scale - other.scale;
    if (d === 0) return new Exact(this.units - other.units, this.scale);
    return d > 0 ? new Exact(this.units - other.units * pow10(d), this.scale) : new Exact(this.units * pow10(-d) - other.units, other.scale);
  }

  // Products keep their trailing zeros (finding them costs more than carrying them); toString
  // drops them. Scales stay bounded over a fold because every quotient is cut to 32 digits.
  times(other: Exact): Exact {
    return new Exact(this.units * other.units, this.scale + other.scale);
  }

  negated(): Exact {
    return new Exact(-this.units, this.scale);
  }

  /** this / divisor, rounded half to even at DIVISION_DIGITS significant digits. */
  div(divisor: Exact): Exact {
    if (divisor.units === 0n) throw new RangeError('division by zero');
    if (this.units === 0n) return Exact.ZERO;
    const negative = this.units < 0n !== divisor.units < 0n;
    const n = this.units < 0n ? -this.units : this.units;
    const d = divisor.units < 0n ? -divisor.units : divisor.units;
    // n/10^sa / (d/10^sb) = (n * 10^(sb+k)) / (d * 10^sa) / 10^k, with k giving the quotient one
    // or two digits more than kept (the digit counts differ by at most one from the estimate).
    let k = DIVISION_DIGITS + 1 - (digitCount(n) - digitCount(d));
    for (;;) {
      const up = divisor.scale + k - this.scale;
      const num = up >= 0 ? n * pow10(up) : n;
      const den = up >= 0 ? d : d * pow10(-up);
      const q = num / den;
      const digits = digitCount(q);
      if (digits <= DIVISION_DIGITS) {
        k += DIVISION_DIGITS + 1 - digits;
        continue;
      }
      const drop = digits - DIVISION_DIGITS;
      const unit = pow10(drop);
      let kept = q / unit;
      // Half to even on the whole remainder: the dropped digits against one half, and only an
      // exact half (nothing left below the digits) is a tie.
      const dropped = q - kept * unit;
      const half = unit / 2n;
      if (dropped > half || (dropped === half && (num % den !== 0n || (kept & 1n) === 1n))) kept += 1n;
      const scale = k - drop;
      const result = scale >= 0 ? new Exact(kept, scale) : new Exact(kept * pow10(-scale), 0);
      return negative ? result.negated() : result;
    }
  }

  sign(): -1 | 0 | 1 {
    return this.units === 0n ? 0 : this.units < 0n ? -1 : 1;
  }

  isZero(): boolean {
    return this.units === 0n;
  }

  compare(other: Exact): -1 | 0 | 1 {
    const d = this.scale - other.scale;
    const a = d >= 0 ? this.units : this.units * pow10(-d);
    const b = d > 0 ? other.units * pow10(d) : other.units;
    return a === b ? 0 : a < b ? -1 : 1;
  }

  min(other: Exact): Exact {
    return this.compare(other) <= 0 ? this : other;
  }

  /** The canonical decimal string. */
  toString(): string {
    const negative = this.units < 0n;
    const digits = (negative ? -this.units : this.units).toString();
    if (this.scale === 0) return negative && digits !== '0' ? `-${digits}` : digits;
    const padded = digits.padStart(this.scale + 1, '0');
    const int = padded.slice(0, -this.scale);
    const frac = padded.slice(-this.scale).replace(/0+$/, '');
    const body = frac ? `${int}.${frac}` : int;
    return negative && body !== '0' ? `-${body}` : body;
  }

  toJSON(): string {
    return this.toString();
  }
}
