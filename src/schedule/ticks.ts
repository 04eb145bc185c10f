// The fleet's clock, pure: each account's ticks fall on its own grid, offset + k x interval (ms
// since the epoch), the offset from the account's identity, so N daemons agree on every tick
// without talking, the ticks spread evenly over the interval, and a late sync never moves the next.
import { createHash } from 'node:crypto';
import { accountStream, type AccountId } from '../events/streams.js';

/** Where on the interval an account's ticks fall: a hash of its identity, uniform over [0, interval). */
export function offsetOf(id: AccountId, intervalMs: number): number {
  const h = createHash('sha256').update(accountStream(id)).digest();
  return Number(h.readBigUInt64BE(0) % BigInt(Math.max(1, Math.round(intervalMs))));
}

/** The first grid tick at or after `t`. */
export function tickAtOrAfter(t: number, offset: number, interval: number): number {
  return offset + Math.ceil((t - offset) / interval) * interval;
}

/**
 * The tick after a sync that was due at `due`, holding `hold` intervals (1 normally, more while
 * backing off). From a tick on the grid that is due + hold x interval; from an off-grid due (an
 * account's first sync, at once) the grid tick nearest to it. A tick already past (no daemon ran
 * for a while) is skipped: the next is the first one after `now`, never a burst of catch-ups.
 */
export function nextDue(due: number, offset: number, interval: number, now: number, hold = 1): number {
  const next = tickAtOrAfter(due + hold * interval - interval / 2, offset, interval);
  return next > now ? next : tickAtOrAfter(now + 1, offset, interval);
}

/** How many intervals to hold an account back after `failures` failures in a row. */
export function backoffIntervals(failures: number, authLike: boolean): number {
  if (failures <= 0) return 0;
  return authLike ? Math.min(4 * 2 ** (failures - 1), 48) : Math.min(2 ** (failures - 1), 8);
}
