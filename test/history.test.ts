// Fills, deposits and withdrawals through the sync service, against the emulator and the real
// PostgreSQL: each recorded once whatever windows, pages, retries and crashes do, resumed from the
// log, backfilled in bounded steps.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Account } from '../src/config.js';
import { historyState, SyncService, type HistorySettings } from '../src/daemon/sync.js';
import { startEmulator, type Emulator, type EmulatorAccountInput } from '../src/emulator/index.js';
import type { ChannelState, Trade } from '../src/events/catalog.js';
import { EventStore } from '../src/events/store.js';
import { tryCurrent } from '../src/events/typed-events.js';
import { createExchangeAccess, type ExchangeAccess } from '../src/exchanges/index.js';
import { silentLogger } from '../src/log.js';
import { catchUpProjections } from '../src/projections/index.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestDb, type TestDb } from './support/db.js';
import { advance, freshState, OVERLAP_MS, unseen, windowsFor } from '../src/exchanges/history/coverage.js';

const DAY = 24 * 60 * 60 * 1000;
const run = promisify(execFile);

/** The CLI against this suite's database: stdout parsed as JSON. */
async function cliJson(...args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args, '--json'], { env: { ...process.env, DATABASE_URL: db.url } });
  return JSON.parse(stdout);
}
let db: TestDb;
let emu: Emulator;
let store: EventStore;
let seq = 0;

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

type Input = Partial<EmulatorAccountInput> & { exchange: 'bybit' | 'binance' | 'okx' };

function account(input: Input): Account {
  seq++;
  const apiKey = `${input.exchange}-history-${seq}`;
  const secret = `${input.exchange}-hsecret-${seq}`;
  const passphrase = input.exchange === 'okx' ? `hpass-${seq}` : undefined;
  emu.setAccount({ apiKey, secret, balances: { USDT: { free: '100000', used: '0' }, BTC: { free: '1', used: '0' } }, positions: [], ...(passphrase ? { passphrase } : {}), ...input } as EmulatorAccountInput);
  return { account: `h${seq}`, exchange: input.exchange, apiKey, secret, password: passphrase, testnet: false, apiUrl: emu.url, options: {} };
}

async function withService<T>(a: Account, history: HistorySettings, fn: (s: SyncService, access: ExchangeAccess) => Promise<T>): Promise<T> {
  const access = createExchangeAccess([a], { retryBaseMs: 5, retryMaxMs: 10, maxAttempts: 2 });
  try {
    return await fn(new SyncService(store, access, silentLogger(), { history }), access);
  } finally {
    await access.close();
  }
}

/** Every fill the stream's events recorded, in log order. */
async function recordedTrades(a: Account): Promise<Trade[]> {
  const events = await store.readStream(`${a.exchange}:${a.account}`);
  return events.flatMap((e) => {
    const c = tryCurrent(e);
    return c?.type === 'trades_recorded' ? c.data.trades : [];
  });
}

/** `n` spot fills spread over the last `days` days, oldest first. */
function seededFills(n: number, days: number, now = Date.now()) {
  return Array.from({ length: n }, (_, i) => ({
    symbol: 'BTC/USDT',
    side: i % 3 === 0 ? ('sell' as const) : ('buy' as const),
    amount: `0.00${(i % 9) + 1}`,
    price: `${60000 + i}.5`,
    at: now - days * DAY + Math.floor(((i + 0.5) * days * DAY) / n),
  }));
}

describe('bybit history', () => {
  test('a 60-day backfill over 7-day windows and 100-fill pages gets every fill once, in bounded steps, resumed from the log', async () => {
    // 450 fills over 60 days: 9 windows of 7 days, some of more than one page.
    const fills = seededFills(450, 60);
    const a = account({ exchange: 'bybit', trades: fills });
    const history: HistorySettings = { since: { days: 90 }, maxWindows: 8 };
    await withService(a, history, async (service) => {
      const first = await service.sync(a, 'cli');
      assert.equal(first.status, 'ok', first.message);
      // 8 windows: the newest fills first, backfill continuing next time.
      const partial = await recordedTrades(a);
      assert.ok(partial.length > 0 && partial.length < 450, `first sync recorded ${partial.length}`);
      // Until every channel is covered back to `since`: 90 days are 13 windows for each of the
      // three trade categories and 3 for deposits and for withdrawals, 45 windows, 6 syncs of 8.
      const complete = async () => {
        const state = await historyState(store, `bybit:${a.account}`);
        return [...Object.values(state.trades), ...Object.values(state.transfers)].every((c) => Date.parse(c.from) <= Date.now() - 90 * DAY + 60_000);
      };
      let syncs = 1;
      while (!(await complete()) && syncs < 20) {
        assert.equal((await service.sync(a, 'cli')).status, 'ok');
        syncs++;
      }
      assert.equal(syncs, 6);
      // A few more syncs with nothing new record no fill twice.
      for (let i = 0; i < 3; i++) await service.sync(a, 'cli');
    });
    const got = await recordedTrades(a);
    assert.equal(got.length, 450);
    assert.equal(new Set(got.map((t) => t.id)).size, 450, 'each fill once');
    const want = emu.fills('bybit', a.apiKey!);
    const byId = new Map(got.map((t) => [t.id, t]));
    for (const f of want) {
      const t = byId.get(f.id);
      assert.ok(t, `fill ${f.id} recorded`);
      assert.deepEqual([t.symbol, t.side, t.amount, t.price, t.timestamp], [f.symbol, f.side, f.amount, f.price, new Date(f.timestamp).toISOString()]);
    }
    const state = await historyState(store, `bybit:${a.account}`);
    assert.deepEqual(Object.keys(state.trades).sort(), ['trades:inverse', 'trades:linear', 'trades:spot']);
    assert.deepEqual(Object.keys(state.transfers).sort(), ['deposits', 'withdrawals']);

  });

  test('new fills after the backfill arrive once, including one published late inside the overlap', async () => {
    const a = account({ exchange: 'bybit' });
    const history: HistorySettings = { since: { days: 3 }, maxWindows: 20 };
    await withService(a, history, async (service) => {
      await service.sync(a, 'cli');
      emu.trade('bybit', a.apiKey!, { symbol: 'BTC/USDT', side: 'buy', amount: '0.01', price: '65000' });
      const r = await service.sync(a, 'cli');
      assert.equal(r.history?.trades, 1);
      // A fill the exchange lists only now, with a time 2 minutes back.
      emu.trade('bybit', a.apiKey!, { symbol: 'BTC/USDT', side: 'sell', amount: '0.005', price: '65100', at: Date.now() - 120_000 });
      const late = await service.sync(a, 'cli');
      assert.equal(late.history?.trades, 1);
      const again = await service.sync(a, 'cli');
      assert.equal(again.history?.trades, 0);
    });
    const got = await recordedTrades(a);
    assert.deepEqual(
      got.map((t) => [t.side, t.amount, t.price]),
      [
        ['buy', '0.01', '65000'],
        ['sell', '0.005', '65100'],
      ],
    );
    // The fills moved the emulated balances, and the snapshot shows it: 1 + 0.01 - fee - 0.005.
    const view = emu.account('bybit', a.apiKey!);
    assert.ok(view.balances.BTC);
  });

  test('a crash between fetch and append records nothing; the next sync, by this daemon or another, records each fill once', async (t) => {
    const a = account({ exchange: 'bybit', trades: seededFills(30, 2) });
    const stream = `bybit:${a.account}`;
    const history: HistorySettings = { since: { days: 3 }, maxWindows: 20 };
    // The database refuses this stream's appends: the fills are fetched, then nothing is stored,
    // as when the process dies between the two.
    const fn = `refuse_${seq}`;
    await db.pool.query(`CREATE FUNCTION public.${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated crash'; END $$`);
    await db.pool.query(`CREATE TRIGGER ${fn} BEFORE INSERT ON exchange_sync.events FOR EACH ROW WHEN (NEW.stream_id = '${stream}') EXECUTE FUNCTION public.${fn}()`);
    t.after(() => db.pool.query(`DROP TRIGGER IF EXISTS ${fn} ON exchange_sync.events; DROP FUNCTION IF EXISTS public.${fn}()`));
    await withService(a, history, async (service) => {
      await assert.rejects(service.sync(a, 'cli'), /simulated crash/);
    });
    assert.deepEqual(await store.readStream(stream), []);
    await db.pool.query(`DROP TRIGGER ${fn} ON exchange_sync.events`);
    await withService(a, history, async (service) => {
      assert.equal((await service.sync(a, 'cli')).history?.trades, 30);
    });
    // Another daemon (its own adapter, nothing in memory) syncs the same account right after.
    await withService(a, history, async (other) => {
      assert.equal((await other.sync(a, 'cli')).history?.trades, 0);
    });
    const got = await recordedTrades(a);
    assert.equal(got.length, 30);
    assert.equal(new Set(got.map((x) => x.id)).size, 30);
  });

  test('trades --json and transfers --json print the recorded rows; a pending deposit that settles is one transfer, its status changed', async () => {
    const a = account({ exchange: 'bybit' });
    const history: HistorySettings = { since: { days: 1 }, maxWindows: 20 };
    await withService(a, history, async (service) => {
      await service.sync(a, 'cli');
      const fill = emu.trade('bybit', a.apiKey!, { symbol: 'BTC/USDT', side: 'buy', amount: '0.02', price: '64000.5', fee: { cost: '0.00002' } });
      const dep = emu.deposit('bybit', a.apiKey!, { currency: 'USDT', amount: '250.75', status: 'pending', txid: '0xabc' });
      assert.deepEqual((await service.sync(a, 'cli')).history, { trades: 1, transfers: 1, errorClass: null, message: null });
      emu.setTransferStatus('bybit', a.apiKey!, dep.id, 'ok');
      assert.deepEqual((await service.sync(a, 'cli')).history, { trades: 0, transfers: 1, errorClass: null, message: null });
      assert.deepEqual((await service.sync(a, 'cli')).history, { trades: 0, transfers: 0, errorClass: null, message: null });
      await catchUpProjections(store);
      assert.deepEqual(await cliJson('trades', '--account', `bybit:${a.account}`), [
        {
          exchange: 'bybit',
          account: a.account,
          tradeId: fill.id,
          orderId: fill.orderId,
          symbol: 'BTC/USDT',
          marketType: 'spot',
          side: 'buy',
          amount: '0.02',
          price: '64000.5',
          cost: '1280.01',
          fee: { currency: 'BTC', cost: '0.00002' },
          fees: [{ currency: 'BTC', cost: '0.00002' }],
          takerOrMaker: fill.takerOrMaker,
          realizedPnl: null,
          tradedAt: new Date(fill.timestamp).toISOString(),
        },
      ]);
      const transfers = (await cliJson('transfers', '--account', `bybit:${a.account}`)) as Array<Record<string, unknown>>;
      assert.equal(transfers.length, 1);
      assert.deepEqual(
        [transfers[0]!.type, transfers[0]!.currency, transfers[0]!.amount, transfers[0]!.status, transfers[0]!.txid],
        ['deposit', 'USDT', '250.75', 'ok', '0xabc'],
      );
      const events = await store.readStream(`bybit:${a.account}`);
      const changes = events.flatMap((e) => {
        const c = tryCurrent(e);
        return c?.type === 'transfers_recorded' ? c.data.transfers.map((x) => [x.previousStatus, x.status]) : [];
      });
      assert.deepEqual(changes, [
        [null, 'pending'],
        ['pending', 'ok'],
      ]);
    });
  });

  test('a garbled history reply leaves the snapshot recorded and that channel untouched, and says why; the other channels go on', async () => {
    const a = account({ exchange: 'bybit', trades: seededFills(5, 1) });
    const history: HistorySettings = { since: { days: 2 }, maxWindows: 20 };
    emu.injectFault({ exchange: 'bybit', kind: 'malformed', apiKey: a.apiKey!, path: '/v5/execution/list', count: 100 });
    try {
      await withService(a, history, async (service) => {
        const r = await service.sync(a, 'cli');
        assert.equal(r.status, 'ok');
        assert.equal(r.history?.errorClass, 'bad_response');
        assert.match(r.history!.message!, /^trades:spot: /);
        const events = await store.readStream(`bybit:${a.account}`);
        assert.deepEqual(
          events.map((e) => e.type),
          ['snapshot_recorded', 'trades_recorded', 'transfers_recorded', 'sync_completed'],
        );
        assert.deepEqual(await recordedTrades(a), [], 'no fill of the garbled channel');
      });
    } finally {
      emu.clearFaults();
    }
    await withService(a, history, async (service) => {
      assert.equal((await service.sync(a, 'cli')).history?.trades, 5);
    });
  });
});

describe('coverage: what is new, from the log alone', () => {
  const now = Date.parse('2026-06-01T00:00:00Z');
  const at = (ms: number) => new Date(ms).toISOString();
  const fill = (id: string, t: number) => ({ id, timestamp: at(t) });

  test('a fresh channel backfills from now in windows down to since; forward windows start in the overlap', () => {
    const fresh = freshState(now);
    const ws = windowsFor(fresh, now, now - 20 * DAY, 7 * DAY);
    assert.deepEqual(
      ws.map((w) => [w.kind, (now - w.start) / DAY, (now - w.end) / DAY]),
      [
        ['backfill', 7, 0],
        ['backfill', 14, 7],
        ['backfill', 20, 14],
      ],
    );
    const covered = { from: at(now - 20 * DAY), to: at(now), recent: {} };
    const later = windowsFor(covered, now + DAY, now - 20 * DAY, 7 * DAY);
    assert.deepEqual(
      later.map((w) => [w.kind, w.start, w.end]),
      [['forward', now - OVERLAP_MS, now + DAY]],
    );
  });

  test('overlapping windows and an id twice in one reply: each item is new once', () => {
    let state = { from: at(now - DAY), to: at(now), recent: {} as Record<string, string> };
    const w1 = { start: now - OVERLAP_MS, end: now + 60_000, kind: 'forward' as const };
    const first = [fill('a', now - 30 * 60_000), fill('b', now - 60_000), fill('c', now + 30_000), fill('c', now + 30_000)];
    // a is older than the overlap: recorded before. b lies in the overlap and is not in recent: new.
    assert.deepEqual(
      unseen(state, first).map((x) => x.id),
      ['b', 'c'],
    );
    state = advance(state, w1, first);
    assert.deepEqual(Object.keys(state.recent), ['b', 'c'], 'the overlap before the new `to` is remembered');
    // The next forward window asks the overlap again: b and c come back, and d is new.
    const w2 = { start: now + 60_000 - OVERLAP_MS, end: now + 120_000, kind: 'forward' as const };
    const second = [fill('b', now - 60_000), fill('c', now + 30_000), fill('d', now + 90_000)];
    assert.deepEqual(
      unseen(state, second).map((x) => x.id),
      ['d'],
    );
    state = advance(state, w2, second);
    assert.equal(state.to, at(now + 120_000));
  });

  test('a transfer seen pending is new again only when its status changes', () => {
    const t = (status: 'pending' | 'ok') => ({ id: 'x', timestamp: at(now - 60 * 60_000), status });
    let state: ChannelState = { from: at(now - DAY), to: at(now - 2 * 60 * 60_000), recent: {} };
    const w = { start: now - 3 * 60 * 60_000, end: now, kind: 'forward' as const };
    assert.equal(unseen(state, [t('pending')], (x) => x.status).length, 1);
    state = advance(state, w, [t('pending')], (x) => (x.status === 'pending' ? 'pending' : undefined));
    assert.deepEqual(unseen(state, [t('pending')], (x) => x.status), []);
    assert.deepEqual(
      unseen(state, [t('ok')], (x) => x.status).map((x) => x.status),
      ['ok'],
    );
    state = advance(state, w, [t('ok')], (x) => (x.status === 'pending' ? 'pending' : undefined));
    assert.deepEqual(state.pending, {});
    // Pending transfers keep being asked for, however far `to` has moved on.
    const pendingState = { ...state, from: at(now - 10 * DAY), pending: { y: { status: 'pending' as const, at: at(now - 5 * DAY) } }, to: at(now) };
    assert.equal(windowsFor(pendingState, now + 60_000, now - DAY, 30 * DAY)[0]!.start, now - 5 * DAY);
  });
});

describe('binance and okx history', () => {
  test('binance: spot fills of a held asset, per symbol in 1-day windows, each once; deposits and withdrawals', async () => {
    const fills = seededFills(40, 5);
    const a = account({ exchange: 'binance', trades: fills });
    emu.deposit('binance', a.apiKey!, { currency: 'USDT', amount: '500', at: Date.now() - 2 * DAY });
    const history: HistorySettings = { since: { days: 6 }, maxWindows: 20 };
    await withService(a, history, async (service) => {
      const r = await service.sync(a, 'cli');
      assert.equal(r.status, 'ok', r.message);
      assert.deepEqual([r.history?.trades, r.history?.transfers, r.history?.errorClass], [40, 1, null]);
      assert.equal((await service.sync(a, 'cli')).history?.trades, 0);
    });
    const got = await recordedTrades(a);
    const want = emu.fills('binance', a.apiKey!);
    assert.deepEqual(
      got.map((t) => [t.id, t.symbol, t.side, t.amount, t.price, t.timestamp]).sort(),
      want.map((f) => [f.id, f.symbol, f.side, f.amount, f.price, new Date(f.timestamp).toISOString()]).sort(),
    );
    const state = await historyState(store, `binance:${a.account}`);
    assert.deepEqual(Object.keys(state.trades), ['trades:BTC/USDT']);
  });

  test('okx: fills of every instType and the funding flows, each once', async () => {
    const a = account({ exchange: 'okx', trades: seededFills(12, 3) });
    const history: HistorySettings = { since: { days: 4 }, maxWindows: 20 };
    await withService(a, history, async (service) => {
      const r = await service.sync(a, 'cli');
      assert.equal(r.history?.errorClass, null, r.history?.message ?? '');
      assert.equal(r.history?.trades, 12);
      emu.trade('okx', a.apiKey!, { symbol: 'BTC/USDT', side: 'sell', amount: '0.001', price: '65000' });
      assert.equal((await service.sync(a, 'cli')).history?.trades, 1);
    });
    assert.equal(new Set((await recordedTrades(a)).map((t) => t.id)).size, 13);
  });

  test('two daemons syncing one account at the same moment record each fill once', async () => {
    const a = account({ exchange: 'bybit', trades: seededFills(60, 2) });
    const history: HistorySettings = { since: { days: 3 }, maxWindows: 20 };
    const [one, two] = await Promise.all([
      withService(a, history, (s) => s.sync(a, 'schedule')),
      withService(a, history, (s) => s.sync(a, 'command')),
    ]);
    assert.deepEqual([one.status, two.status], ['ok', 'ok']);
    assert.deepEqual([one.history!.trades + two.history!.trades], [60]);
    const got = await recordedTrades(a);
    assert.equal(new Set(got.map((t) => t.id)).size, got.length);
    assert.equal(got.length, 60);
  });
});
