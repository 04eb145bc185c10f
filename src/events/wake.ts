// The wait between two reads of the log, shared by every reader that keeps up with it (the
// checkpointed Subscription, the read-only follow): a notification or a stop cuts it short, and
// one that arrives during a read is not lost.
//
// The read horizon: readers take only rows below the oldest running transaction
// (pg_snapshot_xmin). Rows at or above it are "held back": committed after an older transaction
// that is still open, or not committed yet. That transaction is decided soon (appends are short),
// and a rollback sends no notification, so while anything is held back the reader looks again
// quickly, backing off from 5 ms to at most 250 ms, instead of waiting for the next poll.

export class Waker {
  private woken = false;
  private wakeUp: (() => void) | undefined;

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Call before each read: a wake during the read then cuts the next sleep short. */
  clear(): void {
    this.woken = false;
  }

  /** Sleeps `ms`, less if woken (now or since the last clear) or if `stopped()` says so. */
  sleep(ms: number, stopped: () => boolean = () => false): Promise<void> {
    if (this.woken || stopped()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}

/** How long to wait before the next read, given whether events are held back now. */
export class HorizonWait {
  private heldBackMs = 5;

  constructor(private readonly pollMs: number) {}

  next(heldBack: boolean): number {
    if (!heldBack) {
      this.heldBackMs = 5;
      return this.pollMs;
    }
    const wait = this.heldBackMs;
    this.heldBackMs = Math.min(this.pollMs, 250, this.heldBackMs * 2);
    return wait;
  }
}
