import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { ConfigError, loadConfig, redactConfig } from '../src/config.js';
import { EXCHANGE_IDS } from '../src/exchanges/ids.js';
import { createLogger } from '../src/log.js';

const run = promisify(execFile);

test('defaults are the old module\'s', () => {
  const c = loadConfig({});
  assert.equal(c.database.connectionString, 'postgres://testuser:testpassword@localhost:5432/alphapulse');
  assert.equal(c.intervalMinutes, 30);
  assert.equal(c.syncEnabled, true);
  assert.deepEqual(c.exchanges, ['bybit']);
  assert.equal(c.logLevel, 'info');
  assert.equal(c.logDir, 'logs');
  assert.equal(c.nats.url, 'nats://127.0.0.1:4222');
  assert.equal(c.nats.prefix, 'exchange_sync');
  assert.equal(c.nats.stream, 'EXCHANGE_SYNC');
  assert.deepEqual(c.accounts, []);
  assert.match(c.warnings.join('\n'), /BYBIT_API_KEY is not set/);
});

test('old names parse as the old module read them', () => {
  const c = loadConfig({
    EXCHANGE_SYNC_EXCHANGES: ' Bybit , binance ,',
    EXCHANGE_SYNC_LOG_LEVEL: 'warning',
    EXCHANGE_SYNC_ENABLED: 'FALSE',
    EXCHANGE_SYNC_INTERVAL_MINUTES: '5',
    BYBIT_API_KEY: 'k1',
    BYBIT_API_SECRET: 's1',
    BINANCE_API_KEY: 'k2',
    BINANCE_API_SECRET: 's2',
    BINANCE_TESTNET: 'true',
    BINANCE_API_URL: 'http://127.0.0.1:9480',
  });
  assert.deepEqual(c.exchanges, ['bybit', 'binance']);
  assert.equal(c.logLevel, 'warn');
  assert.equal(c.syncEnabled, false);
  assert.equal(c.intervalMinutes, 5);
  assert.deepEqual(
    c.accounts.map((a) => [a.exchange, a.account, a.testnet, a.apiUrl ?? null]),
    [
      ['bybit', 'default', false, null],
      ['binance', 'default', true, 'http://127.0.0.1:9480'],
    ],
  );
});

test('every bad variable is reported at once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'es-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'accounts.json');
  await writeFile(file, JSON.stringify([{ name: 'has space', exchange: 'bybit' }, { name: 'ok', exchange: 'nosuchexchange' }]));
  const env = {
    DB_PORT: 'five',
    EXCHANGE_SYNC_INTERVAL_MINUTES: '-1',
    EXCHANGE_SYNC_ENABLED: 'maybe',
    EXCHANGE_SYNC_EXCHANGES: 'bybit,notanexchange',
    EXCHANGE_SYNC_LOG_LEVEL: 'loud',
    EXCHANGE_SYNC_ACCOUNTS_FILE: file,
    NATS_TOKEN_FILE: join(dir, 'missing'),
    BYBIT_API_KEY: 'key-without-secret',
    EXCHANGE_SYNC_HISTORY_SINCE: 'yesterday',
    EXCHANGE_SYNC_HISTORY_WINDOWS: '0',
  };
  assert.throws(
    () => loadConfig(env, { exchangeIds: EXCHANGE_IDS }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      for (const name of [
        'DB_PORT',
        'EXCHANGE_SYNC_INTERVAL_MINUTES',
        'EXCHANGE_SYNC_ENABLED',
        'EXCHANGE_SYNC_EXCHANGES: unknown exchange "notanexchange"',
        'EXCHANGE_SYNC_LOG_LEVEL',
        '[0].name',
        '[1].exchange',
        'NATS_TOKEN_FILE',
        'BYBIT_API_SECRET',
        'EXCHANGE_SYNC_HISTORY_SINCE: expected a number of days (90) or an ISO date',
        'EXCHANGE_SYNC_HISTORY_WINDOWS',
      ]) {
        assert.ok(text.includes(name), `reports ${name}:\n${text}`);
      }
      return true;
    },
  );
  // The CLI prints them all on stderr and exits 2, without a stack trace.
  const err = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'migrate'], { env: { ...process.env, ...env } }).then(
    () => assert.fail('should exit non-zero'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 2);
  assert.match(err.stderr, /invalid configuration/);
  assert.match(err.stderr, /DB_PORT/);
  assert.match(err.stderr, /EXCHANGE_SYNC_LOG_LEVEL/);
  assert.doesNotMatch(err.stderr, /\n\s+at /);
});

test('exchange ids are checked against ccxt by the commands that sync; the ones that only read the database skip loading ccxt', async () => {
  const env = { ...process.env, EXCHANGE_SYNC_EXCHANGES: 'bybit,krakn', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', EXCHANGE_SYNC_LOG_DIR: '' };
  const sync = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'sync'], { env }).then(
    () => assert.fail('sync should refuse an unknown exchange'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(sync.code, 2);
  assert.match(sync.stderr, /EXCHANGE_SYNC_EXCHANGES: unknown exchange "krakn" \(not a ccxt exchange id\)/);
  // `events` gets past the configuration (and fails later, on the unreachable database: exit 1).
  const events = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'events'], { env }).then(
    () => assert.fail('no database there'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(events.code, 1, events.stderr);
  assert.doesNotMatch(events.stderr, /invalid configuration/);
  // Ids that cannot be ccxt ids at all are refused by every command.
  assert.throws(() => loadConfig({ EXCHANGE_SYNC_EXCHANGES: 'by-bit' }), /EXCHANGE_SYNC_EXCHANGES: an exchange id is a ccxt id such as bybit/);
  // The library's loadConfig checks against ccxt by default.
  const lib = await import('../src/index.js');
  assert.throws(() => lib.loadConfig({ EXCHANGE_SYNC_EXCHANGES: 'krakn' }), /unknown exchange "krakn"/);
});

test('secrets from *_FILE variables, and never in the printed config', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'es-secret-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'secret'), 'file-secret-xyz\n');
  await writeFile(join(dir, 'dbpass'), 'db-pass-xyz\n');
  await writeFile(join(dir, 'token'), 'http-token-xyz-0123456789\n');
  const c = loadConfig({ BYBIT_API_KEY: 'key-xyz', BYBIT_API_SECRET_FILE: join(dir, 'secret'), DB_PASS_FILE: join(dir, 'dbpass'), EXCHANGE_SYNC_HTTP_TOKEN_FILE: join(dir, 'token') });
  assert.equal(c.accounts[0]!.secret, 'file-secret-xyz');
  assert.equal(c.httpToken, 'http-token-xyz-0123456789');
  assert.match(c.database.connectionString, /db-pass-xyz/);
  const printed = JSON.stringify(redactConfig(c));
  for (const secret of ['file-secret-xyz', 'db-pass-xyz', 'key-xyz', 'http-token-xyz']) assert.ok(!printed.includes(secret), `${secret} leaked`);
});

test('the logger writes JSON to a rolling file and censors secrets', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'es-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const c = loadConfig({ BYBIT_API_KEY: 'key-abc', BYBIT_API_SECRET: 'secret-abc', DB_PASS: 'pass-abc' });
  const logger = createLogger({ level: 'info', dir, pretty: false });
  logger.info({ config: c, account: c.accounts[0], connectionString: c.database.connectionString }, 'started');
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  // The transport writes from a worker thread; give it a moment to reach the file.
  let text = '';
  for (let i = 0; i < 50 && !text.includes('started'); i++) {
    await new Promise((r) => setTimeout(r, 100));
    const files = await readdir(dir);
    text = (await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')))).join('');
  }
  assert.match(text, /"msg":"started"/);
  for (const secret of ['key-abc', 'secret-abc', 'pass-abc']) assert.ok(!text.includes(secret), `${secret} leaked into the log file`);
  assert.match((await readdir(dir)).join(','), /exchange-sync\.\d+\.log/);
});

test('wallets switched off per account: accounts file "wallets" and <EX>_WALLETS_OFF; an unknown wallet is named', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'es-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'accounts.json');
  await writeFile(file, JSON.stringify([{ name: 'main', exchange: 'bybit', apiKey: 'k', secret: 's', wallets: { funding: false } }]));
  const c = loadConfig({ EXCHANGE_SYNC_ACCOUNTS_FILE: file, EXCHANGE_SYNC_EXCHANGES: 'binance', BINANCE_API_KEY: 'k', BINANCE_API_SECRET: 's', BINANCE_WALLETS_OFF: ' funding, delivery ' });
  assert.deepEqual(
    c.accounts.map((a) => [a.exchange, a.account, a.wallets]),
    [
      ['binance', 'default', { funding: false, delivery: false }],
      ['bybit', 'main', { funding: false }],
    ].sort(),
  );
  await writeFile(file, JSON.stringify([{ name: 'main', exchange: 'bybit', wallets: { fundng: false } }]));
  assert.throws(
    () => loadConfig({ EXCHANGE_SYNC_ACCOUNTS_FILE: file, BYBIT_WALLETS_OFF: 'spot,savings' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      assert.match(text, /BYBIT_WALLETS_OFF: unknown wallet "savings" \(known: spot, margin, unified/);
      assert.match(text, /\[0\]\.wallets/);
      return true;
    },
  );
});

test('history settings: days or an ISO date, windows per sync, or off', () => {
  assert.deepEqual(loadConfig({}).history, { since: { days: 90 }, maxWindows: 20 });
  assert.deepEqual(loadConfig({ EXCHANGE_SYNC_HISTORY_SINCE: '2026-01-01', EXCHANGE_SYNC_HISTORY_WINDOWS: '5' }).history, { since: { at: '2026-01-01T00:00:00.000Z' }, maxWindows: 5 });
  assert.equal(loadConfig({ EXCHANGE_SYNC_HISTORY: 'false' }).history, null);
});
