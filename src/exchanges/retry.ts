// How exchange calls retry: exponential backoff with jitter (src/backoff.ts), bounded in tries.
import { backoffMs as backoff } from '../backoff.js';

export { sleep } from '../backoff.js';

export interface RetryPolicy {
  /** Total tries including the first; 1 disables retries. */
  maxAttempts: number;
  /** Upper bound of the first wait; doubles each attempt. */
  baseMs: number;
  /** Cap on any single wait. */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseMs: 500, maxMs: 30_000 };

/** Wait before attempt `attempt + 1`, after `attempt` failed (1-based). */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  // Never zero (a rate limit needs some pause) yet still spread out.
  return backoff({ baseMs: policy.baseMs, maxMs: policy.maxMs, jitter: true }, attempt, random);
}
