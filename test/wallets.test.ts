// Every wallet and every position an account has, per exchange, through ccxt's real code against
// the emulator: exact decimals, the requests each snapshot costs, a wallet the key may not read,
// a wallet switched off, and account types detected once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Account } from '../src/config.js';
import { SyncService } from '../src/daemon/sync.js';
import { startEmulator, type Emulator, type EmulatorAccountInput } from '../src/emulator/index.js';
import { EventStore } from '../src/events/store.js';
import { createExchangeAccess, ExchangeError, type ExchangeAccess } from '../src/exchanges/index.js';
import { silentLogger } from '../src/log.js';
import { balances, catchUpProjections, projectionNow } from '../src/projections/index.js';
import { createTestDb, type TestDb } from './support/db.js';

let emu: Emulator;
let seq = 0;

const PRICES: Record<'bybit' | 'binance' | 'okx', Record<string, string>> = {
  bybit: { 'BTC/USDT': '65000', 'ETH/USDT': '3400', 'BTC/USDT:USDT': '65000', 'BTC/USDC:USDC': '65000', 'BTC/USD:BTC': '64000', 'ETH/USDT:USDT': '3400' },
  binance: { 'BTC/USDT': '65000', 'ETH/USDT': '3400', 'BTC/USDT:USDT': '65000', 'ETH/USDT:USDT': '3400', 'BTC/USD:BTC': '64000', 'ETH/USD:ETH': '3200' },
  okx: { 'BTC/USDT': '65000', 'ETH/USDT': '3400', 'BTC/USDT:USDT': '65000', 'BTC/USD:BTC': '64000' },
};

before(async () => {
  emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0, syntheticLinearMarkets: 450 });
  emu.freezePrices(true);
  for (const [exchange, prices] of Object.entries(PRICES)) for (const [symbol, price] of Object.entries(prices)) emu.setPrice(exchange as 'bybit', symbol, price);
});
after(async () => {
  await emu.close();
});

type Input = Partial<EmulatorAccountInput> & { exchange: 'bybit' | 'binance' | 'okx' };

/** An emulator account and the daemon's account for it. */
function account(input: Input, extra: Partial<Account> = {}): Account {
  seq++;
  const apiKey = `${input.exchange}-wallets-${seq}`;
  const secret = `${input.exchange}-secret-${seq}`;
  const passphrase = input.exchange === 'okx' ? `pass-${seq}` : undefined;
  emu.setAccount({ apiKey, secret, balances: {}, positions: [], ...(passphrase ? { passphrase } : {}), ...input } as EmulatorAccountInput);
  return { account: `w${seq}`, exchange: input.exchange, apiKey, secret, password: passphrase, testnet: false, apiUrl: emu.url, options: {}, ...extra };
}

/** Snapshots of one account, in order, with the requests each made. */
async function snapshots(a: Account, n: number) {
  const access = createExchangeAccess([a], { retryBaseMs: 5, retryMaxMs: 10, maxAttempts: 2, timeoutMs: 5000 });
  try {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await access.fetchSnapshot(a));
    return out;
  } finally {
    await access.close();
  }
}

async function refusal(a: Account): Promise<ExchangeError> {
  const access = createExchangeAccess([a], { retryBaseMs: 5, retryMaxMs: 10, maxAttempts: 3, timeoutMs: 5000 });
  try {
    await access.fetchSnapshot(a);
  } catch (err) {
    assert.ok(err instanceof ExchangeError, String(err));
    return err;
  } finally {
    await access.close();
  }
  assert.fail('expected the snapshot to fail');
}

const pick = (rows: object[], keys: string[]) => rows.map((r) => Object.fromEntries(keys.map((k) => [k, (r as Record<string, unknown>)[k]])));
const POSITION_KEYS = ['symbol', 'side', 'contracts', 'contractSize', 'entryPrice', 'markPrice', 'notional', 'unrealizedPnl', 'leverage', 'marginMode'];

describe('bybit', () => {
  test('unified account: unified and funding wallets; linear USDT, linear USDC and inverse positions; the account margin mode; exact', async () => {
    const a = account({
      exchange: 'bybit',
      bybitMarginMode: 'ISOLATED_MARGIN',
      balances: { USDT: { free: '1000.123456789012345678', used: '0.5' }, BTC: { free: '0.25', used: '0' } },
      fundingBalances: { USDT: { free: '200.5', used: '0' }, ETH: { free: '1.5', used: '0' } },
      positions: [
        { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.01', entryPrice: '60000', leverage: '10', marginMode: 'cross' },
        { symbol: 'BTC/USDC:USDC', side: 'short', contracts: '0.02', entryPrice: '66000', leverage: '5', marginMode: 'cross' },
        { symbol: 'BTC/USD:BTC', side: 'long', contracts: '100', entryPrice: '50000', leverage: '2', marginMode: 'cross' },
      ],
    });
    emu.resetRequestCounts();
    const [first, second] = await snapshots(a, 2);
    const s = first!.snapshot;
    assert.deepEqual(s.wallets, ['funding', 'unified']);
    assert.deepEqual(s.balances, [
      { wallet: 'funding', asset: 'ETH', free: '1.5', used: '0', total: '1.5' },
      { wallet: 'funding', asset: 'USDT', free: '200.5', used: '0', total: '200.5' },
      { wallet: 'unified', asset: 'BTC', free: '0.25', used: '0', total: '0.25' },
      { wallet: 'unified', asset: 'USDT', free: '1000.123456789012345678', used: '0.5', total: '1000.623456789012345678' },
    ]);
    assert.deepEqual(pick(s.positions, POSITION_KEYS), [
      // Inverse: 100 contracts of 1 USD are worth 100 USD whatever the mark; PnL in BTC:
      // 100 x (1/50000 - 1/64000) = 0.0004375.
      { symbol: 'BTC/USD:BTC', side: 'long', contracts: '100', contractSize: '1', entryPrice: '50000', markPrice: '64000', notional: '100', unrealizedPnl: '0.0004375', leverage: '2', marginMode: 'isolated' },
      { symbol: 'BTC/USDC:USDC', side: 'short', contracts: '0.02', contractSize: '1', entryPrice: '66000', markPrice: '65000', notional: '1300', unrealizedPnl: '20', leverage: '5', marginMode: 'isolated' },
      { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.01', contractSize: '1', entryPrice: '60000', markPrice: '65000', notional: '650', unrealizedPnl: '50', leverage: '10', marginMode: 'isolated' },
    ]);
    // ETH is held in the funding wallet only, and still priced.
    assert.deepEqual(s.prices, { BTC: '65000', ETH: '3400', USDT: '1' });
    // account/info, two wallets, three position queries, one ticker request: every snapshot (a
    // unified account's margin mode can change at any time).
    assert.equal(first!.requests, 7);
    assert.equal(second!.requests, 7);
    assert.equal(emu.requestCount({ exchange: 'bybit', path: '/v5/asset/transfer/query-account-coins-balance', apiKey: a.apiKey }), 2);
  });

  test('portfolio margin is the positions\' margin mode', async () => {
    const a = account({
      exchange: 'bybit',
      bybitMarginMode: 'PORTFOLIO_MARGIN',
      balances: { USDT: { free: '10', used: '0' } },
      positions: [{ symbol: 'BTC/USDT:USDT', side: 'short', contracts: '0.001', entryPrice: '65000', leverage: '10', marginMode: 'cross' }],
    });
    const [r] = await snapshots(a, 1);
    assert.deepEqual(
      r!.snapshot.positions.map((p) => p.marginMode),
      ['portfolio'],
    );
  });

  test('450 positions over 3 pages of 200 come back complete, each once', async () => {
    const positions = Array.from({ length: 450 }, (_, i) => ({
      symbol: `SYN${String(i + 1).padStart(3, '0')}/USDT:USDT`,
      side: i % 2 ? ('short' as const) : ('long' as const),
      contracts: `${i + 1}`,
      entryPrice: '1',
      leverage: '3',
      marginMode: 'cross' as const,
    }));
    const a = account({ exchange: 'bybit', balances: { USDT: { free: '1', used: '0' } }, positions });
    emu.resetRequestCounts();
    const [r] = await snapshots(a, 1);
    const got = r!.snapshot.positions;
    assert.equal(got.length, 450);
    assert.deepEqual(new Set(got.map((p) => p.symbol)), new Set(positions.map((p) => p.symbol)));
    for (const p of positions) {
      const g = got.find((x) => x.symbol === p.symbol)!;
      assert.deepEqual([g.side, g.contracts], [p.side, p.contracts], p.symbol);
    }
    // Three pages of linear USDT, one each of USDC and inverse.
    assert.equal(emu.requestCount({ exchange: 'bybit', path: '/v5/position/list', apiKey: a.apiKey }), 5);
  });

  test('classic account: spot, contract and funding wallets, margin mode per position; its type is asked once', async () => {
    const a = account({
      exchange: 'bybit',
      bybitAccountMode: 'classic',
      balances: { BTC: { free: '0.1', used: '0.05' } },
      contractBalances: { USDT: { free: '500', used: '25.25' } },
      fundingBalances: { USDT: { free: '7', used: '0' } },
      positions: [
        { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.01', entryPrice: '60000', leverage: '10', marginMode: 'isolated' },
        { symbol: 'ETH/USDT:USDT', side: 'short', contracts: '1', entryPrice: '3500', leverage: '5', marginMode: 'cross' },
      ],
    });
    emu.resetRequestCounts();
    const [first, second] = await snapshots(a, 2);
    assert.deepEqual(first!.snapshot.wallets, ['contract', 'funding', 'spot']);
    assert.deepEqual(
      first!.snapshot.balances.map((b) => [b.wallet, b.asset, b.free, b.used, b.total]),
      [
        ['contract', 'USDT', '500', '25.25', '525.25'],
        ['funding', 'USDT', '7', '0', '7'],
        ['spot', 'BTC', '0.1', '0.05', '0.15'],
      ],
    );
    assert.deepEqual(
      first!.snapshot.positions.map((p) => [p.symbol, p.marginMode, p.notional, p.unrealizedPnl]),
      [
        ['BTC/USDT:USDT', 'isolated', '650', '50'],
        ['ETH/USDT:USDT', 'cross', '3400', '100'],
      ],
    );
    assert.equal(first!.requests, 8);
    assert.equal(second!.requests, 7, 'the account type is remembered: no account/info on the second snapshot');
    assert.equal(emu.requestCount({ exchange: 'bybit', path: '/v5/account/info', apiKey: a.apiKey }), 1);
    assert.equal(emu.requestCount({ exchange: 'bybit', path: '/v5/account/wallet-balance', apiKey: a.apiKey }), 4);
  });

  test('a classic account upgraded to unified within the day: the refused wallet call makes it ask the type again', async () => {
    const input: Input = { exchange: 'bybit', bybitAccountMode: 'classic', balances: { BTC: { free: '1', used: '0' } } };
    const a = account(input);
    const access = createExchangeAccess([a], { retryBaseMs: 5, retryMaxMs: 10, maxAttempts: 2 });
    try {
      assert.deepEqual((await access.fetchSnapshot(a)).snapshot.wallets, ['contract', 'funding', 'spot']);
      emu.setAccount({ ...input, apiKey: a.apiKey!, secret: a.secret!, bybitAccountMode: 'uta2', balances: { BTC: { free: '1', used: '0' } } } as EmulatorAccountInput);
      const after = await access.fetchSnapshot(a);
      assert.deepEqual(after.snapshot.wallets, ['funding', 'unified']);
      assert.deepEqual(
        after.snapshot.balances.map((b) => [b.wallet, b.asset, b.total]),
        [['unified', 'BTC', '1']],
      );
    } finally {
      await access.close();
    }
  });

  test('UTA 1.0: unified, contract and funding wallets', async () => {
    const a = account({
      exchange: 'bybit',
      bybitAccountMode: 'uta1',
      balances: { USDT: { free: '100', used: '0' } },
      contractBalances: { BTC: { free: '0.002', used: '0' } },
      positions: [{ symbol: 'BTC/USD:BTC', side: 'short', contracts: '250', entryPrice: '62500', leverage: '1', marginMode: 'cross' }],
    });
    const [r] = await snapshots(a, 1);
    assert.deepEqual(r!.snapshot.wallets, ['contract', 'funding', 'unified']);
    assert.deepEqual(
      r!.snapshot.balances.map((b) => [b.wallet, b.asset, b.total]),
      [
        ['contract', 'BTC', '0.002'],
        ['unified', 'USDT', '100'],
      ],
    );
    // A short from 62500 with the mark at 64000 loses: -250 x (1/62500 - 1/64000) = -0.00009375 BTC.
    assert.deepEqual(
      r!.snapshot.positions.map((p) => [p.symbol, p.side, p.notional, p.unrealizedPnl]),
      [['BTC/USD:BTC', 'short', '250', '-0.00009375']],
    );
  });

  test('a funding wallet the key may not read fails the snapshot as permission, naming it; switched off, it costs no request', async () => {
    const input: Input = { exchange: 'bybit', balances: { USDT: { free: '1', used: '0' } }, fundingBalances: { USDT: { free: '2', used: '0' } }, denied: ['funding'] };
    const a = account(input);
    const err = await refusal(a);
    assert.equal(err.errorClass, 'permission');
    assert.equal(err.retryable, false);
    assert.match(err.message, /wallet "funding"/);
    assert.match(err.message, /"wallets": \{"funding": false\}/);
    assert.doesNotMatch(err.message, new RegExp(a.secret!));

    assert.equal(emu.requestCount({ exchange: 'bybit', path: '/v5/asset/transfer/query-account-coins-balance', apiKey: a.apiKey }), 1, 'not retried');

    const off = { ...a, wallets: { funding: false } };
    emu.resetRequestCounts();
    const [r] = await snapshots(off, 1);
    assert.deepEqual(r!.snapshot.wallets, ['unified']);
    assert.equal(emu.requestCount({ exchange: 'bybit', path: '/v5/asset/transfer/query-account-coins-balance' }), 0);
    // account/info, unified, three position queries; USDT alone needs no ticker request.
    assert.equal(r!.requests, 5);
  });
});

describe('binance', () => {
  test('spot, funding, USD-M and COIN-M wallets; USD-M positions with leverage and margin mode; COIN-M positions; exact', async () => {
    const a = account({
      exchange: 'binance',
      balances: { BTC: { free: '0.75', used: '0.05' }, USDT: { free: '12000.123456789012345678', used: '500' } },
      fundingBalances: { USDT: { free: '250.5', used: '0' }, ETH: { free: '0.3', used: '0.1' } },
      futuresBalances: { USDT: { free: '8000', used: '1200.5' } },
      deliveryBalances: { BTC: { free: '0.2', used: '0' } },
      positions: [
        { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.1', entryPrice: '63000', leverage: '20', marginMode: 'cross' },
        { symbol: 'ETH/USDT:USDT', side: 'short', contracts: '2', entryPrice: '3450.5', leverage: '10', marginMode: 'isolated' },
        { symbol: 'BTC/USD:BTC', side: 'long', contracts: '10', entryPrice: '60000', leverage: '5', marginMode: 'cross' },
        { symbol: 'ETH/USD:ETH', side: 'short', contracts: '3', entryPrice: '3000', leverage: '4', marginMode: 'isolated' },
      ],
    });
    emu.resetRequestCounts();
    const [first, second] = await snapshots(a, 2);
    const s = first!.snapshot;
    assert.deepEqual(s.wallets, ['delivery', 'funding', 'futures', 'spot']);
    assert.deepEqual(
      s.balances.map((b) => [b.wallet, b.asset, b.free, b.used, b.total]),
      [
        ['delivery', 'BTC', '0.2', '0', '0.2'],
        ['funding', 'ETH', '0.3', '0.1', '0.4'],
        ['funding', 'USDT', '250.5', '0', '250.5'],
        ['futures', 'USDT', '8000', '1200.5', '9200.5'],
        ['spot', 'BTC', '0.75', '0.05', '0.8'],
        ['spot', 'USDT', '12000.123456789012345678', '500', '12500.123456789012345678'],
      ],
    );
    assert.deepEqual(pick(s.positions, POSITION_KEYS), [
      // COIN-M BTCUSD_PERP: 100 USD a contract; PnL 1000 x (1/60000 - 1/64000) BTC, binance's 8 decimals.
      { symbol: 'BTC/USD:BTC', side: 'long', contracts: '10', contractSize: '100', entryPrice: '60000', markPrice: '64000', notional: '1000', unrealizedPnl: '0.00104167', leverage: '5', marginMode: 'cross' },
      { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.1', contractSize: '1', entryPrice: '63000', markPrice: '65000', notional: '6500', unrealizedPnl: '200', leverage: '20', marginMode: 'cross' },
      // ETH COIN-M: 10 USD a contract.
      // -30 x (1/3000 - 1/3200) ETH.
      { symbol: 'ETH/USD:ETH', side: 'short', contracts: '3', contractSize: '10', entryPrice: '3000', markPrice: '3200', notional: '30', unrealizedPnl: '-0.000625', leverage: '4', marginMode: 'isolated' },
      { symbol: 'ETH/USDT:USDT', side: 'short', contracts: '2', contractSize: '1', entryPrice: '3450.5', markPrice: '3400', notional: '6800', unrealizedPnl: '101', leverage: '10', marginMode: 'isolated' },
    ]);
    // account/info (first snapshot only), spot, funding, USD-M account and positions, COIN-M
    // account and positions, one ticker request.
    assert.equal(first!.requests, 8);
    assert.equal(second!.requests, 7);
    assert.equal(emu.requestCount({ exchange: 'binance', path: '/sapi/v1/account/info', apiKey: a.apiKey }), 1);
  });

  test('an account without futures: spot and funding only, no futures request; futures opened later are seen at the next snapshot', async () => {
    const input: Input = { exchange: 'binance', balances: { USDT: { free: '1000', used: '0' } }, fundingBalances: { USDT: { free: '5', used: '0' } } };
    const a = account(input);
    emu.resetRequestCounts();
    const access = createExchangeAccess([a], { retryBaseMs: 5, retryMaxMs: 10, maxAttempts: 2 });
    try {
      const first = await access.fetchSnapshot(a);
      const second = await access.fetchSnapshot(a);
      assert.deepEqual(first.snapshot.wallets, ['funding', 'spot']);
      assert.deepEqual(first.snapshot.positions, []);
      // account/info (asked again while the account has no futures), spot, funding; USDT alone needs no ticker.
      assert.equal(first.requests, 3);
      assert.equal(second.requests, 3);
      // The account opens futures and moves 900 USDT there: the next snapshot has the USD-M
      // wallet, rather than a spot wallet 900 smaller.
      emu.setAccount({ ...input, apiKey: a.apiKey!, secret: a.secret!, balances: { USDT: { free: '100', used: '0' } }, futuresBalances: { USDT: { free: '900', used: '0' } } } as EmulatorAccountInput);
      const third = await access.fetchSnapshot(a);
      assert.deepEqual(third.snapshot.wallets, ['delivery', 'funding', 'futures', 'spot']);
      assert.deepEqual(
        third.snapshot.balances.filter((b) => b.asset === 'USDT').map((b) => [b.wallet, b.total]),
        [
          ['funding', '5'],
          ['futures', '900'],
          ['spot', '100'],
        ],
      );
    } finally {
      await access.close();
    }
    // Only the third snapshot read the futures wallets: one request each.
    assert.equal(emu.requestCount({ exchange: 'binance', path: '/fapi/v3/account', apiKey: a.apiKey }), 1);
    assert.equal(emu.requestCount({ exchange: 'binance', path: '/dapi/v1/account', apiKey: a.apiKey }), 1);
  });

  test('a key without futures permission fails as permission naming the USD-M wallet', async () => {
    const a = account({ exchange: 'binance', balances: { BTC: { free: '1', used: '0' } }, futuresBalances: { USDT: { free: '1', used: '0' } }, denied: ['futures'] });
    const err = await refusal(a);
    assert.equal(err.errorClass, 'permission');
    assert.match(err.message, /wallet "futures" \(USD-M wallet/);
    assert.equal(emu.requestCount({ exchange: 'binance', apiKey: a.apiKey, path: '/fapi/v3/account' }), 1, 'not retried');
  });

  test('a portfolio-margin account is refused with a message that says it is not covered yet', async () => {
    const a = account({ exchange: 'binance', balances: { BTC: { free: '1', used: '0' } }, futuresBalances: {}, portfolioMargin: true });
    const err = await refusal(a);
    assert.equal(err.errorClass, 'internal');
    assert.equal(err.retryable, false);
    assert.match(err.message, /portfolio-margin accounts are not covered yet/);
  });
});

describe('okx', () => {
  test('trading and funding accounts; linear and inverse positions; notional at mark in the quote; exact', async () => {
    const a = account({
      exchange: 'okx',
      balances: { USDT: { free: '15000.25', used: '300' }, BTC: { free: '0.4', used: '0' } },
      fundingBalances: { USDT: { free: '1000', used: '0' }, ETH: { free: '2.000000000000000001', used: '0' } },
      positions: [
        { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '5', entryPrice: '64500', leverage: '10', marginMode: 'cross' },
        { symbol: 'BTC/USD:BTC', side: 'short', contracts: '20', entryPrice: '66000', leverage: '3', marginMode: 'isolated' },
      ],
    });
    emu.resetRequestCounts();
    const [first, second] = await snapshots(a, 2);
    const s = first!.snapshot;
    assert.deepEqual(s.wallets, ['funding', 'trading']);
    assert.deepEqual(
      s.balances.map((b) => [b.wallet, b.asset, b.free, b.used, b.total]),
      [
        ['funding', 'ETH', '2.000000000000000001', '0', '2.000000000000000001'],
        ['funding', 'USDT', '1000', '0', '1000'],
        ['trading', 'BTC', '0.4', '0', '0.4'],
        ['trading', 'USDT', '15000.25', '300', '15300.25'],
      ],
    );
    const [inverse, linear] = s.positions;
    // BTC-USDT-SWAP: 5 contracts of 0.01 BTC at a 65000 mark = 3250 USDT.
    assert.deepEqual([linear!.symbol, linear!.side, linear!.contracts, linear!.contractSize, linear!.notional, linear!.leverage, linear!.marginMode], ['BTC/USDT:USDT', 'long', '5', '0.01', '3250', '10', 'cross']);
    assert.equal(linear!.unrealizedPnl, '25');
    // BTC-USD-SWAP: 20 contracts of 100 USD = 2000 USD whatever the mark.
    assert.deepEqual([inverse!.symbol, inverse!.side, inverse!.contracts, inverse!.contractSize, inverse!.notional, inverse!.leverage, inverse!.marginMode], ['BTC/USD:BTC', 'short', '20', '100', '2000', '3', 'isolated']);
    assert.equal(first!.requests, 4);
    assert.equal(second!.requests, 4);
    // Market load: no option instruments (okx lists them per underlying).
    assert.equal(emu.requestCount({ exchange: 'okx', path: '/api/v5/public/instruments' }), 3, 'SPOT, SWAP, FUTURES; OPTION (per underlying) is not asked');
  });

  test('a funding account the key may not read fails as permission, naming it', async () => {
    const a = account({ exchange: 'okx', balances: { USDT: { free: '1', used: '0' } }, denied: ['funding'] });
    const err = await refusal(a);
    assert.equal(err.errorClass, 'permission');
    assert.match(err.message, /wallet "funding"/);
    assert.match(err.message, /OKX_WALLETS_OFF=funding/);
  });

  test('a refusal of the first call is about the key, not a wallet: switching a wallet off would not help', async () => {
    const a = account({ exchange: 'okx', balances: { USDT: { free: '1', used: '0' } }, denied: ['trading'] });
    const err = await refusal(a);
    assert.equal(err.errorClass, 'permission');
    assert.doesNotMatch(err.message, /wallet "trading"|WALLETS_OFF/);
    assert.match(err.message, /50120/);
  });
});

describe('a refused wallet through the sync service', () => {
  let db: TestDb;
  before(async () => {
    db = await createTestDb();
  });
  after(async () => {
    await db.drop();
  });

  test('records a failed sync and nothing else: the balances of the last good sync stay', async () => {
    const input: Input = { exchange: 'bybit', balances: { USDT: { free: '100', used: '0' } }, fundingBalances: { BTC: { free: '0.5', used: '0' } } };
    const a = account(input);
    const store = new EventStore(db.pool);
    const access: ExchangeAccess = createExchangeAccess([a], { retryBaseMs: 5, retryMaxMs: 10, maxAttempts: 2 });
    const service = new SyncService(store, access, silentLogger());
    try {
      assert.equal((await service.sync(a, 'cli')).status, 'ok');
      await catchUpProjections(store);
      const good = await projectionNow(db.pool, balances, { exchange: a.exchange, account: a.account });
      assert.deepEqual(
        good.map((r) => [r.wallet, r.asset, r.total]),
        [
          ['funding', 'BTC', '0.5'],
          ['unified', 'USDT', '100'],
        ],
      );
      // The key loses the transfer permission; the unified wallet has changed meanwhile.
      emu.setAccount({ ...input, apiKey: a.apiKey!, secret: a.secret!, balances: { USDT: { free: '90', used: '0' } }, denied: ['funding'] } as EmulatorAccountInput);
      const failed = await service.sync(a, 'cli');
      assert.equal(failed.status, 'failed');
      assert.equal(failed.errorClass, 'permission');
      assert.match(failed.message!, /wallet "funding"/);
      const events = await store.readStream(`bybit:${a.account}`);
      assert.deepEqual(
        events.map((e) => e.type),
        ['snapshot_recorded', 'sync_completed', 'sync_failed'],
      );
      await catchUpProjections(store);
      assert.deepEqual(await projectionNow(db.pool, balances, { exchange: a.exchange, account: a.account }), good, 'no half snapshot: the unified change is not recorded without the funding wallet');
    } finally {
      await access.close();
    }
  });
});
