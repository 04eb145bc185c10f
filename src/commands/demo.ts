import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig, type Config } from '../config.js';
import { createPool } from '../events/db.js';
import { migrate } from '../events/migrate.js';
import { DEMO_ACCOUNTS, startEmulator } from '../emulator/index.js';
import type { Daemon } from '../daemon/daemon.js';
import { EXCHANGE_IDS } from '../exchanges/ids.js';
import { createLogger } from '../log.js';
import { intFlag, type Command } from './command.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { runUntilSignal } from './run.js';

const DEMO_DB = 'postgres://postgres@127.0.0.1:5432/exchange_sync_demo';
const DB_VARS = ['DATABASE_URL', 'DB_HOST', 'DB_PORT', 'DB_USER', 'DB_PASS', 'DB_NAME'];
/** Where `demo --embedded` keeps its PostgreSQL, under the working directory. */
const EMBEDDED_DIR = join('.exchange-sync', 'postgres');

/** Whether anything accepts connections on host:port (within a short bound). */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The embedded server when asked for, or when the user set no database at all and none runs on
 * the default local port. A database the user named is never replaced: if it cannot be reached,
 * that stays an error.
 */
async function wantsEmbedded(flag: boolean): Promise<boolean> {
  if (flag) return true;
  if (DB_VARS.some((v) => process.env[v])) return false;
  return !(await listening('127.0.0.1', 5432));
}

/** Creates the demo database when it does not exist yet (connecting to the server's "postgres" db). */
async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`).catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err; // created meanwhile by another demo
    });
  } finally {
    await client.end();
  }
}

/** Prints one line per event the relay publishes: what a downstream subscriber would see. */
async function showEvents(daemon: Daemon, prefix: string): Promise<void> {
  // NATS may come up later (the daemon retries and says so once); unref'd, this wait never keeps
  // the process from exiting.
  while (!daemon.nats) await new Promise((r) => setTimeout(r, 500).unref());
  const nc = daemon.nats;
  const sub = nc.subscribe(`${prefix}.evt.>`);
  for await (const m of sub) {
    try {
      const e = m.json<{ globalPosition: number; type: string; stream: string }>();
      process.stderr.write(`event #${e.globalPosition}  ${m.subject}\n`);
    } catch {
      process.stderr.write(`event  ${m.subject} (compressed)\n`);
    }
  }
}

export const demo: Command = {
  name: 'demo',
  help: `Usage: exchange-sync demo [--embedded] [--port N] [--http-port N]

Starts the exchange emulator (one bybit, one binance and one okx demo account whose prices drift) and
the daemon syncing them every minute, against the local PostgreSQL and NATS. Creates its
database (DATABASE_URL, default ${DEMO_DB}) and applies the schema if needed.
Without NATS it syncs and records all the same, and relays once NATS is there.
Prints where to look; Ctrl-C stops both.

Options:
  --embedded      run a PostgreSQL of its own (the embedded-postgres package), data in
                  ./${EMBEDDED_DIR}, stopped on exit. Chosen by itself when no DATABASE_URL
                  or DB_* variable is set and nothing listens on 127.0.0.1:5432.
  --port N        emulator port (default 9480; 0 picks a free one)
  --http-port N   health/metrics port (default EXCHANGE_SYNC_HTTP_PORT or 9464)`,
  options: { embedded: { type: 'boolean' }, port: { type: 'string' }, 'http-port': { type: 'string' } },
  async run(values) {
    const port = intFlag(values, 'port', 0, 65535) ?? 9480;
    const httpPort = intFlag(values, 'http-port', 0, 65535);
    let embedded: EmbeddedPostgres | undefined;
    if (await wantsEmbedded(values.embedded === true)) {
      process.stderr.write(`starting an embedded PostgreSQL, data in ${join(process.cwd(), EMBEDDED_DIR)} ...\n`);
      embedded = await startEmbeddedPostgres(EMBEDDED_DIR, 'exchange_sync_demo');
    }
    try {
      return await runDemo(port, httpPort, embedded);
    } finally {
      if (embedded) {
        await embedded.stop().catch((err: unknown) => process.stderr.write(`embedded PostgreSQL did not stop cleanly: ${String(err)}\n`));
        process.stderr.write(`embedded PostgreSQL stopped (data kept in ${embedded.dataDir})\n`);
      }
    }
  },
};

async function runDemo(port: number, httpPort: number | undefined, embedded: EmbeddedPostgres | undefined): Promise<number> {
  // The demo accounts trade now and then, so fills arrive in the log while it runs.
  const emulator = await startEmulator({ port, tradeEveryMs: 20_000 });
  const databaseUrl = embedded?.url ?? (process.env.DATABASE_URL || DEMO_DB);
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    EXCHANGE_SYNC_INTERVAL_MINUTES: '1',
    EXCHANGE_SYNC_EXCHANGES: 'bybit,binance,okx',
    EXCHANGE_SYNC_ACCOUNTS_FILE: '',
    BYBIT_API_KEY: DEMO_ACCOUNTS.bybit.apiKey,
    BYBIT_API_SECRET: DEMO_ACCOUNTS.bybit.secret,
    BYBIT_API_URL: emulator.url,
    BINANCE_API_KEY: DEMO_ACCOUNTS.binance.apiKey,
    BINANCE_API_SECRET: DEMO_ACCOUNTS.binance.secret,
    BINANCE_API_URL: emulator.url,
    OKX_API_KEY: DEMO_ACCOUNTS.okx.apiKey,
    OKX_API_SECRET: DEMO_ACCOUNTS.okx.secret,
    OKX_PASSWORD: DEMO_ACCOUNTS.okx.passphrase,
    OKX_API_URL: emulator.url,
    ...(httpPort !== undefined ? { EXCHANGE_SYNC_HTTP_PORT: String(httpPort) } : {}),
    // The HTTP API is on in the demo, with a token made up for this run (unless one is set).
    EXCHANGE_SYNC_HTTP_TOKEN: process.env.EXCHANGE_SYNC_HTTP_TOKEN || `demo-${randomBytes(12).toString('hex')}`,
  };
  // Printed below only when it is the demo's own.
  const demoToken = process.env.EXCHANGE_SYNC_HTTP_TOKEN ? '<EXCHANGE_SYNC_HTTP_TOKEN>' : env.EXCHANGE_SYNC_HTTP_TOKEN;
  let config: Config;
  try {
    config = loadConfig(env, { exchangeIds: EXCHANGE_IDS });
    await ensureDatabase(databaseUrl);
    const pool = createPool(databaseUrl, { max: 1 });
    await migrate(pool).finally(() => pool.end());
  } catch (err) {
    await emulator.close();
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, dir: config.logDir });
  const prefix = config.nats.prefix;
  const safeDb = new URL(databaseUrl);
  if (!embedded) safeDb.password = ''; // the embedded server's is a local demo password, needed to connect
  try {
    return await runUntilSignal(config, logger, (daemon) => {
      process.stderr.write(`
exchange-sync demo is running
emulator      ${emulator.url}  (state: ${emulator.url}/_emulator/state)
database      ${safeDb.toString()}${embedded ? `  (embedded, data in ${embedded.dataDir})` : ''}
              psql "${safeDb.toString()}" -c 'SELECT * FROM exchange_sync.balances'
              npx exchange-sync balances   /   npx exchange-sync portfolio   (with DATABASE_URL=${safeDb.toString()})
events        subject ${prefix}.evt.>  on ${config.nats.url}, JetStream stream ${config.nats.stream}
              nats sub '${prefix}.evt.>'   or   npx exchange-sync events --follow
commands      nats req ${prefix}.cmd.sync '{"wait":true}'   /   nats req ${prefix}.cmd.status ''
health        ${daemon.httpUrl ?? '(http off)'}/readyz   metrics ${daemon.httpUrl ?? ''}/metrics
portfolio     curl -H 'Authorization: Bearer ${demoToken}' ${daemon.httpUrl ?? ''}/v1/portfolio
Syncs every minute; prices drift in the emulator, so each sync records a new snapshot. Ctrl-C stops.
Events arriving on NATS are shown below as they are published.

`);
      void showEvents(daemon, prefix);
    });
  } finally {
    await emulator.close();
  }
}
