// value = total x price, exactly. Amounts are decimal strings; a float product would be off in the
// last digits, and would differ from the numeric product the projector stores for the same row.
import { toDecimal } from '../events/decimal.js';

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
  const product = x.units * y.units;
  const scale = x.scale + y.scale;
  const digits = (product < 0n ? -product : product).toString().padStart(scale + 1, '0');
  const body = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return toDecimal(product < 0n ? `-${body}` : body);
}

/** What a holding is worth in the snapshot's quote currency; null when there is no price (never a guessed 0). */
export function holdingValue(total: string, price: string | null): string | null {
  return price === null ? null : multiplyDecimals(total, price);
}
