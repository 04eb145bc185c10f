// Exponential backoff, the one formula for everything that retries: exchange calls, reconnects to
// PostgreSQL and NATS, failed subscriber passes. Imports nothing, so every room may use it.

export interface Backoff {
  /** The first wait; doubles with each attempt. */
  baseMs: number;
  /** Cap on any single wait. */
  maxMs: number;
  /**
   * Half fixed, half random, so callers that failed together (a rate-limit burst, an exchange
   * restart) do not all come back in the same millisecond. Off for a single reconnect loop.
   */
  jitter?: boolean;
}

/** Wait before attempt `attempt + 1`, after `attempt` failed (1-based). */
export function backoffMs(b: Backoff, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return b.jitter ? Math.round(ceiling / 2 + random() * (ceiling / 2)) : ceiling;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
