// Markets are public and identical for every account of an exchange, and a Bybit or Binance
// market list is a few MB parsed: load it once per endpoint set, keep it in one loader
// instance, and point every pooled instance at the same objects (setMarketsFromExchange
// copies references, not markets).
import type { Logger } from '../log.js';
import { createInstance, endpointKey, type Instance, type InstanceSettings } from './instances.js';
import type { Account } from '../config.js';

type Endpoint = Pick<Account, 'exchange' | 'testnet' | 'apiUrl'>;

interface Entry {
  key: string;
  endpoint: string;
  loader: Instance;
  /** Bumped on every successful load; instances remember the version they copied. */
  version: number;
  loadedAt: number | null;
  /** The one load in flight, shared by every caller (a cold start of 50 accounts is one load). */
  loading: Promise<void> | null;
  /** A background refresh failed: try again on next use rather than waiting a full period. */
  stale: boolean;
}

export interface MarketCacheOptions extends InstanceSettings {
  /** Reload markets this often (listings and delistings); 0 disables the timer. */
  refreshMs: number;
  logger: Logger;
  /** Runs once per loader before its first request (the caller shares its HTTP pool with it). */
  prepare?: (loader: Instance, endpointKey: string) => Promise<void>;
}

export class MarketCache {
  private readonly entries = new Map<string, Entry>();
  private readonly versions = new WeakMap<Instance, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: MarketCacheOptions) {
    if (opts.refreshMs > 0) {
      this.timer = setInterval(() => this.refreshAll(), opts.refreshMs);
      this.timer.unref();
    }
  }

  /**
   * Makes sure `inst` has the current markets of its endpoint set, loading them if nobody has.
   * `fetchMarketsOptions` is the account's own `options.fetchMarkets`, if any: accounts that ask
   * for different market types cannot share a list.
   */
  async attach(inst: Instance, endpoint: Endpoint, fetchMarketsOptions: unknown): Promise<void> {
    await this.ready(endpoint, fetchMarketsOptions);
    const entry = this.entry(endpoint, fetchMarketsOptions);
    if (this.versions.get(inst) !== entry.version) {
      inst.setMarketsFromExchange(entry.loader);
      this.versions.set(inst, entry.version);
    }
  }

  /**
   * Loads the markets of an endpoint set if nobody has (waiting for a load in flight), without
   * touching any instance: callers wait here before taking a limiter slot, so a cold market load
   * does not hold one.
   */
  async ready(endpoint: Endpoint, fetchMarketsOptions: unknown): Promise<void> {
    const entry = this.entry(endpoint, fetchMarketsOptions);
    if (entry.loadedAt === null) await this.load(entry);
    else if (entry.stale && entry.loading === null) this.refresh(entry);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private entry(endpoint: Endpoint, fetchMarketsOptions: unknown): Entry {
    const key = `${endpointKey(endpoint)}|${fetchMarketsOptions === undefined ? '' : JSON.stringify(fetchMarketsOptions)}`;
    let entry = this.entries.get(key);
    if (!entry) {
      const options = fetchMarketsOptions === undefined ? {} : { fetchMarkets: fetchMarketsOptions };
      const loader = createInstance(endpoint, options, this.opts);
      entry = { key, endpoint: endpointKey(endpoint), loader, version: 0, loadedAt: null, loading: null, stale: false };
      this.entries.set(key, entry);
    }
    return entry;
  }

  private load(entry: Entry): Promise<void> {
    if (entry.loading) return entry.loading;
    const started = Date.now();
    // Always reload=true: ccxt caches a failed loadMarkets() as a rejected promise, and a plain
    // loadMarkets() on that instance would then fail forever without sending a request.
    const prepare = this.opts.prepare ?? (async () => undefined);
    entry.loading = prepare(entry.loader, entry.endpoint)
      .then(() => entry.loader.loadMarkets(true))
      .then(() => {
        entry.version++;
        entry.loadedAt = Date.now();
        entry.stale = false;
        this.opts.logger.debug({ markets: entry.key.split('|')[0], count: entry.loader.symbols?.length ?? 0, ms: entry.loadedAt - started }, 'markets loaded');
      })
      .catch((err: unknown) => {
        entry.stale = true;
        throw err;
      })
      .finally(() => {
        entry.loading = null;
      });
    return entry.loading;
  }

  private refreshAll(): void {
    for (const entry of this.entries.values()) {
      if (entry.loadedAt !== null && entry.loading === null) this.refresh(entry);
    }
  }

  /** A reload in the background: snapshots keep using the previous markets meanwhile. */
  private refresh(entry: Entry): void {
    this.load(entry).catch((err: unknown) => {
      this.opts.logger.warn(
        { markets: entry.endpoint.split('|')[0], err: err instanceof Error ? err.constructor.name : 'error' },
        'market refresh failed; keeping the previous markets until the next try',
      );
    });
  }
}
