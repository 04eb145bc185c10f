// The exchange adapter: accounts in, validated snapshots or classified errors out. Knows ccxt,
// knows nothing of the database or NATS.
import type { Account } from '../config.js';
import type { Snapshot } from '../events/catalog.js';
import { silentLogger, type Logger } from '../log.js';
import { ExchangeError, toExchangeError } from './errors.js';
import { fetchOnce } from './fetch.js';
import { createInstance, endpointKey, type Instance } from './instances.js';
import { Limiter } from './limiter.js';
import { MarketCache } from './markets.js';
import { backoffMs, DEFAULT_RETRY, sleep, type RetryPolicy } from './retry.js';
import { scrub } from './scrub.js';
import { DispatcherPool } from './transport.js';

export { ExchangeError, classify, type Classification, type ErrorClass } from './errors.js';
export { rewriteApiUrls, allUrls } from './urls.js';
export { tunedOptions } from './instances.js';
export { scrub } from './scrub.js';

export interface ExchangeAccessOptions {
  logger?: Logger;
  /** Per HTTP request (ccxt `timeout`). Default 10 000 ms. */
  timeoutMs?: number;
  /** Tries per snapshot, the first included. Default 4. */
  maxAttempts?: number;
  /** First backoff ceiling; doubles per retry, half of it jittered. Default 500 ms. */
  retryBaseMs?: number;
  /** Cap on one backoff. Default 30 000 ms. */
  retryMaxMs?: number;
  /** Market list reload period; 0 disables. Default 1 h. */
  marketsRefreshMs?: number;
  /** Snapshots in flight at once per exchange endpoint set. Default 4. */
  concurrencyPerExchange?: number;
  /** Currency prices are quoted in. Default USDT. */
  quote?: string;
}

export const DEFAULTS = {
  timeoutMs: 10_000,
  maxAttempts: DEFAULT_RETRY.maxAttempts,
  retryBaseMs: DEFAULT_RETRY.baseMs,
  retryMaxMs: DEFAULT_RETRY.maxMs,
  marketsRefreshMs: 60 * 60 * 1000,
  concurrencyPerExchange: 4,
  quote: 'USDT',
} as const;

/** Names an account: what `fetchSnapshot` needs (an `Account` from the config fits). */
export interface AccountRef {
  exchange: string;
  name: string;
}

/** An account as it may be shown: no credentials. */
export interface AccountInfo {
  exchange: string;
  name: string;
  testnet: boolean;
  apiUrl: string | null;
}

export interface SnapshotResult {
  snapshot: Snapshot;
  /** Tries it took, 1 when the first succeeded. */
  attempts: number;
  /** Wall time of the whole call, retries and backoff included. */
  fetchMs: number;
  /** HTTP requests this account's instance sent for the call (market loads are shared and not counted). */
  requests: number;
}

export interface ExchangeAccess {
  /** Fetches one account's snapshot; rejects with an ExchangeError only. */
  fetchSnapshot(account: AccountRef): Promise<SnapshotResult>;
  accounts(): AccountInfo[];
  /** Stops the market timer, ends pending retries and closes the HTTP connections. */
  close(): Promise<void>;
}

interface Slot {
  account: Account;
  instance: Instance | null;
}

export function createExchangeAccess(accountList: Account[], options: ExchangeAccessOptions = {}): ExchangeAccess {
  const o = { ...DEFAULTS, ...definedOnly(options) };
  const logger = (options.logger ?? silentLogger()).child({ component: 'exchanges' });
  const policy: RetryPolicy = { maxAttempts: o.maxAttempts, baseMs: o.retryBaseMs, maxMs: o.retryMaxMs };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new RangeError(`maxAttempts must be a positive integer, got ${policy.maxAttempts}`);
  new Limiter(o.concurrencyPerExchange); // refuses a bad cap now rather than on the first sync
  const dispatchers = new DispatcherPool();
  const markets = new MarketCache({
    timeoutMs: o.timeoutMs,
    refreshMs: o.marketsRefreshMs,
    logger,
    prepare: (loader, key) => dispatchers.adopt(loader, key),
  });
  const limiters = new Map<string, Limiter>();
  const closing = new AbortController();

  const slots = new Map<string, Slot>();
  for (const account of accountList) {
    const id = `${account.exchange}:${account.name}`;
    if (slots.has(id)) throw new Error(`account ${id} is listed twice`);
    slots.set(id, { account, instance: null });
  }

  function limiter(key: string): Limiter {
    let l = limiters.get(key);
    if (!l) limiters.set(key, (l = new Limiter(o.concurrencyPerExchange)));
    return l;
  }

  // Created on first use, so one misconfigured account (say, testnet on an exchange without
  // one) fails its own syncs instead of the whole daemon's start.
  async function instanceFor(slot: Slot): Promise<Instance> {
    if (!slot.instance) {
      const a = slot.account;
      slot.instance = createInstance(a, a.options, { timeoutMs: o.timeoutMs }, { apiKey: a.apiKey, secret: a.secret, password: a.password });
    }
    await dispatchers.adopt(slot.instance, endpointKey(slot.account));
    return slot.instance;
  }

  // After a nonce rejection the clocks disagree by more than the receive window: measure the
  // offset (one public time request) so ccxt's nonce() = now - timeDifference lines up again.
  async function resync(inst: Instance, account: Account): Promise<void> {
    inst.options.adjustForTimeDifference = true;
    try {
      const diff = await inst.loadTimeDifference();
      logger.info({ exchange: account.exchange, account: account.name, timeDifferenceMs: diff }, 'clock offset re-measured');
    } catch (err) {
      logger.warn({ exchange: account.exchange, account: account.name, err: scrub(String(err instanceof Error ? err.message : err), account) }, 'clock offset measurement failed');
    }
  }

  async function fetchSnapshot(ref: AccountRef): Promise<SnapshotResult> {
    const slot = slots.get(`${ref.exchange}:${ref.name}`);
    if (!slot) throw new ExchangeError({ errorClass: 'internal', retryable: false, attempt: 1, message: `unknown account ${ref.exchange}:${ref.name}` });
    const account = slot.account;
    const log = { exchange: account.exchange, account: account.name };
    const started = performance.now();
    let inst: Instance;
    try {
      if (closing.signal.aborted) throw new Error('exchange access is closed');
      inst = await instanceFor(slot);
    } catch (err) {
      throw toExchangeError(err, account.exchange, 1, account);
    }
    const requestsBefore = inst.requestCount;
    for (let attempt = 1; ; attempt++) {
      try {
        await markets.attach(inst, account, account.options.fetchMarkets);
        const snapshot = await limiter(endpointKey(account)).run(() => fetchOnce(inst, account, o.quote));
        const result = { snapshot, attempts: attempt, fetchMs: Math.round(performance.now() - started), requests: inst.requestCount - requestsBefore };
        logger.debug({ ...log, attempts: attempt, fetchMs: result.fetchMs, balances: snapshot.balances.length, positions: snapshot.positions.length }, 'snapshot fetched');
        return result;
      } catch (err) {
        const error = toExchangeError(err, account.exchange, attempt, account);
        const last = !error.retryable || attempt >= policy.maxAttempts || closing.signal.aborted;
        if (last) {
          logger.warn({ ...log, errorClass: error.errorClass, retryable: error.retryable, attempt, message: error.message }, 'snapshot failed');
          throw error;
        }
        const waitMs = backoffMs(policy, attempt);
        logger.info({ ...log, errorClass: error.errorClass, attempt, waitMs, message: error.message }, 'snapshot attempt failed; retrying');
        if (error.errorClass === 'nonce') await resync(inst, account);
        await sleep(waitMs, closing.signal);
        // close() cuts the wait short; the caller gets the error that made us wait.
        if (closing.signal.aborted) throw error;
      }
    }
  }

  return {
    fetchSnapshot,
    accounts: () =>
      [...slots.values()].map(({ account: a }) => ({ exchange: a.exchange, name: a.name, testnet: a.testnet, apiUrl: a.apiUrl ? withoutUserinfo(a.apiUrl) : null })),
    async close() {
      closing.abort();
      markets.close();
      await dispatchers.close();
    },
  };
}

/** A proxy URL may carry user:password; accounts() is for display. */
function withoutUserinfo(url: string): string {
  const u = new URL(url);
  if (!u.username && !u.password) return url;
  u.username = '';
  u.password = '';
  return u.toString();
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
