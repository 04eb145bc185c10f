import { loadConfig, parseLogLevel, type Account } from '../config.js';
import { createPool } from '../events/db.js';
import { migrate } from '../events/migrate.js';
import { EventStore } from '../events/store.js';
import { accountStream } from '../events/streams.js';
import { createExchangeAccess } from '../exchanges/index.js';
import { EXCHANGE_IDS } from '../exchanges/ids.js';
import { createLogger, flushLogger } from '../log.js';
import { catchUpProjections } from '../projections/index.js';
import { SyncService, type SyncResult } from '../daemon/sync.js';
import { listFlag, stringFlag, UsageError, type Command } from './command.js';

export const sync: Command = {
  name: 'sync',
  help: `Usage: exchange-sync sync [--exchanges bybit,binance] [--accounts a,b] [--log-level debug]

Syncs each selected account once: fetches its balances, positions and prices, records the
snapshot in the event log, updates the balances/positions/sync_runs tables, and exits.
Applies pending migrations first.

Options:
  --exchanges LIST   exchanges to sync (overrides EXCHANGE_SYNC_EXCHANGES), comma separated
  --accounts LIST    account names (or exchange:name) to sync, comma separated; default all
  --log-level LEVEL  DEBUG, INFO, WARNING, ERROR (overrides EXCHANGE_SYNC_LOG_LEVEL)

Exit status: 0 every account synced, 1 any sync failed (each failure is named with its
reason), 2 usage or configuration error. Logs go to stderr and EXCHANGE_SYNC_LOG_DIR; the
per-account results go to stdout.`,
  options: {
    exchanges: { type: 'string' },
    accounts: { type: 'string' },
    'log-level': { type: 'string' },
  },
  async run(values) {
    const exchanges = listFlag(values, 'exchanges');
    const names = listFlag(values, 'accounts');
    const levelFlag = stringFlag(values, 'log-level');
    const level = levelFlag === undefined ? undefined : parseLogLevel(levelFlag);
    if (levelFlag !== undefined && !level) throw new UsageError(`--log-level: unknown level "${levelFlag}"`);
    if (exchanges?.length === 0) throw new UsageError('--exchanges needs at least one exchange');

    const config = loadConfig(exchanges ? { ...process.env, EXCHANGE_SYNC_EXCHANGES: exchanges.join(',') } : process.env, { exchangeIds: EXCHANGE_IDS });
    const accounts = selectAccounts(config.accounts, exchanges, names);
    const logger = createLogger({ level: level ?? config.logLevel, dir: config.logDir, destination: 2 });
    for (const w of config.warnings) logger.warn(w);
    if (accounts.length === 0) {
      await flushLogger(logger);
      throw new UsageError(
        'no accounts to sync: set <EXCHANGE>_API_KEY and <EXCHANGE>_API_SECRET for an exchange in EXCHANGE_SYNC_EXCHANGES, or list accounts in EXCHANGE_SYNC_ACCOUNTS_FILE',
      );
    }

    const pool = createPool(config.database.connectionString, { max: 12 });
    const access = createExchangeAccess(accounts, { logger });
    try {
      await migrate(pool);
      const store = new EventStore(pool);
      const service = new SyncService(store, access, logger, { history: config.history ?? undefined });
      const results = await Promise.allSettled(accounts.map((a) => service.sync(a, 'cli')));
      await catchUpProjections(store, logger);
      let failed = 0;
      for (const [i, r] of results.entries()) {
        const a = accounts[i]!;
        const line = describe(accountStream(a), r);
        if (r.status === 'rejected' || r.value.status === 'failed') failed++;
        process.stdout.write(`${line}\n`);
      }
      process.stdout.write(`${accounts.length - failed} of ${accounts.length} accounts synced\n`);
      return failed ? 1 : 0;
    } finally {
      await access.close();
      await pool.end();
      await flushLogger(logger);
    }
  },
};

function selectAccounts(all: Account[], exchanges: string[] | undefined, names: string[] | undefined): Account[] {
  let selected = exchanges ? all.filter((a) => exchanges.includes(a.exchange)) : all;
  if (names) {
    const named = (a: Account, n: string) => a.account === n || accountStream(a) === n;
    const unknown = names.filter((n) => !selected.some((a) => named(a, n)));
    if (unknown.length) throw new UsageError(`--accounts: no configured account named ${unknown.join(', ')}`);
    selected = selected.filter((a) => names.some((n) => named(a, n)));
  }
  return selected;
}

function describe(id: string, r: PromiseSettledResult<SyncResult>): string {
  if (r.status === 'rejected') return `${id}  FAILED  could not record the sync: ${(r.reason as Error).message}`;
  const v = r.value;
  if (v.status === 'failed') return `${id}  FAILED  ${v.errorClass}: ${v.message}`;
  const h = v.history;
  const history = !h ? '' : h.errorClass ? `  history not fetched: ${h.errorClass}: ${h.message}` : `  ${h.trades} new fill${h.trades === 1 ? '' : 's'}, ${h.transfers} new transfer${h.transfers === 1 ? '' : 's'}`;
  return `${id}  ok  ${v.changed ? 'changed' : 'unchanged'}${history}  (event ${v.globalPosition})`;
}
