// Library API for embedding the daemon in another Node service (the old module's web-framework
// hook): build it from a Config, start it with the host's start-up, stop it with its shut-down.
import { loadConfig as loadConfigFrom, type Config, type LoadOptions } from './config.js';
import { Daemon } from './daemon/daemon.js';
import type { AccountFilter } from './events/streams.js';
import { EXCHANGE_IDS } from './exchanges/ids.js';
import type { SyncResult } from './daemon/sync.js';
import type { Portfolio, PortfolioQuery } from './portfolio/portfolio.js';
import { silentLogger, type Logger } from './log.js';

export { ConfigError, type Config, type Account, type LoadOptions } from './config.js';
export type { SyncResult } from './daemon/sync.js';
export { PortfolioQuery, UnknownAccountError, type Portfolio, type PortfolioHolding } from './portfolio/portfolio.js';
export type { Method as CostBasisMethod } from './cost-basis/book.js';
export type { AccountId, AccountFilter } from './events/streams.js';
/** @deprecated the same type as AccountFilter, kept for code written against 0.1. */
export type AccountSelector = AccountFilter;
export { migrate } from './events/migrate.js';
// For JetStream consumers: an envelope too big for the server's max_payload arrives gzipped.
export { decodePayload, CONTENT_ENCODING } from './daemon/relay-payload.js';
export { EnvelopeSchema, type Envelope } from './events/envelope.js';
export { createPool } from './events/db.js';
export type { Snapshot, Balance, Position, Wallet, MarginMode, EventType, EventData } from './events/catalog.js';
export { WALLETS } from './events/catalog.js';

export interface ExchangeSync {
  /** Waits for PostgreSQL, checks the schema, starts scheduling, projections, NATS and HTTP. */
  start(): Promise<void>;
  /** Stops taking commands, finishes in-flight syncs, drains NATS, closes the pool. */
  stop(): Promise<void>;
  /** Syncs the selected accounts now (all when the selector is empty); resolves when recorded. */
  sync(selector?: AccountFilter): Promise<SyncResult[]>;
  /**
   * Cost basis and PnL per holding by EXCHANGE_SYNC_COST_BASIS: now, or as the holdings projection
   * showed it at `at`. `account` is NAME or EXCHANGE:NAME; UnknownAccountError for one never recorded.
   */
  portfolio(query?: PortfolioQuery): Promise<Portfolio>;
}

/** The configuration from `env`; exchange ids are checked against ccxt unless `opts` says otherwise. */
export function loadConfig(env: Record<string, string | undefined> = process.env, opts: LoadOptions = { exchangeIds: EXCHANGE_IDS }): Config {
  return loadConfigFrom(env, opts);
}

export interface CreateOptions {
  logger?: Logger;
  shutdownTimeoutMs?: number;
}

/** `config` defaults to the environment, as the daemon reads it. */
export function createExchangeSync(config: Config = loadConfig(), opts: CreateOptions = {}): ExchangeSync {
  const daemon = new Daemon(config, { logger: opts.logger ?? silentLogger(), shutdownTimeoutMs: opts.shutdownTimeoutMs });
  return {
    start: () => daemon.start(),
    stop: () => daemon.stop(),
    sync: (selector = {}) => daemon.sync(selector, 'api'),
    portfolio: (query = {}) => daemon.portfolio(query),
  };
}
