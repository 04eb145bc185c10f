// Fixed-rate schedule: account i of n runs at start + offset_i + k x interval, offsets spread
// evenly across the interval, so syncs neither drift (the next time never depends on how long
// the last sync took) nor bunch up. Every account also runs once right at start. An account
// that keeps failing skips ticks: doubling up to 8 intervals, auth/permission failures start at
// 4 intervals and go up to 48 (a revoked key is not fixed by asking again every 30 minutes).
import type { Logger } from 'pino';
import type { AccountId } from '../events/streams.js';
import type { SyncResult } from './sync.js';

export interface SchedulerOptions {
  intervalMs: number;
  logger: Logger;
  /** Runs one sync; must not throw for a failed sync (it returns status 'failed'). */
  sync: (account: AccountId) => Promise<SyncResult>;
  now?: () => number;
}

const FOREVER_CAP_MS = 2 ** 31 - 1; // setTimeout's limit

/** The first tick of the schedule strictly after `now`, at or after `notBefore`. */
export function nextTick(start: number, offset: number, interval: number, now: number, notBefore = 0): number {
  const from = Math.max(now, notBefore);
  const k = Math.max(1, Math.floor((from - start - offset) / interval) + 1);
  let t = start + offset + k * interval;
  while (t <= now || t < notBefore) t += interval;
  return t;
}

/** How many intervals to hold an account back after `failures` failures in a row. */
export function backoffIntervals(failures: number, authLike: boolean): number {
  if (failures <= 0) return 0;
  return authLike ? Math.min(4 * 2 ** (failures - 1), 48) : Math.min(2 ** (failures - 1), 8);
}

interface Slot {
  account: AccountId;
  offset: number;
  timer?: NodeJS.Timeout;
  failures: number;
  notBefore: number;
  next?: number;
}

export class Scheduler {
  private readonly slots: Slot[];
  private start = 0;
  private running = false;
  private readonly now: () => number;
  /** Since when scheduled syncs cannot be recorded (database down), and how many were lost since. */
  private outage?: { since: number; lost: number; error: string };

  constructor(
    accounts: AccountId[],
    private readonly opts: SchedulerOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.slots = accounts.map((account, i) => ({ account, offset: Math.floor((i * opts.intervalMs) / accounts.length), failures: 0, notBefore: 0 }));
  }

  begin(): void {
    if (this.running) return;
    this.running = true;
    this.start = this.now();
    for (const slot of this.slots) void this.fire(slot);
  }

  stop(): void {
    this.running = false;
    for (const slot of this.slots) clearTimeout(slot.timer);
  }

  /** Feed results of syncs started elsewhere (commands), so backoff reflects them too. */
  observe(result: SyncResult): void {
    const slot = this.slots.find((s) => s.account.exchange === result.exchange && s.account.account === result.account);
    if (slot) this.record(slot, result);
  }

  /** When each account runs next (ms since epoch), for status replies. */
  nextRuns(): (AccountId & { next: number | null; failures: number })[] {
    return this.slots.map((s) => ({ exchange: s.account.exchange, account: s.account.account, next: this.running ? (s.next ?? null) : null, failures: s.failures }));
  }

  private record(slot: Slot, result: SyncResult): void {
    if (result.status === 'ok') {
      slot.failures = 0;
      slot.notBefore = 0;
      return;
    }
    slot.failures += 1;
    const authLike = result.errorClass === 'auth' || result.errorClass === 'permission';
    const hold = backoffIntervals(slot.failures, authLike);
    // Hold back by whole intervals from this tick; the (hold)th next tick is the first allowed.
    slot.notBefore = this.now() + (hold - 1) * this.opts.intervalMs;
  }

  private async fire(slot: Slot): Promise<void> {
    if (!this.running) return;
    try {
      const result = await this.opts.sync(slot.account);
      this.record(slot, result);
      if (this.outage) {
        this.opts.logger.info({ downForMs: this.now() - this.outage.since, syncsNotRecorded: this.outage.lost }, 'scheduled syncs are recorded again');
        this.outage = undefined;
      }
    } catch (err) {
      // Recording itself failed (database down): count it like a failed sync and keep going.
      // One error per outage, not one per account per tick, as the cause is the same for all;
      // a different error is news (the database is back but refuses us, say) and is logged again.
      slot.failures += 1;
      const error = (err as Error).message;
      const fields = { exchange: slot.account.exchange, account: slot.account.account, err: error };
      if (this.outage?.error === error) {
        this.outage.lost += 1;
        this.opts.logger.debug(fields, 'scheduled sync could not be recorded');
      } else {
        this.outage = { since: this.outage?.since ?? this.now(), lost: (this.outage?.lost ?? 0) + 1, error };
        this.opts.logger.error(fields, 'scheduled syncs cannot be recorded; logged again when they are, or when the error changes');
      }
    }
    this.arm(slot);
  }

  private arm(slot: Slot): void {
    if (!this.running) return;
    const now = this.now();
    const next = nextTick(this.start, slot.offset, this.opts.intervalMs, now, slot.notBefore);
    slot.next = next;
    slot.timer = setTimeout(() => {
      // A wait beyond setTimeout's limit wakes early: just wait again.
      if (this.now() < next) this.arm(slot);
      else void this.fire(slot);
    }, Math.min(next - now, FOREVER_CAP_MS));
  }
}
