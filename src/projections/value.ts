// value = total x price, exactly. Amounts are decimal strings; a float product would be off in the
// last digits, and would differ from the numeric product the projector stores for the same row.
import { multiplyDecimals } from '../events/decimal.js';

/** What a holding is worth in the snapshot's quote currency; null when there is no price (never a guessed 0). */
export function holdingValue(total: string, price: string | null): string | null {
  return price === null ? null : multiplyDecimals(total, price);
}
