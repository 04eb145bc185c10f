// The holdings projection and the portfolio over the real parts: fills from the emulator through
// ccxt and the sync into PostgreSQL, facts recorded out of time order, a transfer between two
// accounts, --at against what the live table said, rebuild, and the four ways in (library, CLI,
// NATS cmd.portfolio, HTTP GET /v1/portfolio) giving one answer.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Account } from '../src/config.js';
import { loadConfig } from '../src/config.js';
import { inFoldOrder, place, factsOf, type PlacedFact } from '../src/cost-basis/facts.js';
import { holdingFigures } from '../src/cost-basis/figures.js';
import { Ledger } from '../src/cost-basis/ledger.js';
import { Daemon } from '../src/daemon/daemon.js';
import { SyncService } from '../src/daemon/sync.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import type { Snapshot, Trade, Transfer } from '../src/events/catalog.js';
import { EventStore, START, type NewEvent } from '../src/events/store.js';
import { accountStream, type AccountId } from '../src/events/streams.js';
import { toCurrent } from '../src/events/typed-events.js';
import { createExchangeAccess } from '../src/exchanges/index.js';
import { silentLogger } from '../src/log.js';
import { readPortfolio } from '../src/portfolio/portfolio.js';
import { catchUpProjections, holdings, projectionAt, projectionNow, rebuild, type HoldingRow } from '../src/projections/index.js';
import { createTestDb, type TestDb } from './support/db.js';

const run = promisify(execFile);
const DAY = 86_400_000;
let db: TestDb;
let store: EventStore;
let emu: Emulator;

before(async () => {
  db = await createTestDb();
  store = new EventStore(db.pool);
  emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0 });
  emu.freezePrices(true);
});
after(async () => {
  await emu.close();
  await db.drop();
});

async function dbNow(): Promise<string> {
  const { rows } = await db.pool.query<{ t: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`);
  return rows[0]!.t;
}

const row = (rows: HoldingRow[], asset: string, method = 'average') => rows.find((r) => r.asset === asset && r.method === method);

describe('fills from the exchange', () => {
  test('a backfilled fill explains the first snapshot; later fills move entry price and realized PnL exactly', async () => {
    const apiKey = `hold-${randomBytes(3).toString('hex')}`;
    emu.setAccount({ exchange: 'bybit', apiKey, secret: 's', balances: { USDT: { free: '100000', used: '0' } }, positions: [] });
    const a: Account = { account: 'fills', exchange: 'bybit', apiKey, secret: 's', testnet: false, apiUrl: emu.url, options: {} };
    const noFee = { cost: '0' };
    // Made two days before the daemon first looks at the account.
    emu.trade('bybit', apiKey, { symbol: 'BTC/USDT', side: 'buy', amount: '0.5', price: '60000', at: Date.now() - 2 * DAY, fee: noFee });
    const access = createExchangeAccess([a], { retryBaseMs: 5, retryMaxMs: 10, maxAttempts: 2 });
    const service = new SyncService(store, access, silentLogger(), { history: { since: { days: 30 }, maxWindows: 20 } });
    const filter = { exchange: 'bybit', account: 'fills' };
    try {
      assert.equal((await service.sync(a, 'cli')).status, 'ok');
      await catchUpProjections(store);
      let rows = await projectionNow(db.pool, holdings, filter);
      // The history explains every BTC: no opening lot, entry = the fill's price.
      assert.deepEqual(
        [row(rows, 'BTC')?.quantity, row(rows, 'BTC')?.entryPrice, row(rows, 'BTC')?.unknownCostQuantity, row(rows, 'BTC')?.drift],
        ['0.5', '60000', '0', '0'],
      );
      emu.trade('bybit', apiKey, { symbol: 'BTC/USDT', side: 'buy', amount: '0.5', price: '62000', fee: noFee });
      emu.trade('bybit', apiKey, { symbol: 'BTC/USDT', side: 'sell', amount: '0.25', price: '64000', fee: { currency: 'USDT', cost: '16' } });
      assert.equal((await service.sync(a, 'cli')).status, 'ok');
      await catchUpProjections(store);
      rows = await projectionNow(db.pool, holdings, filter);
      // average: 1 BTC for 61000; 0.25 leave at 15250 for 16000 - 16 = 15984.
      assert.deepEqual(
        [row(rows, 'BTC')?.quantity, row(rows, 'BTC')?.entryPrice, row(rows, 'BTC')?.realizedPnl, row(rows, 'BTC')?.drift],
        ['0.75', '61000', '734', '0'],
      );
      // fifo: the 0.25 leave the 60000 lot.
      assert.deepEqual([row(rows, 'BTC', 'fifo')?.entryPrice, row(rows, 'BTC', 'fifo')?.realizedPnl], ['61333.333333333333333333333333333', '984']);
      const usdt = row(rows, 'USDT')!;
      // The snapshot's USDT is what the fills left: 100000 - 30000 - 31000 + 15984.
      assert.equal(usdt.quantity, '54984');
    } finally {
      await access.close();
    }
  });
});

// --- events appended as syncs record them, out of time order --------------------------------

const T0 = Date.UTC(2026, 2, 1);
const iso = (ms: number) => new Date(ms).toISOString();
const hash = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');

function snapshotEvent(id: AccountId, ms: number, totals: Record<string, string>, prices: Record<string, string>): NewEvent {
  const snapshot: Snapshot = {
    exchange: id.exchange,
    account: id.account,
    quote: 'USDT',
    wallets: ['unified'],
    balances: Object.entries(totals)
      .sort()
      .map(([asset, total]) => ({ wallet: 'unified' as const, asset, free: total, used: '0', total })),
    positions: [],
    prices,
    fetchedAt: iso(ms),
    exchangeTime: null,
  };
  return { type: 'snapshot_recorded', data: { syncId: randomUUID(), contentHash: hash(snapshot), snapshot } };
}

let tradeSeq = 0;
function tradesEvent(trades: Partial<Trade>[]): NewEvent {
  return {
    type: 'trades_recorded',
    data: {
      syncId: randomUUID(),
      coverage: {},
      trades: trades.map((t) => ({
        id: `t${++tradeSeq}`,
        orderId: null,
        symbol: 'BTC/USDT',
        marketType: 'spot',
        side: 'buy',
        amount: '0.1',
        price: '50000',
        cost: '5000',
        fees: [],
        takerOrMaker: 'taker',
        timestamp: iso(T0),
        realizedPnl: null,
        ...t,
      })),
    },
  };
}

function transfersEvent(transfers: (Partial<Transfer> & { previousStatus?: Transfer['status'] | null })[]): NewEvent {
  return {
    type: 'transfers_recorded',
    data: {
      syncId: randomUUID(),
      coverage: {},
      transfers: transfers.map((t) => ({
        id: randomUUID(),
        type: 'deposit',
        currency: 'BTC',
        amount: '1',
        fee: null,
        status: 'ok',
        network: null,
        txid: null,
        timestamp: iso(T0),
        previousStatus: null,
        ...t,
      })),
    },
  };
}

/** The holdings straight from a fold of every fact of the log: what the projection must equal. */
async function foldedFromLog(): Promise<Record<string, unknown>[]> {
  const events = await store.readSelected(START, 100_000, { select: [holdings.selector] });
  const byStream = new Map<string, PlacedFact[]>();
  for (const e of events.events) {
    const c = toCurrent(e) as Parameters<typeof factsOf>[0];
    const list = byStream.get(e.streamId) ?? [];
    factsOf(c).forEach((f, i) => list.push(place(f, e.globalPosition, i)));
    byStream.set(e.streamId, list);
  }
  const out: Record<string, unknown>[] = [];
  for (const [stream, placed] of byStream) {
    const l = new Ledger('USDT');
    l.fold(inFoldOrder(placed), () => undefined);
    const [exchange, account] = stream.split(':');
    out.push(...holdingFigures(l).map((f) => ({ exchange, account, ...f })));
  }
  return out;
}

const sortRows = (rows: object[]) => rows.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();

describe('facts out of time order', () => {
  const A: AccountId = { exchange: 'bybit', account: 'late' };
  const B: AccountId = { exchange: 'binance', account: 'late' };
  const moments: { at: string; rows: HoldingRow[] }[] = [];

  before(async () => {
    // Appends as syncs make them, each followed by the live projection, and the moment after.
    const steps: [AccountId, NewEvent[]][] = [
      // First sync of A: a snapshot holding 0.3 BTC, and the backfill of two buys made before it.
      [A, [snapshotEvent(A, T0 + 10 * 3600e3, { USDT: '1000', BTC: '0.3' }, { BTC: '60000' }), tradesEvent([{ timestamp: iso(T0 + 3600e3), price: '50000', cost: '5000' }])]],
      [B, [snapshotEvent(B, T0 + 10 * 3600e3, { USDT: '500', ETH: '2' }, { ETH: '3000' })]],
      // A's next backfill step finds an older buy still: the fold is redone from the first fact.
      [A, [snapshotEvent(A, T0 + 11 * 3600e3, { USDT: '1000', BTC: '0.3' }, { BTC: '61000' }), tradesEvent([{ timestamp: iso(T0 - 3600e3), price: '40000', cost: '4000' }])]],
      // A sells after its snapshot: in order, folded on from the stored state.
      [A, [tradesEvent([{ timestamp: iso(T0 + 12 * 3600e3), side: 'sell', amount: '0.15', price: '62000', cost: '9300', fees: [{ currency: 'USDT', cost: '9.3' }] }])]],
      [A, [snapshotEvent(A, T0 + 13 * 3600e3, { USDT: '10290.7', BTC: '0.15' }, { BTC: '62000' })]],
      // B: a deposit recorded pending, then ok (a status change of an older transfer).
      [B, [transfersEvent([{ id: 'dep-1', currency: 'ETH', amount: '1', status: 'pending', timestamp: iso(T0 + 12 * 3600e3) }])]],
      [B, [transfersEvent([{ id: 'dep-1', currency: 'ETH', amount: '1', status: 'ok', previousStatus: 'pending', timestamp: iso(T0 + 12 * 3600e3) }]), snapshotEvent(B, T0 + 14 * 3600e3, { USDT: '500', ETH: '3' }, { ETH: '3100' })]],
    ];
    await catchUpProjections(store);
    for (const [id, events] of steps) {
      await store.append(accountStream(id), events);
      await catchUpProjections(store);
      moments.push({ at: await dbNow(), rows: await projectionNow(db.pool, holdings) });
    }
  });

  test('the live table equals one fold of every fact in exchange time', async () => {
    const live = (await projectionNow(db.pool, holdings)).filter((r) => r.account === 'late');
    assert.deepEqual(sortRows(live), sortRows((await foldedFromLog()).filter((r) => r.account === 'late')));
    // A: 0.1 at 40000 + 0.1 at 50000 explain 0.2; the snapshot's 0.1 more opened at 60000.
    const btc = row(live, 'BTC', 'fifo')!;
    assert.deepEqual([btc.quantity, btc.unknownCostQuantity], ['0.15', '0.1']);
    // fifo: the sale took 0.1 at 40000 and 0.05 at 50000: 9290.7 - 6500.
    assert.equal(btc.realizedPnl, '2790.7');
    // B: the deposit counts once it is ok, at its own time, at the next snapshot's price.
    const eth = row(live, 'ETH')!;
    assert.deepEqual([eth.quantity, eth.costBasis, eth.unknownCostQuantity, eth.drift], ['3', '9100', '3', '0']);
  });

  test('--at gives what the live table showed at each moment', async () => {
    for (const m of moments) {
      assert.deepEqual(await projectionAt(store, holdings, m.at), m.rows, `at ${m.at}`);
      assert.deepEqual(await projectionAt(store, holdings, m.at, A), m.rows.filter((r) => r.exchange === A.exchange && r.account === A.account), `at ${m.at}, one account`);
    }
  });

  test('rebuild equals live, whatever the batch size', async () => {
    const live = await projectionNow(db.pool, holdings);
    for (const batchSize of [1, 3, 10_000]) {
      await rebuild(store, { projections: ['holdings'], batchSize });
      assert.deepEqual(await projectionNow(db.pool, holdings), live, `batch ${batchSize}`);
    }
  });
});

describe('a transfer between two accounts', () => {
  const FROM: AccountId = { exchange: 'binance', account: 'vault' };
  const TO: AccountId = { exchange: 'bybit', account: 'trading' };

  test('the deposit carries the withdrawal’s cost, even when the withdrawal is recorded after it', async () => {
    const txid = `0x${randomBytes(8).toString('hex')}`;
    await store.append(accountStream(FROM), [
      snapshotEvent(FROM, T0, { USDT: '0' }, {}),
      tradesEvent([{ timestamp: iso(T0 + 1000), symbol: 'SOL/USDT', amount: '10', price: '100', cost: '1000' }]),
    ]);
    // The receiving account syncs first: its deposit has no known withdrawal yet.
    await store.append(accountStream(TO), [
      snapshotEvent(TO, T0, { USDT: '0' }, {}),
      transfersEvent([{ currency: 'SOL', amount: '4', txid, timestamp: iso(T0 + 7200e3) }]),
      snapshotEvent(TO, T0 + 7300e3, { USDT: '0', SOL: '4' }, { SOL: '120' }),
    ]);
    await catchUpProjections(store);
    const before = await dbNow();
    assert.deepEqual(
      [row(await projectionNow(db.pool, holdings, TO), 'SOL')?.costBasis, row(await projectionNow(db.pool, holdings, TO), 'SOL')?.unknownCostQuantity],
      ['480', '4'],
    );
    await store.append(accountStream(FROM), [
      transfersEvent([{ type: 'withdrawal', currency: 'SOL', amount: '4', fee: { currency: 'SOL', cost: '0.01' }, txid, timestamp: iso(T0 + 3600e3) }]),
      snapshotEvent(FROM, T0 + 7300e3, { USDT: '0', SOL: '5.99' }, { SOL: '120' }),
    ]);
    await catchUpProjections(store);
    const sol = row(await projectionNow(db.pool, holdings, TO), 'SOL')!;
    // 4.01 SOL left at 100 each; the 4 that arrived carry all 401 of it.
    assert.deepEqual([sol.costBasis, sol.entryPrice, sol.unknownCostQuantity, sol.pnl], ['401', '100.25', '0', '79']);
    // As it stood before the withdrawal was recorded, and as one account alone: the same answers as live then and now.
    assert.equal(row(await projectionAt(store, holdings, before, TO), 'SOL')?.costBasis, '480');
    assert.deepEqual(await projectionAt(store, holdings, await dbNow(), TO), await projectionNow(db.pool, holdings, TO));
    const live = await projectionNow(db.pool, holdings);
    await rebuild(store, { projections: ['holdings'] });
    assert.deepEqual(await projectionNow(db.pool, holdings), live);
  });
});

// --- the four ways in ------------------------------------------------------------------------

describe('portfolio: library, CLI, NATS and HTTP give one answer', () => {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `es_hold_${suffix}`;
  const token = `tok-${randomBytes(12).toString('hex')}`;
  const apiKey = `port-${suffix}`;
  let daemon: Daemon;
  let nc: NatsConnection;
  const env = (extra: Record<string, string> = {}) => ({
    DATABASE_URL: db.url,
    EXCHANGE_SYNC_EXCHANGES: 'bybit',
    BYBIT_API_KEY: apiKey,
    BYBIT_API_SECRET: 'secret',
    BYBIT_API_URL: emu.url,
    EXCHANGE_SYNC_NATS_PREFIX: prefix,
    EXCHANGE_SYNC_STREAM: `ES_HOLD_${suffix.toUpperCase()}`,
    EXCHANGE_SYNC_HTTP_PORT: '0',
    EXCHANGE_SYNC_ENABLED: 'false',
    EXCHANGE_SYNC_LOG_DIR: '',
    EXCHANGE_SYNC_HTTP_TOKEN: token,
    ...extra,
  });

  before(async () => {
    emu.setAccount({ exchange: 'bybit', apiKey, secret: 'secret', balances: { USDT: { free: '5000', used: '0' }, ETH: { free: '2', used: '0' } }, positions: [] });
    daemon = new Daemon(loadConfig(env()), { logger: silentLogger(), httpHost: '127.0.0.1' });
    await daemon.start();
    nc = await connect({ servers: '127.0.0.1:4222' });
    const [result] = await daemon.sync({ exchange: 'bybit', account: 'default' }, 'api');
    assert.equal(result?.status, 'ok');
    await catchUpProjections(store);
  });
  after(async () => {
    await nc.close();
    await daemon.stop();
  });

  const get = (path: string, auth?: string) => fetch(`${daemon.httpUrl}${path}`, auth === undefined ? {} : { headers: { Authorization: auth } });
  const withoutAt = (p: { at: string }) => ({ ...p, at: undefined });

  test('the same JSON everywhere, by the configured method', async () => {
    const lib = await daemon.portfolio({ account: 'bybit:default' });
    assert.equal(lib.method, 'average');
    assert.ok(lib.holdings.some((h) => h.asset === 'ETH' && h.quantity === '2'), JSON.stringify(lib.holdings));
    const http = await get('/v1/portfolio?account=bybit:default', `Bearer ${token}`);
    assert.equal(http.status, 200);
    assert.deepEqual(withoutAt((await http.json()) as never), withoutAt(lib as never));
    const reply = await nc.request(`${prefix}.cmd.portfolio`, JSON.stringify({ account: 'bybit:default' }), { timeout: 10_000 });
    assert.deepEqual(withoutAt(JSON.parse(reply.string())), withoutAt(lib as never));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'portfolio', '--account', 'bybit:default', '--json'], { env: { ...process.env, ...env() } });
    assert.deepEqual(withoutAt(JSON.parse(stdout)), withoutAt(lib as never));
    // The shape the issue names, each holding with every field.
    for (const k of ['exchange', 'account', 'asset', 'quote', 'quantity', 'entryPrice', 'currentPrice', 'value', 'pnl', 'pnlPercentage', 'realizedPnl', 'unknownCostQuantity', 'method']) {
      assert.ok(k in lib.holdings[0]!, k);
    }
    assert.deepEqual(Object.keys(lib.totals).filter((k) => ['value', 'pnl', 'realizedPnl'].includes(k)), ['value', 'pnl', 'realizedPnl']);
    // --at: the live answer as of now is the replayed one.
    const at = await dbNow();
    const past = await get(`/v1/portfolio?account=bybit:default&at=${encodeURIComponent(at)}`, `Bearer ${token}`);
    assert.deepEqual(((await past.json()) as { holdings: unknown }).holdings, lib.holdings);
  });

  test('no token or a wrong one: 401; a bad at: 400; an unknown account: 404; health stays open', async () => {
    assert.equal((await get('/v1/portfolio')).status, 401);
    assert.equal((await get('/v1/portfolio', `Bearer ${token}x`)).status, 401);
    assert.equal((await get('/v1/portfolio', token)).status, 401);
    const bad = await get('/v1/portfolio?at=yesterday', `Bearer ${token}`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /at/);
    assert.equal((await get('/v1/portfolio?colour=red', `Bearer ${token}`)).status, 400);
    assert.equal((await get('/v1/portfolio?account=nobody', `Bearer ${token}`)).status, 404);
    const badNats = await nc.request(`${prefix}.cmd.portfolio`, JSON.stringify({ at: 'soon' }), { timeout: 10_000 });
    assert.equal(badNats.headers?.get('Nats-Service-Error-Code'), '400');
    for (const path of ['/healthz', '/metrics']) assert.equal((await get(path)).status, 200, path);
  });

  test('POST /v1/sync does what cmd.sync does', async () => {
    const post = (body: unknown, auth = `Bearer ${token}`) => fetch(`${daemon.httpUrl}/v1/sync`, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post({ wait: true }, 'Bearer nope')).status, 401);
    const res = await post({ exchange: 'bybit', wait: true });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { daemon: string; accepted: unknown[]; results: { status: string }[] };
    assert.deepEqual([body.daemon, body.accepted, body.results.map((r) => r.status)], [daemon.id, [{ exchange: 'bybit', account: 'default' }], ['ok']]);
    assert.equal((await post({ exchange: 'kraken' })).status, 404);
    assert.equal((await post({ wait: 'yes' })).status, 400);
    assert.equal((await fetch(`${daemon.httpUrl}/v1/sync`, { headers: { Authorization: `Bearer ${token}` } })).status, 405);
  });

  test('without EXCHANGE_SYNC_HTTP_TOKEN the routes are off and say so', async () => {
    const config = loadConfig(env({ EXCHANGE_SYNC_HTTP_TOKEN: '', EXCHANGE_SYNC_NATS_PREFIX: `${prefix}_off`, EXCHANGE_SYNC_STREAM: `ES_HOLD_OFF_${suffix.toUpperCase()}` }));
    const off = new Daemon(config, { logger: silentLogger(), httpHost: '127.0.0.1' });
    await off.start();
    try {
      const res = await fetch(`${off.httpUrl}/v1/portfolio`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(res.status, 403);
      assert.match(((await res.json()) as { error: string }).error, /EXCHANGE_SYNC_HTTP_TOKEN/);
      assert.equal((await fetch(`${off.httpUrl}/healthz`)).status, 200);
    } finally {
      await off.stop();
    }
  });

  test('a method from the environment picks the other book; a bad one is a config error', async () => {
    const p = await readPortfolio(store, 'fifo', { account: 'bybit:default' });
    assert.ok(p.holdings.length > 0 && p.holdings.every((h) => h.method === 'fifo'));
    assert.throws(() => loadConfig(env({ EXCHANGE_SYNC_COST_BASIS: 'lifo' })), /EXCHANGE_SYNC_COST_BASIS: expected average or fifo, got "lifo"/);
    assert.throws(() => loadConfig(env({ EXCHANGE_SYNC_HTTP_TOKEN: 'short' })), /EXCHANGE_SYNC_HTTP_TOKEN: must be at least 16 characters/);
  });
});
