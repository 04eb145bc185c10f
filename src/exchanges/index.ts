// The exchange adapter: accounts in, validated snapshots or classified errors out. Knows ccxt,
// knows nothing of the database or NATS.
import type { Account } from '../config.js';
import type { Snapshot } from '../events/catalog.js';
import { accountStream, type AccountId } from '../events/streams.js';
import { silentLogger, type Logger } from '../log.js';
import { AccountFacts } from './account-facts.js';
import { loadExchange } from './ccxt-modules.js';
import { ExchangeError, toExchangeError } from './errors.js';
import { fetchOnce } from './fetch.js';
import { fetchHistory, type HistoryOptions, type HistoryResult, type HistoryState } from './history/index.js';
import { endpointKey, type Instance } from './instances.js';
import { Limiter } from './limiter.js';
import { MarketCache } from './markets.js';
import { InstancePool, instanceKey } from './pool.js';
import { backoffMs, DEFAULT_RETRY, sleep, type RetryPolicy } from './retry.js';
import { scrub } from './scrub.js';
import { DispatcherPool } from './transport.js';

export { coverageOf, type HistoryOptions, type HistoryState, type RecordedTransfer } from './history/index.js';
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

/** An account as it may be shown: no credentials. */
export interface AccountInfo extends AccountId {
  testnet: boolean;
  apiUrl: string | null;
}

export interface SnapshotResult {
  snapshot: Snapshot;
  /** Tries it took, 1 when the first succeeded. */
  attempts: number;
  /** Wall time of the whole call, retries and backoff included. */
  fetchMs: number;
  /** HTTP requests sent for this account during the call, retries and clock resyncs included (market loads are shared and not counted). */
  requests: number;
}

export interface HistoryFetch extends HistoryResult {
  attempts: number;
  fetchMs: number;
  requests: number;
}

export interface ExchangeAccess {
  /** Fetches one account's snapshot; rejects with an ExchangeError only. */
  fetchSnapshot(account: AccountId): Promise<SnapshotResult>;
  /**
   * Fetches the fills and transfers not in `prior` (the coverage the log holds), up to a budget of
   * windows; `snapshot` is the account's current one (binance: which symbols to search). Rejects
   * with an ExchangeError only.
   */
  fetchHistory(account: AccountId, snapshot: Snapshot, prior: HistoryState, opts: HistoryOptions): Promise<HistoryFetch>;
  accounts(): AccountInfo[];
  /** Stops the market timer, ends pending retries and closes the HTTP connections. */
  close(): Promise<void>;
}

interface Slot {
  account: Account;
  /** What its snapshots learned about it (account type, wallets it has). */
  facts: AccountFacts;
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
    const id = accountStream(account);
    if (slots.has(id)) throw new Error(`account ${id} is listed twice`);
    slots.set(id, { account, facts: new AccountFacts() });
  }

  function limiter(key: string): Limiter {
    let l = limiters.get(key);
    if (!l) limiters.set(key, (l = new Limiter(o.concurrencyPerExchange)));
    return l;
  }

  // Accounts with the same exchange, endpoint set and ccxt options share a pool of at most
  // `concurrencyPerExchange` instances instead of one instance each (see pool.ts).
  const pools = new Map<string, InstancePool>();
  function poolFor(account: Account): InstancePool {
    const key = instanceKey(account);
    let pool = pools.get(key);
    if (!pool) pools.set(key, (pool = new InstancePool(key, account, { timeoutMs: o.timeoutMs }, o.concurrencyPerExchange)));
    // Built on first use, so one misconfigured account (say, testnet on an exchange without
    // one) fails its own syncs instead of the whole daemon's start.
    pool.prime();
    return pool;
  }

  // After a nonce rejection the clocks disagree by more than the receive window: measure the
  // offset (one public time request) so ccxt's nonce() = now - timeDifference lines up again.
  // The offset belongs to the endpoint, so the pool keeps it for all of its instances.
  async function resync(inst: Instance, pool: InstancePool, account: Account): Promise<void> {
    inst.options.adjustForTimeDifference = true;
    try {
      const diff = await inst.loadTimeDifference();
      pool.clock = { timeDifference: diff, adjustForTimeDifference: true };
      logger.info({ exchange: account.exchange, account: account.account, timeDifferenceMs: diff }, 'clock offset re-measured');
    } catch (err) {
      logger.warn({ exchange: account.exchange, account: account.account, err: scrub(String(err instanceof Error ? err.message : err), account) }, 'clock offset measurement failed');
    }
  }

  interface Attempted<T> {
    value: T;
    attempts: number;
    fetchMs: number;
    requests: number;
  }

  /**
   * Runs `work` for one account with retries: each try entirely inside the endpoint's limiter
   * slot (borrow an instance, give it this account's credentials, run, hand it back wiped). The
   * limiter allows as many tries per endpoint set as a pool has instances, so one instance never
   * serves two at once.
   */
  async function attempted<T>(ref: AccountId, what: string, work: (inst: Instance, slot: Slot) => Promise<T>): Promise<Attempted<T>> {
    const slot = slots.get(accountStream(ref));
    if (!slot) throw new ExchangeError({ errorClass: 'internal', retryable: false, attempt: 1, message: `unknown account ${accountStream(ref)}` });
    const account = slot.account;
    const log = { exchange: account.exchange, account: account.account };
    const started = performance.now();
    const endpoint = endpointKey(account);
    let pool: InstancePool;
    try {
      if (closing.signal.aborted) throw new Error('exchange access is closed');
      // Only the exchanges accounts sync are ever loaded (see ccxt-modules.ts).
      await loadExchange(account.exchange);
      pool = poolFor(account);
    } catch (err) {
      throw toExchangeError(err, account.exchange, 1, account);
    }
    let requests = 0;
    let resyncFirst = false;

    const attemptOnce = (resyncNow: boolean) =>
      limiter(endpoint).run(async () => {
        const inst = pool.acquire(account);
        const before = inst.requestCount;
        try {
          await dispatchers.adopt(inst, endpoint);
          if (resyncNow) await resync(inst, pool, account);
          await markets.attach(inst, account, account.options.fetchMarkets);
          return await work(inst, slot);
        } finally {
          requests += inst.requestCount - before;
          pool.release(inst);
        }
      });

    for (let attempt = 1; ; attempt++) {
      try {
        // A cold market load is waited for here, before taking a slot.
        await markets.ready(account, account.options.fetchMarkets);
        const resyncNow = resyncFirst;
        resyncFirst = false;
        const value = await attemptOnce(resyncNow);
        return { value, attempts: attempt, fetchMs: Math.round(performance.now() - started), requests };
      } catch (err) {
        const error = toExchangeError(err, account.exchange, attempt, account);
        const last = !error.retryable || attempt >= policy.maxAttempts || closing.signal.aborted;
        if (last) {
          logger.warn({ ...log, errorClass: error.errorClass, retryable: error.retryable, attempt, message: error.message }, `${what} failed`);
          throw error;
        }
        const waitMs = backoffMs(policy, attempt);
        logger.info({ ...log, errorClass: error.errorClass, attempt, waitMs, message: error.message }, `${what} attempt failed; retrying`);
        // The offset is re-measured at the start of the next try, on whichever instance it gets.
        if (error.errorClass === 'nonce') resyncFirst = true;
        await sleep(waitMs, closing.signal);
        // close() cuts the wait short; the caller gets the error that made us wait.
        if (closing.signal.aborted) throw error;
      }
    }
  }

  async function fetchSnapshot(ref: AccountId): Promise<SnapshotResult> {
    const r = await attempted(ref, 'snapshot', (inst, slot) => fetchOnce(inst, slot.account, o.quote, slot.facts));
    logger.debug(
      { exchange: ref.exchange, account: ref.account, attempts: r.attempts, fetchMs: r.fetchMs, balances: r.value.balances.length, positions: r.value.positions.length },
      'snapshot fetched',
    );
    return { snapshot: r.value, attempts: r.attempts, fetchMs: r.fetchMs, requests: r.requests };
  }

  async function fetchHistoryOf(ref: AccountId, snapshot: Snapshot, prior: HistoryState, opts: HistoryOptions): Promise<HistoryFetch> {
    const r = await attempted(ref, 'history', (inst) => fetchHistory(inst, snapshot, prior, opts));
    return { ...r.value, attempts: r.attempts, fetchMs: r.fetchMs, requests: r.requests };
  }

  return {
    fetchSnapshot,
    fetchHistory: fetchHistoryOf,
    accounts: () =>
      [...slots.values()].map(({ account: a }) => ({ exchange: a.exchange, account: a.account, testnet: a.testnet, apiUrl: a.apiUrl ? withoutUserinfo(a.apiUrl) : null })),
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
