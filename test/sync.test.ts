import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Account } from '../src/config.js';
import { SyncService } from '../src/daemon/sync.js';
import { EventStore } from '../src/events/store.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { createExchangeAccess, type ExchangeAccess } from '../src/exchanges/index.js';
import { silentLogger } from '../src/log.js';
import { catchUpProjections, rebuild } from '../src/projections/index.js';
import { createTestDb, type TestDb } from './support/db.js';

const run = promisify(execFile);
let db: TestDb;
let emu: Emulator;
let store: EventStore;
let access: ExchangeAccess;
let service: SyncService;

const account = (exchange: 'bybit' | 'binance', name: string, apiKey = `${name}-key`, secret = `${name}-secret`): Account => ({
  account: name,
  exchange,
  apiKey,
  secret,
  testnet: false,
  options: {},
  apiUrl: emu.url,
});
let accounts: Record<string, Account>;

before(async () => {
  db = await createTestDb();
  emu = await startEmulator({ port: 0 });
  emu.freezePrices(true);
  emu.setAccount({
    exchange: 'bybit',
    apiKey: 'alpha-key',
    secret: 'alpha-secret',
    balances: { BTC: { free: '1.25', used: '0.000000000000000001' }, ETH: { free: '3.123456789012345678', used: '0' }, USDT: { free: '1000', used: '50' } },
    positions: [{ symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.01', entryPrice: '60000', leverage: '10', marginMode: 'cross' }],
  });
  emu.setAccount({ exchange: 'binance', apiKey: 'beta-key', secret: 'beta-secret', balances: { BTC: { free: '0.5', used: '0' }, USDT: { free: '10', used: '0' } } });
  emu.setAccount({ exchange: 'bybit', apiKey: 'gamma-key', secret: 'gamma-secret', balances: { USDT: { free: '5', used: '0' } } });
  accounts = {
    alpha: account('bybit', 'alpha'),
    beta: account('binance', 'beta'),
    gamma: account('bybit', 'gamma'),
    wrongkey: account('bybit', 'wrongkey', 'no-such-key', 'x'),
  };
  store = new EventStore(db.pool);
  access = createExchangeAccess(Object.values(accounts), { retryBaseMs: 5, retryMaxMs: 20, maxAttempts: 3, timeoutMs: 2000 });
  service = new SyncService(store, access, silentLogger());
});
after(async () => {
  await access.close();
  await emu.close();
  await db.drop();
});

async function balances(name: string) {
  const { rows } = await db.pool.query(
    `SELECT asset, free::text, used::text, total::text, price::text, value::text FROM exchange_sync.balances WHERE account = $1 ORDER BY asset`,
    [name],
  );
  return rows;
}

function emulatorBalances(exchange: 'bybit' | 'binance', apiKey: string) {
  const view = emu.account(exchange, apiKey);
  return Object.entries(view.balances)
    .map(([asset, b]) => ({ asset, free: b.free, used: b.used, total: b.total }))
    .filter((b) => b.total !== '0')
    .sort((a, b) => (a.asset < b.asset ? -1 : 1));
}

const numeric = (s: string | null) => (s === null ? null : s.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, ''));

describe('sync -> events -> projections', () => {
  test('balances and positions equal the emulator state exactly, 18 decimals included', async () => {
    const result = await service.sync(accounts.alpha!, 'cli');
    assert.equal(result.status, 'ok');
    assert.equal(result.changed, true);
    await catchUpProjections(store);

    const rows = await balances('alpha');
    const expected = emulatorBalances('bybit', 'alpha-key');
    assert.deepEqual(
      rows.map((r) => ({ asset: r.asset, free: numeric(r.free), used: numeric(r.used), total: numeric(r.total) })),
      expected,
    );
    const btc = rows.find((r) => r.asset === 'BTC')!;
    assert.equal(numeric(btc.total), '1.250000000000000001');
    assert.equal(numeric(btc.price), emu.price('bybit', 'BTC/USDT'));
    // value is total x price, exactly
    const [whole, frac = ''] = '1.250000000000000001'.split('.');
    const scaled = BigInt(whole! + frac) * BigInt(emu.price('bybit', 'BTC/USDT').replace('.', ''));
    const priceDecimals = (emu.price('bybit', 'BTC/USDT').split('.')[1] ?? '').length;
    const digits = scaled.toString().padStart(frac.length + priceDecimals + 1, '0');
    const point = digits.length - frac.length - priceDecimals;
    assert.equal(numeric(btc.value), numeric(`${digits.slice(0, point)}.${digits.slice(point)}`));

    const { rows: pos } = await db.pool.query(`SELECT symbol, side, contracts::text, entry_price::text, mark_price::text FROM exchange_sync.positions WHERE account = 'alpha'`);
    const view = emu.account('bybit', 'alpha-key').positions;
    assert.equal(pos.length, view.length);
    assert.equal(pos[0].symbol, 'BTC/USDT:USDT');
    assert.equal(pos[0].side, 'long');
    assert.equal(numeric(pos[0].contracts), '0.01');
    assert.equal(numeric(pos[0].mark_price), view[0]!.markPrice);

    // The sync_runs row says what the sync_completed event says.
    const completed = (await store.readStream('bybit:alpha')).filter((e) => e.type === 'sync_completed').at(-1)!;
    const d = completed.data as Record<string, unknown>;
    const { rows: runs } = await db.pool.query(
      `SELECT exchange, account, status, changed, trigger, started_at, finished_at, attempts, balances, positions, fetch_ms, error_class, event_position
       FROM exchange_sync.sync_runs WHERE sync_id = $1`,
      [result.syncId],
    );
    assert.deepEqual(runs, [
      {
        exchange: 'bybit',
        account: 'alpha',
        status: 'ok',
        changed: true,
        trigger: 'cli',
        started_at: new Date(d.startedAt as string),
        finished_at: new Date(d.finishedAt as string),
        attempts: 1,
        balances: expected.length,
        positions: view.length,
        fetch_ms: d.fetchMs,
        error_class: null,
        event_position: String(completed.globalPosition),
      },
    ]);
    assert.equal(completed.globalPosition, result.globalPosition);
  });

  test('a second sync with nothing changed records only the small events', async () => {
    const before = await store.streamPosition('bybit:alpha');
    const result = await service.sync(accounts.alpha!, 'schedule');
    assert.equal(result.changed, false);
    const events = await store.readStream('bybit:alpha', { fromPosition: before + 1 });
    assert.deepEqual(
      events.map((e) => e.type),
      ['snapshot_unchanged', 'sync_completed'],
    );
    const size = (await db.pool.query<{ n: number }>(`SELECT max(pg_column_size(data))::int AS n FROM exchange_sync.events WHERE stream_id = 'bybit:alpha' AND type = 'snapshot_unchanged'`)).rows[0]!.n;
    assert.ok(size < 400, `unchanged snapshot stays small (${size} bytes)`);
    await catchUpProjections(store);
    const { rows } = await db.pool.query(`SELECT DISTINCT as_of FROM exchange_sync.balances WHERE account = 'alpha'`);
    assert.equal(rows.length, 1);
    const unchanged = events[0]!.data as { fetchedAt: string };
    assert.equal((rows[0].as_of as Date).toISOString(), new Date(unchanged.fetchedAt).toISOString(), 'as_of follows the newest observation');
  });

  test('an asset sold to zero and a closed position leave the tables', async () => {
    emu.setAccount({ exchange: 'bybit', apiKey: 'alpha-key', secret: 'alpha-secret', balances: { ETH: { free: '3.123456789012345678', used: '0' }, USDT: { free: '61000', used: '0' }, BTC: { free: '0', used: '0' } } });
    const result = await service.sync(accounts.alpha!, 'cli');
    assert.equal(result.changed, true);
    await catchUpProjections(store);
    assert.deepEqual(
      (await balances('alpha')).map((r) => r.asset),
      ['ETH', 'USDT'],
    );
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM exchange_sync.positions WHERE account = 'alpha'`);
    assert.equal(rows[0].n, 0);
  });

  for (const [kind, errorClass, fault] of [
    ['auth', 'auth', undefined],
    ['rate limit', 'rate_limit', { kind: 'rate_limit' as const }],
    ['5xx', 'exchange_down', { kind: 'http_5xx' as const, status: 503 }],
    ['malformed body', 'bad_response', { kind: 'malformed' as const }],
    ['clock skew', 'nonce', { kind: 'clock_skew' as const, ms: 120_000 }],
    ['timeout', 'timeout', { kind: 'hang' as const }],
  ] as const) {
    test(`a sync failing with ${kind} records sync_failed (${errorClass}) and leaves the balances as they were`, { timeout: 30_000 }, async (t) => {
      const target = kind === 'auth' ? accounts.wrongkey! : accounts.gamma!;
      if (kind !== 'auth') {
        await service.sync(target, 'cli');
        await catchUpProjections(store);
      }
      const before = await balances(target.account);
      if (fault) emu.injectFault({ exchange: 'bybit', apiKey: 'gamma-key', ...fault });
      t.after(() => emu.clearFaults());
      const result = await service.sync(target, 'command');
      emu.clearFaults();
      assert.equal(result.status, 'failed');
      if (kind === 'timeout' || kind === 'malformed body' || kind === 'clock skew') {
        // These may be reported as a neighbouring class by ccxt; the class must still be one of the retryable ones.
        assert.ok(['timeout', 'network', 'bad_response', 'nonce', 'exchange_down'].includes(result.errorClass!), `class ${result.errorClass}`);
      } else {
        assert.equal(result.errorClass, errorClass);
      }
      await catchUpProjections(store);
      assert.deepEqual(await balances(target.account), before);
      const { rows } = await db.pool.query(`SELECT status, error_class, error_message FROM exchange_sync.sync_runs WHERE sync_id = $1`, [result.syncId]);
      assert.equal(rows[0].status, 'failed');
      assert.equal(rows[0].error_class, result.errorClass);
      assert.ok(rows[0].error_message.length > 0);
      const last = (await store.readStream(`bybit:${target.account}`)).at(-1)!;
      assert.equal(last.type, 'sync_failed');
    });
  }

  test('concurrent syncs of one account in one process join the running one', async () => {
    const [a, b] = await Promise.all([service.sync(accounts.beta!, 'cli'), service.sync(accounts.beta!, 'command')]);
    assert.equal(a.syncId, b.syncId);
  });
});

describe('rebuild', () => {
  async function dump() {
    const tables: Record<string, unknown[]> = {};
    for (const t of ['balances', 'positions', 'sync_runs']) {
      const { rows } = await db.pool.query(`SELECT * FROM exchange_sync.${t} ORDER BY 1, 2, 3`);
      tables[t] = rows;
    }
    return tables;
  }

  test('rebuild produces exactly the live tables', async () => {
    await catchUpProjections(store);
    const live = await dump();
    const result = await rebuild(store, { batchSize: 7 });
    assert.ok(result.events > 0);
    assert.deepEqual(await dump(), live);
    // The swapped-in tables keep their index names, so the next rebuild works the same.
    const { rows } = await db.pool.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'exchange_sync' AND indexname LIKE '%rebuild%'`);
    assert.deepEqual(rows, []);
    await rebuild(store, { projections: ['balances'] });
    assert.deepEqual(await dump(), live);
  });

  test('rebuilding one projection brings the others to the same point of the log', async () => {
    await catchUpProjections(store);
    // Recorded, not yet projected: the live tables are behind.
    const results = [await service.sync(accounts.alpha!, 'command'), await service.sync(accounts.gamma!, 'command')];
    await rebuild(store, { projections: ['balances'], batchSize: 2 });
    const { rows } = await db.pool.query('SELECT sync_id FROM exchange_sync.sync_runs WHERE sync_id = ANY($1::uuid[])', [results.map((r) => r.syncId)]);
    assert.equal(rows.length, 2, 'sync_runs (not rebuilt) caught up to the rebuild');
    const before = await dump();
    await rebuild(store);
    assert.deepEqual(await dump(), before);
  });

  test('syncs landing during a rebuild are not lost', async () => {
    emu.freezePrices(false);
    const syncing = (async () => {
      const results = [];
      for (let i = 0; i < 6; i++) results.push(await service.sync([accounts.alpha!, accounts.beta!, accounts.gamma!][i % 3]!, 'schedule'));
      return results;
    })();
    await rebuild(store, { batchSize: 3 });
    const results = await syncing;
    emu.freezePrices(true);
    await catchUpProjections(store);
    const live = await dump();
    const ids = new Set((live.sync_runs as { sync_id: string }[]).map((r) => r.sync_id));
    for (const r of results) assert.ok(ids.has(r.syncId), `sync ${r.syncId} is in sync_runs`);
    await rebuild(store);
    assert.deepEqual(await dump(), live);
  });
});

describe('the runner and two processes', () => {
  const env = () => ({
    ...process.env,
    DATABASE_URL: db.url,
    EXCHANGE_SYNC_EXCHANGES: 'bybit,binance',
    BYBIT_API_KEY: 'alpha-key',
    BYBIT_API_SECRET: 'alpha-secret',
    BYBIT_API_URL: emu.url,
    BINANCE_API_KEY: 'beta-key',
    BINANCE_API_SECRET: 'beta-secret',
    BINANCE_API_URL: emu.url,
    EXCHANGE_SYNC_LOG_DIR: '',
    EXCHANGE_SYNC_LOG_LEVEL: 'error',
  });
  const cli = (args: string[], extra: Record<string, string> = {}) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...env(), ...extra } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  test('exit 0 when all succeed, 1 naming the failure, 2 on usage or config errors', async () => {
    const ok = await cli(['sync']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /bybit:default\s+ok/);
    assert.match(ok.stdout, /binance:default\s+ok/);

    const failed = await cli(['sync'], { BINANCE_API_SECRET: 'wrong-secret' });
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /binance:default\s+FAILED\s+auth: /);
    assert.match(failed.stdout, /bybit:default\s+ok/);
    assert.ok(!failed.stdout.includes('wrong-secret') && !failed.stderr.includes('wrong-secret'));

    const onlyBybit = await cli(['sync', '--exchanges', 'bybit']);
    assert.equal(onlyBybit.code, 0);
    assert.doesNotMatch(onlyBybit.stdout, /binance/);

    for (const args of [['sync', '--accounts', 'nobody'], ['sync', '--bogus'], ['sync', '--log-level', 'loud']]) {
      const r = await cli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    const config = await cli(['sync'], { EXCHANGE_SYNC_INTERVAL_MINUTES: 'soon' });
    assert.equal(config.code, 2);
    assert.match(config.stderr, /EXCHANGE_SYNC_INTERVAL_MINUTES/);
  });

  test('two processes syncing one account at once are serialized, never interleaved', async () => {
    emu.injectFault({ exchange: 'bybit', apiKey: 'alpha-key', kind: 'latency', ms: 400 });
    const before = await store.streamPosition('bybit:default');
    const procs = [0, 1].map(() =>
      spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'sync', '--exchanges', 'bybit'], { env: env(), stdio: 'ignore' }),
    );
    const codes = await Promise.all(procs.map(async (p) => (await once(p, 'exit'))[0]));
    emu.clearFaults();
    assert.deepEqual(codes, [0, 0]);
    const events = await store.readStream('bybit:default', { fromPosition: before + 1 });
    // Each sync's events are adjacent: snapshot then completion of the same sync id.
    assert.equal(events.length, 4);
    const ids = events.map((e) => (e.data as { syncId: string }).syncId);
    assert.equal(ids[0], ids[1]);
    assert.equal(ids[2], ids[3]);
    assert.notEqual(ids[0], ids[2]);
    const runs = await db.pool.query(`SELECT started_at, finished_at FROM exchange_sync.sync_runs WHERE sync_id = ANY($1::uuid[]) ORDER BY started_at`, [[ids[0], ids[2]]]);
    assert.ok(runs.rows[1].started_at >= runs.rows[0].finished_at, 'the second sync started after the first finished');
  });
});
