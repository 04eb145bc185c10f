// A read-only reader of the log for tools like `exchange-sync events --follow`: the same
// commit-safe order as a Subscription, but the cursor lives in memory and nothing is written,
// so any number of followers can run, even on a read-only database user.
import { START, cursorOf, type Cursor, type EventStore, type RecordedEvent } from './store.js';
import type { Notifier } from './subscription.js';
import { HorizonWait, Waker } from './wake.js';

export interface FollowOptions {
  /** Start after this cursor (default: the beginning of the log). */
  after?: Cursor;
  /** Skip events below this global position. */
  fromGlobalPosition?: number;
  /** Return once the committed log is read instead of waiting for more. */
  untilEnd?: boolean;
  /** Wakes the follower as soon as an append commits; without it, only polling. */
  notifier?: Notifier;
  /** Fallback poll (ms) for a missed or absent notification. */
  pollMs?: number;
  batchSize?: number;
  /** Ends the iteration (after the batch in hand, if any). */
  signal?: AbortSignal;
}

/** Batches of events in (transaction_id, global_position) order; never skips a late commit. */
export async function* follow(store: EventStore, opts: FollowOptions = {}): AsyncGenerator<RecordedEvent[], void, undefined> {
  const batchSize = opts.batchSize ?? 500;
  const pollMs = opts.pollMs ?? 1000;
  const signal = opts.signal;
  let cursor = opts.after ?? START;
  const waker = new Waker();
  const wait = new HorizonWait(pollMs);
  const wake = () => waker.wake();
  const unlisten = opts.untilEnd ? undefined : opts.notifier?.add(wake);
  signal?.addEventListener('abort', wake);
  try {
    while (!signal?.aborted) {
      waker.clear();
      // Asked before the read, as in Subscription.pass: asked after it, a blocker that commits in
      // between would hide that the read missed an event.
      const heldBack = opts.untilEnd ? false : await store.hasHeldBack();
      const events = await store.readAfter(cursor, batchSize, { fromGlobalPosition: opts.fromGlobalPosition });
      const last = events[events.length - 1];
      if (last) {
        cursor = cursorOf(last);
        yield events;
        if (events.length === batchSize) continue;
      }
      if (opts.untilEnd) return;
      await waker.sleep(wait.next(heldBack), () => signal?.aborted === true);
    }
  } finally {
    unlisten?.();
    signal?.removeEventListener('abort', wake);
  }
}
