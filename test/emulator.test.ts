// The exchange emulator, driven by the real ccxt: its requests, signatures and parsers must work
// unchanged against the emulator, and what ccxt parses must equal the emulator's state.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Exchange } from 'ccxt';
import { add, canonical, div, mul, neg, padded, round, sub } from '../src/emulator/decimal.js';
import { defaultFixturesDir } from '../src/emulator/fixtures.js';
import { DEMO_ACCOUNTS, EmulatorInputError, startEmulator, type Emulator, type EmulatorExchange } from '../src/emulator/index.js';
import { PriceBook } from '../src/emulator/prices.js';
import { syntheticId } from '../src/emulator/synthetic.js';
import { errors, loadExchange, type ExchangeClass } from '../src/exchanges/ccxt-modules.js';

// ccxt one exchange module at a time, as the daemon loads it (src/exchanges/ccxt-modules.ts);
// the error classes are the ones those modules throw
type ErrorClass = abstract new (...args: never[]) => Error;
function errorClass(name: string): ErrorClass {
  const found = errors[name];
  if (!found) throw new Error(`ccxt has no error class ${name}`);
  return found;
}
const ccxt = {
  bybit: await loadExchange('bybit'),
  binance: await loadExchange('binance'),
  AuthenticationError: errorClass('AuthenticationError'),
  BadRequest: errorClass('BadRequest'),
  DDoSProtection: errorClass('DDoSProtection'),
  ExchangeNotAvailable: errorClass('ExchangeNotAvailable'),
  InvalidNonce: errorClass('InvalidNonce'),
  PermissionDenied: errorClass('PermissionDenied'),
  RateLimitExceeded: errorClass('RateLimitExceeded'),
  RequestTimeout: errorClass('RequestTimeout'),
} satisfies Record<string, ExchangeClass | ErrorClass>;

type Creds = { apiKey: string; secret: string };

/** Every urls.api entry keeps its path and gets the emulator's scheme and host. */
function mapUrls(api: unknown, base: string): unknown {
  if (typeof api === 'string') return api.replace(/^https?:\/\/[^/]+/, base);
  if (typeof api !== 'object' || api === null) return api;
  return Object.fromEntries(Object.entries(api).map(([k, v]) => [k, mapUrls(v, base)]));
}

/** A ccxt client as the adapter configures it: reduced loadMarkets, no probes, decimal strings. */
function client(emu: Emulator, id: 'bybit' | 'binance', creds: Creds, extra: Record<string, unknown> = {}, strings = true): Exchange {
  const options =
    id === 'bybit'
      ? { enableUnifiedAccount: true, enableUnifiedMargin: false, fetchMarkets: { types: ['spot', 'linear'] } }
      : { fetchMarkets: ['spot', 'linear'], fetchMargins: false };
  const ex: Exchange = new ccxt[id]({ ...creds, enableRateLimit: false, options, ...extra });
  ex.urls.api = mapUrls(ex.urls.api, emu.url) as typeof ex.urls.api;
  ex.has.fetchCurrencies = false;
  if (strings) (ex as unknown as { number: unknown }).number = String;
  return ex;
}

const dec = (v: unknown): string => canonical(String(v));

async function control(emu: Emulator, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${emu.url}/_emulator/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function rejects(p: Promise<unknown>, errorClass: ErrorClass, text?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof errorClass, `expected ${errorClass.name}, got ${(err as Error).constructor.name}: ${(err as Error).message}`);
    if (text) assert.match((err as Error).message, new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    return true;
  });
}

let emu: Emulator;
let bybit: Exchange;
let binance: Exchange;

before(async () => {
  emu = await startEmulator();
  emu.freezePrices(true); // exact comparisons below must not race a price step
  bybit = client(emu, 'bybit', DEMO_ACCOUNTS.bybit);
  binance = client(emu, 'binance', DEMO_ACCOUNTS.binance);
});
after(async () => {
  await emu.close();
});

describe('bybit through ccxt', () => {
  test('a reduced loadMarkets makes 3 requests, all to instruments-info, and yields spot and linear markets', async () => {
    emu.resetRequestCounts();
    const markets = await bybit.loadMarkets();
    assert.equal(emu.requestCount({ exchange: 'bybit' }), 3);
    assert.equal(emu.requestCount({ exchange: 'bybit', path: '/v5/market/instruments-info' }), 3);
    assert.equal(markets['BTC/USDT']?.type, 'spot');
    assert.equal(markets['BTC/USDT:USDT']?.type, 'swap');
    assert.equal(markets['BTC/USD:BTC'], undefined, 'inverse markets were not asked for');
  });

  test('fetchBalance equals the account state exactly, 18 decimals included', async () => {
    const balance = await bybit.fetchBalance();
    const view = emu.account('bybit', DEMO_ACCOUNTS.bybit.apiKey);
    assert.equal(view.balances.ETH?.total, '3.373456789012345678');
    for (const [asset, b] of Object.entries(view.balances)) {
      const parsed = balance[asset] as { free: unknown; used: unknown; total: unknown };
      assert.deepEqual({ free: dec(parsed.free), used: dec(parsed.used), total: dec(parsed.total) }, b, asset);
    }
  });

  test('fetchPositions equals the positions at the current price', async () => {
    emu.setPrice('bybit', 'BTC/USDT:USDT', '66123.4');
    const positions = await bybit.fetchPositions();
    const view = emu.account('bybit', DEMO_ACCOUNTS.bybit.apiKey);
    assert.equal(positions.length, view.positions.length);
    for (const v of view.positions) {
      const p = positions.find((x) => x.symbol === v.symbol);
      assert.ok(p, v.symbol);
      assert.equal(p.side, v.side);
      assert.equal(dec(p.contracts), v.contracts);
      assert.equal(dec(p.entryPrice), v.entryPrice);
      assert.equal(dec(p.markPrice), v.markPrice);
      assert.equal(dec(p.unrealizedPnl), v.unrealizedPnl);
      assert.equal(dec(p.leverage), v.leverage);
      // ccxt's bybit notional is bybit's positionValue: contracts * entry price
      assert.equal(dec(p.notional), v.positionValue);
    }
    assert.equal(view.positions.find((p) => p.symbol === 'BTC/USDT:USDT')?.unrealizedPnl, '106.145'); // (66123.4 - 64000.5) * 0.05
  });

  test('fetchTickers without symbols returns every linear ticker at the current prices', async () => {
    const tickers = await bybit.fetchTickers();
    const linear = Object.values(bybit.markets ?? {}).filter((m) => m.linear && m.swap).map((m) => m.symbol);
    assert.deepEqual(Object.keys(tickers).sort(), linear.sort());
    for (const [symbol, t] of Object.entries(tickers)) assert.equal(dec(t.last), emu.price('bybit', symbol), symbol);
  });

  test('fetchTickers with a list of spot symbols returns exactly those', async () => {
    emu.setPrice('bybit', 'ETH/USDT', '3456.78');
    const tickers = await bybit.fetchTickers(['BTC/USDT', 'ETH/USDT']);
    assert.deepEqual(Object.keys(tickers).sort(), ['BTC/USDT', 'ETH/USDT']);
    assert.equal(dec(tickers['ETH/USDT']?.last), '3456.78');
  });

  test('fetchTime reports the exchange clock', async () => {
    const before = Date.now();
    const t = await bybit.fetchTime();
    assert.ok(t !== undefined && t >= before && t <= Date.now(), `server time ${t}`);
  });
});

describe('binance through ccxt', () => {
  test('a reduced loadMarkets makes 2 requests: spot and USD-M exchangeInfo', async () => {
    emu.resetRequestCounts();
    const markets = await binance.loadMarkets();
    assert.equal(emu.requestCount({ exchange: 'binance' }), 2);
    assert.equal(emu.requestCount({ path: '/api/v3/exchangeInfo' }), 1);
    assert.equal(emu.requestCount({ path: '/fapi/v1/exchangeInfo' }), 1);
    assert.equal(markets['ETH/USDT']?.spot, true);
    assert.equal(markets['ETH/USDT:USDT']?.linear, true);
  });

  test('spot fetchBalance equals the spot wallet, 18 decimals included', async () => {
    const balance = await binance.fetchBalance();
    const view = emu.account('binance', DEMO_ACCOUNTS.binance.apiKey);
    assert.equal(view.balances.USDT?.total, '12500.123456789012345678');
    for (const [asset, b] of Object.entries(view.balances)) {
      const parsed = balance[asset] as { free: unknown; used: unknown; total: unknown };
      assert.deepEqual({ free: dec(parsed.free), used: dec(parsed.used), total: dec(parsed.total) }, b, asset);
    }
  });

  test('fetchBalance({type: "swap"}) equals the USD-M futures wallet', async () => {
    const balance = await binance.fetchBalance({ type: 'swap' });
    const view = emu.account('binance', DEMO_ACCOUNTS.binance.apiKey);
    assert.deepEqual(Object.keys(view.futuresBalances), ['USDT']);
    const usdt = balance.USDT as { free: unknown; used: unknown; total: unknown };
    assert.deepEqual({ free: dec(usdt.free), used: dec(usdt.used), total: dec(usdt.total) }, view.futuresBalances.USDT);
  });

  test('fetchPositions (positionRisk v3, and v2 for leverage) equals the positions at the current price', async () => {
    emu.setPrice('binance', 'ETH/USDT:USDT', '3333.33');
    const view = emu.account('binance', DEMO_ACCOUNTS.binance.apiKey);
    const linear = view.positions.filter((p) => !p.inverse); // the COIN-M position is on /dapi
    for (const useV2 of [false, true]) {
      const positions = await binance.fetchPositions(undefined, { useV2 });
      assert.equal(positions.length, linear.length);
      for (const v of linear) {
        const p = positions.find((x) => x.symbol === v.symbol);
        assert.ok(p, v.symbol);
        assert.equal(p.side, v.side);
        assert.equal(p.marginMode, v.marginMode);
        assert.equal(dec(p.contracts), v.contracts);
        assert.equal(dec(p.entryPrice), v.entryPrice);
        assert.equal(dec(p.markPrice), v.markPrice);
        assert.equal(dec(p.notional), v.notional);
        assert.equal(dec(p.unrealizedPnl), v.unrealizedPnl);
        // v3 rows carry no leverage; v2 rows do
        assert.equal(p.leverage === undefined ? undefined : dec(p.leverage), useV2 ? v.leverage : undefined);
      }
    }
    assert.equal(view.positions.find((p) => p.symbol === 'ETH/USDT:USDT')?.unrealizedPnl, '234.34'); // (3450.5 - 3333.33) * 2
  });

  test('fetchTickers: all spot without symbols, USD-M for linear symbols, a spot subset for spot symbols', async () => {
    const spot = await binance.fetchTickers();
    const spotSymbols = Object.values(binance.markets ?? {}).filter((m) => m.spot).map((m) => m.symbol);
    assert.deepEqual(Object.keys(spot).sort(), spotSymbols.sort());
    const linear = await binance.fetchTickers(['BTC/USDT:USDT', 'ETH/USDT:USDT']);
    assert.deepEqual(Object.keys(linear).sort(), ['BTC/USDT:USDT', 'ETH/USDT:USDT']);
    assert.equal(dec(linear['ETH/USDT:USDT']?.last), emu.price('binance', 'ETH/USDT:USDT'));
    const some = await binance.fetchTickers(['LTC/USDT']);
    assert.deepEqual(Object.keys(some), ['LTC/USDT']);
    assert.equal(dec(some['LTC/USDT']?.last), emu.price('binance', 'LTC/USDT'));
  });

  test('fetchTime reports the exchange clock', async () => {
    const before = Date.now();
    const t = await binance.fetchTime();
    assert.ok(t !== undefined && t >= before && t <= Date.now(), `server time ${t}`);
  });
});

/** A ccxt client with its own markets load (the shared clients load spot and linear only). */
async function loaded(emu: Emulator, id: 'bybit' | 'binance', creds: Creds, options: Record<string, unknown> = {}): Promise<Exchange> {
  const base =
    id === 'bybit'
      ? { enableUnifiedAccount: true, enableUnifiedMargin: false, fetchMarkets: { types: ['spot', 'linear', 'inverse'] } }
      : { fetchMarkets: ['spot', 'linear', 'inverse'], fetchMargins: false };
  const ex = client(emu, id, creds, { options: { ...base, ...options } });
  await ex.loadMarkets();
  return ex;
}

type Parsed = { free: unknown; used: unknown; total: unknown };
const triple = (b: unknown): { free: string; used: string; total: string } => {
  const p = b as Parsed;
  return { free: dec(p.free), used: dec(p.used), total: dec(p.total) };
};

/** Every asset of a wallet view equals ccxt's parse, and ccxt reports no other asset. */
function sameWallet(balance: Record<string, unknown>, wallet: Record<string, { free: string; used: string; total: string }>): void {
  const assets = Object.keys(balance.total as object).sort();
  assert.deepEqual(assets, Object.keys(wallet).sort());
  for (const [asset, b] of Object.entries(wallet)) assert.deepEqual(triple(balance[asset]), b, asset);
}

type BybitReply = { retCode: number; retMsg: string; result: Record<string, unknown> };
type Raw = Record<string, (params?: Record<string, unknown>) => Promise<unknown>>;
const raw = (ex: Exchange): Raw => ex as unknown as Raw;

describe('bybit wallets and account modes', () => {
  test('FUND: fetchBalance({type: "funding"}) reads query-account-coins-balance; walletBalance is total, transferBalance free', async () => {
    emu.resetRequestCounts();
    const balance = await bybit.fetchBalance({ type: 'funding' });
    assert.equal(emu.requestCount({ path: '/v5/asset/transfer/query-account-coins-balance' }), 1);
    const view = emu.account('bybit', DEMO_ACCOUNTS.bybit.apiKey);
    assert.deepEqual(view.fundingBalances, { USDT: { free: '500', used: '0', total: '500' }, BTC: { free: '0.01', used: '0', total: '0.01' } });
    sameWallet(balance as unknown as Record<string, unknown>, view.fundingBalances);

    const creds = { apiKey: 'bybit-fund', secret: 's' };
    emu.setAccount({ exchange: 'bybit', ...creds, balances: {}, fundingBalances: { USDT: { free: '10.123456789012345678', used: '2.5' }, ETH: { free: '1', used: '0' } } });
    const ex = client(emu, 'bybit', creds);
    ex.setMarkets(bybit.markets);
    const reply = (await raw(ex).privateGetV5AssetTransferQueryAccountCoinsBalance!({ accountType: 'FUND', coin: 'USDT' })) as BybitReply;
    assert.deepEqual(reply.result.balance, [{ coin: 'USDT', transferBalance: '10.123456789012345678', walletBalance: '12.623456789012345678', bonus: '' }]);
    assert.equal(reply.result.accountType, 'FUND');
    assert.deepEqual(triple((await ex.fetchBalance({ type: 'funding' })).USDT), { free: '10.123456789012345678', used: '2.5', total: '12.623456789012345678' });
    emu.removeAccount('bybit', creds.apiKey);
  });

  test('account/info reports the account mode (unifiedMarginStatus 1/3/6) and the margin mode; ccxt reads them when it probes', async () => {
    const cases = [
      { mode: 'classic', margin: 'PORTFOLIO_MARGIN', status: 1, reported: 'REGULAR_MARGIN', uta: false },
      { mode: 'uta1', margin: 'ISOLATED_MARGIN', status: 3, reported: 'ISOLATED_MARGIN', uta: true },
      { mode: 'uta2', margin: 'PORTFOLIO_MARGIN', status: 6, reported: 'PORTFOLIO_MARGIN', uta: true },
      { mode: undefined, margin: undefined, status: 6, reported: 'REGULAR_MARGIN', uta: true },
    ] as const;
    for (const c of cases) {
      const creds = { apiKey: `bybit-mode-${c.mode ?? 'default'}`, secret: 's' };
      emu.setAccount({ exchange: 'bybit', ...creds, balances: {}, bybitAccountMode: c.mode, bybitMarginMode: c.margin });
      // no enableUnified* preset: ccxt probes query-api and account/info itself
      const ex = client(emu, 'bybit', creds, { options: { fetchMarkets: { types: ['spot', 'linear'] } } });
      ex.setMarkets(bybit.markets);
      const info = (await raw(ex).privateGetV5AccountInfo!()) as BybitReply;
      assert.equal(info.result.unifiedMarginStatus, c.status, c.mode);
      assert.equal(info.result.marginMode, c.reported, c.mode);
      const [unifiedMargin, unifiedAccount] = await (ex as unknown as { isUnifiedEnabled(): Promise<[boolean, boolean]> }).isUnifiedEnabled();
      assert.deepEqual([unifiedMargin, unifiedAccount], [false, c.uta], c.mode);
      assert.equal(ex.options.unifiedMarginStatus, c.status);
      emu.removeAccount('bybit', creds.apiKey);
    }
  });

  test('classic account: SPOT is `balances`, CONTRACT is `contractBalances`; UNIFIED is refused', async () => {
    const creds = { apiKey: 'bybit-classic', secret: 's' };
    emu.setAccount({
      exchange: 'bybit',
      ...creds,
      bybitAccountMode: 'classic',
      balances: { USDT: { free: '100.000000000000000001', used: '20' }, BTC: { free: '0.1', used: '0' } },
      contractBalances: { USDT: { free: '300', used: '45.5' }, BTC: { free: '0.02', used: '0.005' } },
      positions: [
        { symbol: 'ETH/USDT:USDT', side: 'long', contracts: '0.5', entryPrice: '3000', leverage: '5', marginMode: 'isolated' },
        { symbol: 'BTC/USD:BTC', side: 'short', contracts: '1000', entryPrice: '62000', leverage: '3', marginMode: 'cross' },
      ],
    });
    const ex = client(emu, 'bybit', creds, { options: { fetchMarkets: { types: ['spot', 'linear', 'inverse'] } } });
    await ex.loadMarkets();
    const view = emu.account('bybit', creds.apiKey);
    // ccxt on a classic account: fetchBalance() is the CONTRACT account, {type: 'spot'} the SPOT account
    sameWallet((await ex.fetchBalance()) as unknown as Record<string, unknown>, view.contractBalances);
    sameWallet((await ex.fetchBalance({ type: 'spot' })) as unknown as Record<string, unknown>, view.balances);

    const contract = (await raw(ex).privateGetV5AccountWalletBalance!({ accountType: 'CONTRACT' })) as BybitReply;
    const row = (contract.result.list as Array<Record<string, unknown>>)[0]!;
    assert.equal(row.accountType, 'CONTRACT');
    assert.equal(row.totalEquity, '', 'account-wide fields are empty for classic accounts');
    const btc = (row.coin as Array<Record<string, string>>).find((c) => c.coin === 'BTC')!;
    emu.setPrice('bybit', 'BTC/USD:BTC', '64000');
    const pnl = emu.account('bybit', creds.apiKey).positions.find((p) => p.symbol === 'BTC/USD:BTC')!.unrealizedPnl;
    assert.equal(pnl, '-0.00050403'); // -1000 * (1/62000 - 1/64000), 8 decimals
    assert.equal(btc.walletBalance, '0.025');
    assert.equal(btc.availableToWithdraw, '0.02');

    const unified = (await raw(ex).privateGetV5AccountWalletBalance!({ accountType: 'SPOT' })) as BybitReply;
    assert.equal((unified.result.list as Array<Record<string, unknown>>)[0]!.accountType, 'SPOT');
    await rejects(raw(ex).privateGetV5AccountWalletBalance!({ accountType: 'UNIFIED' }), ccxt.BadRequest, 'accountType only support CONTRACT,SPOT.');

    // classic accounts still report tradeMode 1 for isolated positions
    const list = (await raw(ex).privateGetV5PositionList!({ category: 'linear', settleCoin: 'USDT' })) as BybitReply;
    assert.deepEqual((list.result.list as Array<Record<string, string>>).map((p) => [p.symbol, p.tradeMode]), [['ETHUSDT', '1']]);
    emu.removeAccount('bybit', creds.apiKey);
  });

  test('UTA 1.0: UNIFIED and CONTRACT (inverse) wallets; UTA 2.0 refuses CONTRACT with bybit\'s message', async () => {
    const creds = { apiKey: 'bybit-uta1', secret: 's' };
    emu.setAccount({
      exchange: 'bybit',
      ...creds,
      bybitAccountMode: 'uta1',
      balances: { USDT: { free: '1000', used: '1' } },
      contractBalances: { BTC: { free: '0.3', used: '0.01' } },
    });
    const ex = client(emu, 'bybit', creds, { options: { fetchMarkets: { types: ['spot', 'linear', 'inverse'] } } });
    await ex.loadMarkets();
    const view = emu.account('bybit', creds.apiKey);
    sameWallet((await ex.fetchBalance()) as unknown as Record<string, unknown>, view.balances);
    // ccxt picks CONTRACT for inverse only while unifiedMarginStatus < 5
    sameWallet((await ex.fetchBalance({ type: 'swap', subType: 'inverse' })) as unknown as Record<string, unknown>, view.contractBalances);
    emu.removeAccount('bybit', creds.apiKey);

    await rejects(raw(bybit).privateGetV5AccountWalletBalance!({ accountType: 'CONTRACT' }), ccxt.BadRequest, '"retMsg":"accountType only support UNIFIED."');
    assert.throws(
      () => emu.setAccount({ exchange: 'bybit', apiKey: 'x', secret: 'y', balances: {}, contractBalances: { BTC: { free: '1', used: '0' } } }),
      /contractBalances needs bybitAccountMode/,
    );
  });

  test('denied wallets answer retCode 10005 on HTTP 200 -> PermissionDenied', async () => {
    const creds = { apiKey: 'bybit-denied', secret: 's' };
    emu.setAccount({ exchange: 'bybit', ...creds, balances: { USDT: { free: '1', used: '0' } }, fundingBalances: { USDT: { free: '1', used: '0' } }, denied: ['funding'] });
    const ex = client(emu, 'bybit', creds);
    ex.setMarkets(bybit.markets);
    assert.equal(dec((await ex.fetchBalance()).USDT?.total), '1', 'the unified wallet is still readable');
    const res = await fetch(`${emu.url}/v5/market/time`);
    assert.equal(res.status, 200);
    await rejects(ex.fetchBalance({ type: 'funding' }), ccxt.PermissionDenied, '"retCode":10005,"retMsg":"Permission denied, please check your API key permissions."');
    emu.setAccount({ exchange: 'bybit', ...creds, balances: { USDT: { free: '1', used: '0' } }, denied: ['unified'] });
    await rejects(ex.fetchBalance(), ccxt.PermissionDenied, '10005');
    emu.removeAccount('bybit', creds.apiKey);
  });
});

describe('bybit markets and positions at scale', () => {
  test('BTCPERP is always listed: ccxt makes it BTC/USDC:USDC', async () => {
    const market = bybit.markets?.['BTC/USDC:USDC'];
    assert.ok(market, 'BTC/USDC:USDC');
    assert.deepEqual([market.id, market.base, market.quote, market.settle, market.linear, market.swap], ['BTCPERP', 'BTC', 'USDC', 'USDC', true, true]);
  });

  test('instruments-info pages at 1000 like bybit: 1,200 synthetic markets load through the cursor', async () => {
    const own = await startEmulator({ scenario: 'empty', syntheticLinearMarkets: 1200, driftMs: 0 });
    try {
      const ex = client(own, 'bybit', { apiKey: 'x', secret: 'y' });
      const markets = await ex.loadMarkets();
      // spot 1, linear 2 pages (ccxt asks for limit=1000) and 1 pre-launch query
      assert.equal(own.requestCount({ path: '/v5/market/instruments-info' }), 4);
      const synthetic = Object.keys(markets).filter((s) => s.startsWith('SYN'));
      assert.equal(synthetic.length, 1200);
      assert.equal(markets[`${syntheticId(1200)}/USDT:USDT`]?.id, 'SYN1200USDT');
      assert.equal(markets['SYN001/USDT:USDT']?.settle, 'USDT');
      const first = (await fetch(`${own.url}/v5/market/instruments-info?category=linear`).then((r) => r.json())) as BybitReply;
      assert.equal((first.result.list as unknown[]).length, 500, 'default limit 500');
      assert.ok(String(first.result.nextPageCursor).length > 0);
      const bad = (await fetch(`${own.url}/v5/market/instruments-info?category=linear&limit=1001`).then((r) => r.json())) as BybitReply;
      assert.equal(bad.retCode, 10001);
    } finally {
      await own.close();
    }
  });

  test('450 positions come back over 3 pages of 200 through the cursor, none twice; ccxt paginate gets them all', async () => {
    const own = await startEmulator({ scenario: 'empty', syntheticLinearMarkets: 450, driftMs: 0 });
    try {
      const creds = { apiKey: 'many', secret: 'positions' };
      const symbols = Array.from({ length: 450 }, (_, i) => `${syntheticId(i + 1)}/USDT:USDT`);
      own.setAccount({
        exchange: 'bybit',
        ...creds,
        balances: { USDT: { free: '100000', used: '0' } },
        positions: symbols.map((symbol, i) => ({ symbol, side: i % 2 ? 'short' : 'long', contracts: String(i + 1), entryPrice: '1.5', leverage: '2', marginMode: 'cross' })),
      });
      const ex = client(own, 'bybit', creds);
      await ex.loadMarkets();
      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor: string | undefined;
      for (;;) {
        const reply = (await raw(ex).privateGetV5PositionList!({ category: 'linear', settleCoin: 'USDT', limit: 200, ...(cursor ? { cursor } : {}) })) as BybitReply;
        assert.equal(reply.retCode, 0);
        const list = reply.result.list as Array<{ symbol: string; size: string }>;
        sizes.push(list.length);
        seen.push(...list.map((p) => p.symbol));
        cursor = String(reply.result.nextPageCursor);
        if (cursor === '') break;
        assert.match(cursor, /^SYN\d{3}USDT%2C\d+%2C0$/, 'bybit-style cursor');
      }
      assert.deepEqual(sizes, [200, 200, 50]);
      assert.equal(new Set(seen).size, 450, 'no duplicates');
      assert.deepEqual(seen.sort(), symbols.map((s) => s.replace('/USDT:USDT', 'USDT')).sort());

      const firstPage = (await raw(ex).privateGetV5PositionList!({ category: 'linear', settleCoin: 'USDT' })) as BybitReply;
      assert.equal((firstPage.result.list as unknown[]).length, 20, 'default limit 20');
      await rejects(raw(ex).privateGetV5PositionList!({ category: 'linear', settleCoin: 'USDT', limit: 201 }), ccxt.BadRequest, '10001');
      await rejects(raw(ex).privateGetV5PositionList!({ category: 'linear', settleCoin: 'USDT', cursor: 'NOPE%2C1%2C0' }), ccxt.BadRequest, 'cursor');
      await rejects(raw(ex).privateGetV5PositionList!({ category: 'linear' }), ccxt.BadRequest, 'symbol or settleCoin');

      // ccxt's own pagination: limit 200 per page, the cursor from the first row's info
      const all = await ex.fetchPositions(undefined, { paginate: true });
      assert.equal(new Set(all.map((p) => p.symbol)).size, 450);
    } finally {
      await own.close();
    }
  });

  test('USDC and inverse positions: ccxt parses BTC/USDC:USDC and BTC/USD:BTC with exact contracts, notional and PnL', async () => {
    const creds = { apiKey: 'bybit-mixed', secret: 's' };
    emu.setAccount({
      exchange: 'bybit',
      ...creds,
      balances: { USDC: { free: '5000', used: '0' }, BTC: { free: '1', used: '0' } },
      positions: [
        { symbol: 'BTC/USDC:USDC', side: 'long', contracts: '0.25', entryPrice: '64000.5', leverage: '10', marginMode: 'cross' },
        { symbol: 'BTC/USD:BTC', side: 'short', contracts: '1000', entryPrice: '62000', leverage: '3', marginMode: 'cross' },
        { symbol: 'LTC/USD:LTC', side: 'long', contracts: '250', entryPrice: '80', leverage: '2', marginMode: 'isolated' },
      ],
    });
    emu.setPrice('bybit', 'BTC/USDC:USDC', '65010.25');
    emu.setPrice('bybit', 'BTC/USD:BTC', '64000');
    emu.setPrice('bybit', 'LTC/USD:LTC', '85');
    const ex = await loaded(emu, 'bybit', creds);
    const view = emu.account('bybit', creds.apiKey);
    const v = (symbol: string) => view.positions.find((p) => p.symbol === symbol)!;

    const usdc = await ex.fetchPositions(undefined, { settleCoin: 'USDC' });
    assert.deepEqual(usdc.map((p) => p.symbol), ['BTC/USDC:USDC']);
    assert.equal(dec(usdc[0]!.contracts), '0.25');
    assert.equal(dec(usdc[0]!.notional), v('BTC/USDC:USDC').positionValue); // bybit's positionValue: contracts * entry
    assert.equal(v('BTC/USDC:USDC').positionValue, '16000.125');
    assert.equal(dec(usdc[0]!.unrealizedPnl), '252.4375'); // (65010.25 - 64000.5) * 0.25
    assert.equal(usdc[0]!.side, 'long');

    const inverse = await ex.fetchPositions(undefined, { subType: 'inverse' });
    assert.deepEqual(inverse.map((p) => p.symbol).sort(), ['BTC/USD:BTC', 'LTC/USD:LTC']);
    const btc = inverse.find((p) => p.symbol === 'BTC/USD:BTC')!;
    const ltc = inverse.find((p) => p.symbol === 'LTC/USD:LTC')!;
    assert.deepEqual([btc.side, dec(btc.contracts), dec(btc.contractSize)], ['short', '1000', '1']);
    // contracts are USD; PnL in the coin, 8 decimals as bybit writes it
    assert.equal(dec(btc.unrealizedPnl), '-0.00050403');
    assert.equal(dec(ltc.unrealizedPnl), '0.18382353'); // 250 * (1/80 - 1/85)
    assert.equal(dec(ltc.unrealizedPnl), v('LTC/USD:LTC').unrealizedPnl);
    // ccxt computes the inverse notional itself: contracts * contractSize / markPrice, 18 decimals truncated
    assert.equal(dec(btc.notional), '0.015625');
    assert.equal(dec(ltc.notional), div('250', '85', 18, 'down'));
    assert.equal(dec(ltc.notional), '2.941176470588235294');
    // the raw row keeps bybit's positionValue in the coin at the entry price
    assert.equal((btc.info as Record<string, string>).positionValue, '0.01612903');
    assert.equal(v('BTC/USD:BTC').positionValue, '0.01612903');
    assert.equal(v('BTC/USD:BTC').notional, '0.015625');
    // UTA accounts report tradeMode 0 whatever the margin mode
    assert.equal((ltc.info as Record<string, string>).tradeMode, '0');

    // on UTA 2.0 the inverse PnL counts in the unified wallet's BTC equity
    const wallet = (await raw(ex).privateGetV5AccountWalletBalance!({ accountType: 'UNIFIED', coin: 'BTC' })) as BybitReply;
    const btcRow = ((wallet.result.list as Array<Record<string, unknown>>)[0]!.coin as Array<Record<string, string>>)[0]!;
    assert.equal(btcRow.unrealisedPnl, '-0.00050403');
    assert.equal(btcRow.equity, '0.99949597');
    emu.removeAccount('bybit', creds.apiKey);
  });
});

describe('binance wallets: funding, COIN-M, account info, permissions', () => {
  test('funding: fetchBalance({type: "funding"}) is a signed POST with the parameters in the form body', async () => {
    emu.resetRequestCounts();
    const balance = await binance.fetchBalance({ type: 'funding' });
    assert.equal(emu.requestCount({ path: '/sapi/v1/asset/get-funding-asset' }), 1);
    const view = emu.account('binance', DEMO_ACCOUNTS.binance.apiKey);
    assert.deepEqual(view.fundingBalances, { USDT: { free: '250.5', used: '0', total: '250.5' } });
    sameWallet(balance as unknown as Record<string, unknown>, view.fundingBalances);

    const creds = { apiKey: 'binance-fund', secret: 'fund-secret' };
    emu.setAccount({ exchange: 'binance', ...creds, balances: {}, fundingBalances: { BTC: { free: '0.5', used: '0.000000000000000001' }, USDT: { free: '1', used: '2' } } });
    const ex = client(emu, 'binance', creds);
    ex.setMarkets(binance.markets);
    const rows = (await raw(ex).sapiPostAssetGetFundingAsset!({ asset: 'BTC' })) as unknown[];
    assert.deepEqual(rows, [{ asset: 'BTC', free: '0.5', locked: '0.000000000000000001', freeze: '0', withdrawing: '0', btcValuation: '0.500000000000000001' }]);
    // ccxt: used = freeze + locked + withdrawing
    assert.deepEqual(triple((await ex.fetchBalance({ type: 'funding' })).USDT), { free: '1', used: '2', total: '3' });

    // the signature covers the body: a tampered body is refused like binance does
    const body = `timestamp=${Date.now()}&signature=${'0'.repeat(64)}`;
    const res = await fetch(`${emu.url}/sapi/v1/asset/get-funding-asset`, {
      method: 'POST',
      headers: { 'X-MBX-APIKEY': creds.apiKey, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { code: number }).code, -1022);
    emu.removeAccount('binance', creds.apiKey);
  });

  test('COIN-M: fetchBalance({type: "delivery"}) reads /dapi/v1/account; fetchPositions({subType: "inverse"}) /dapi/v1/positionRisk', async () => {
    const ex = await loaded(emu, 'binance', DEMO_ACCOUNTS.binance);
    assert.equal(dec(ex.markets?.['BTC/USD:BTC']?.contractSize), '100');
    emu.setPrice('binance', 'BTC/USD:BTC', '64000');
    const view = emu.account('binance', DEMO_ACCOUNTS.binance.apiKey);
    assert.deepEqual(view.deliveryBalances, { BTC: { free: '0.2', used: '0', total: '0.2' } });
    sameWallet((await ex.fetchBalance({ type: 'delivery' })) as unknown as Record<string, unknown>, view.deliveryBalances);

    const v = view.positions.find((p) => p.symbol === 'BTC/USD:BTC')!;
    // 10 contracts of 100 USD, long from 60000: 1000 * (1/60000 - 1/64000) BTC
    assert.deepEqual([v.notional, v.positionValue, v.unrealizedPnl], ['0.015625', '0.01666667', '0.00104167']);
    for (const method of ['positionRisk', 'account']) {
      const positions = await ex.fetchPositions(undefined, { subType: 'inverse', method });
      assert.equal(positions.length, 1, method);
      const p = positions[0]!;
      assert.equal(p.symbol, 'BTC/USD:BTC');
      assert.equal(p.side, 'long');
      assert.equal(p.marginMode, 'cross');
      assert.equal(dec(p.contracts), '10');
      assert.equal(dec(p.contractSize), '100');
      assert.equal(dec(p.leverage), '5');
      assert.equal(dec(p.notional), v.notional);
      assert.equal(dec(p.unrealizedPnl), v.unrealizedPnl);
      assert.equal(dec(p.entryPrice), '60000');
      if (method === 'positionRisk') {
        assert.equal(dec(p.markPrice), '64000');
        assert.equal(p.liquidationPrice, undefined, 'binance writes 0 when there is none; ccxt omits it');
      }
    }

    // COIN-M tickers come from /dapi/v1/ticker/24hr
    emu.resetRequestCounts();
    const tickers = await ex.fetchTickers(['BTC/USD:BTC', 'ETH/USD:ETH']);
    assert.equal(emu.requestCount({ path: '/dapi/v1/ticker/24hr' }), 1);
    assert.deepEqual(Object.keys(tickers).sort(), ['BTC/USD:BTC', 'ETH/USD:ETH']);
    assert.equal(dec(tickers['BTC/USD:BTC']?.last), '64000');

    // an isolated short on ETHUSD_PERP (10 USD contracts)
    const creds = { apiKey: 'binance-coinm', secret: 's' };
    emu.setAccount({
      exchange: 'binance',
      ...creds,
      balances: {},
      deliveryBalances: { ETH: { free: '1.5', used: '0.25' } },
      positions: [{ symbol: 'ETH/USD:ETH', side: 'short', contracts: '30', entryPrice: '3000', leverage: '10', marginMode: 'isolated' }],
    });
    emu.setPrice('binance', 'ETH/USD:ETH', '3200');
    const own = client(emu, 'binance', creds, { options: { fetchMarkets: ['spot', 'linear', 'inverse'], fetchMargins: false } });
    own.setMarkets(ex.markets);
    const [eth] = await own.fetchPositions(undefined, { subType: 'inverse' });
    assert.ok(eth);
    assert.deepEqual([eth.symbol, eth.side, eth.marginMode, dec(eth.contracts), dec(eth.contractSize)], ['ETH/USD:ETH', 'short', 'isolated', '30', '10']);
    assert.equal(dec(eth.notional), '0.09375'); // 300 / 3200
    assert.equal(dec(eth.unrealizedPnl), neg(round(div(mul('300', sub('3200', '3000')), mul('3000', '3200'), 20), 8))); // -0.00625
    assert.equal(dec(eth.unrealizedPnl), '-0.00625');
    assert.deepEqual(triple((await own.fetchBalance({ type: 'delivery' })).ETH), { free: '1.5', used: '0.25', total: '1.75' });
    emu.removeAccount('binance', creds.apiKey);
  });

  test('GET /sapi/v1/account/info reports futures and portfolio margin', async () => {
    assert.deepEqual(await raw(binance).sapiGetAccountInfo!(), {
      vipLevel: 0,
      isMarginEnabled: false,
      isFutureEnabled: true,
      isOptionsEnabled: false,
      isPortfolioMarginRetailEnabled: false,
    });
    const creds = { apiKey: 'binance-pm', secret: 's' };
    emu.setAccount({ exchange: 'binance', ...creds, balances: {}, portfolioMargin: true });
    const ex = client(emu, 'binance', creds);
    ex.setMarkets(binance.markets);
    const info = (await raw(ex).sapiGetAccountInfo!()) as Record<string, unknown>;
    assert.equal(info.isFutureEnabled, false);
    assert.equal(info.isPortfolioMarginRetailEnabled, true);
    emu.removeAccount('binance', creds.apiKey);
  });

  test('no futures account: every /fapi and /dapi private route answers 401 -2015 (AuthenticationError; DDoSProtection after a spot success)', async () => {
    const creds = { apiKey: 'binance-spot-only', secret: 's' };
    emu.setAccount({ exchange: 'binance', ...creds, balances: { USDT: { free: '5', used: '0' } } });
    for (const path of ['/fapi/v2/account', '/fapi/v3/positionRisk', '/dapi/v1/account', '/dapi/v1/positionRisk']) {
      const res = await fetch(`${emu.url}${path}`, { headers: { 'X-MBX-APIKEY': creds.apiKey } });
      // the futures check comes after the signature check, so this unsigned call is refused for its timestamp first
      assert.equal(res.status, 400, path);
    }
    const fresh = client(emu, 'binance', creds);
    fresh.setMarkets(binance.markets);
    await rejects(fresh.fetchBalance({ type: 'swap' }), ccxt.AuthenticationError, '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}');
    await rejects(fresh.fetchPositions(), ccxt.AuthenticationError, '-2015');
    await rejects(fresh.fetchBalance({ type: 'delivery' }), ccxt.AuthenticationError, '-2015');
    // ccxt quirk: once a spot (api "private") call has succeeded, -2015 is read as a temporary ban
    assert.equal(dec((await fresh.fetchBalance()).USDT?.total), '5');
    await rejects(fresh.fetchBalance({ type: 'swap' }), ccxt.DDoSProtection, '-2015');
    emu.removeAccount('binance', creds.apiKey);
  });

  test('denied wallets answer HTTP 401 -2015 -> AuthenticationError', async () => {
    const creds = { apiKey: 'binance-denied', secret: 's' };
    const base = { exchange: 'binance', ...creds, balances: { USDT: { free: '1', used: '0' } }, futuresBalances: { USDT: { free: '1', used: '0' } } } as const;
    const cases = [
      ['spot', (ex: Exchange) => ex.fetchBalance()],
      ['futures', (ex: Exchange) => ex.fetchBalance({ type: 'swap' })],
      ['delivery', (ex: Exchange) => ex.fetchBalance({ type: 'delivery' })],
      ['funding', (ex: Exchange) => ex.fetchBalance({ type: 'funding' })],
    ] as const;
    for (const [wallet, call] of cases) {
      emu.setAccount({ ...base, fundingBalances: { USDT: { free: '1', used: '0' } }, denied: [wallet] });
      const ex = client(emu, 'binance', creds); // fresh: no earlier spot success (see the quirk above)
      ex.setMarkets(binance.markets);
      await rejects(call(ex), ccxt.AuthenticationError, '-2015');
    }
    emu.setAccount({ ...base, denied: ['futures'] });
    const ex = client(emu, 'binance', creds);
    ex.setMarkets(binance.markets);
    assert.equal(dec((await ex.fetchBalance()).USDT?.total), '1', 'the spot wallet is still readable');
    emu.removeAccount('binance', creds.apiKey);
  });
});

describe('replies parse like the recorded exchange replies', () => {
  const fixtures = defaultFixturesDir();
  const recorded = (exchange: string, method: string, description: string): { parsedResponse: Record<string, unknown> } => {
    const file = JSON.parse(readFileSync(join(fixtures, 'response', `${exchange}.json`), 'utf8')) as {
      methods: Record<string, Array<{ description: string; parsedResponse: Record<string, unknown> }>>;
    };
    const found = file.methods[method]?.find((c) => c.description === description);
    assert.ok(found, `${exchange} ${method} "${description}"`);
    return found;
  };
  const balancesOf = (parsed: Record<string, unknown>): Record<string, { free: string; used: string }> => {
    const out: Record<string, { free: string; used: string }> = {};
    const free = parsed.free as Record<string, number>;
    const used = parsed.used as Record<string, number>;
    for (const asset of Object.keys(free)) out[asset] = { free: String(free[asset]), used: String(used[asset]) };
    return out;
  };
  const withoutEnvelope = (b: Record<string, unknown>): Record<string, unknown> => {
    const { info: _info, timestamp: _t, datetime: _d, ...rest } = b;
    return rest;
  };

  for (const [exchange, description] of [
    ['bybit', 'balance after availableToWithdraw update'],
    ['binance', 'Spot balance'],
  ] as const) {
    test(`${exchange} fetchBalance: ccxt's parse of the emulator equals its parse of "${description}"`, async () => {
      const expected = recorded(exchange, 'fetchBalance', description).parsedResponse;
      const creds = { apiKey: `fixture-${exchange}`, secret: 'fixture-secret' };
      emu.setAccount({ exchange, ...creds, balances: balancesOf(expected) });
      const ex = client(emu, exchange, creds, {}, false); // floats, as the fixture was recorded
      const parsed = (await ex.fetchBalance()) as unknown as Record<string, unknown>;
      assert.deepEqual(withoutEnvelope(parsed), withoutEnvelope(expected));
      emu.removeAccount(exchange, creds.apiKey);
    });
  }

  for (const [exchange, symbol, price, description] of [
    ['bybit', 'BTC/USDT:USDT', '51444.40', 'swap ticker'],
    ['binance', 'BTC/USDT', '73369.84', 'public spot ticker'],
  ] as const) {
    test(`${exchange} fetchTicker: same fields as "${description}" and the recorded prices and book`, async () => {
      const expected = recorded(exchange, 'fetchTicker', description).parsedResponse;
      emu.setPrice(exchange, symbol, price);
      const ex = client(emu, exchange, { apiKey: 'x', secret: 'y' }, {}, false);
      const parsed = (await ex.fetchTicker(symbol)) as unknown as Record<string, unknown>;
      assert.deepEqual(Object.keys(parsed.info as object).sort(), Object.keys(expected.info as object).sort());
      for (const field of ['symbol', 'last', 'close', 'bid', 'ask', 'bidVolume', 'askVolume', 'baseVolume', 'quoteVolume', 'markPrice']) {
        // the recorded JSON holds null where ccxt's object holds undefined
        assert.deepEqual(parsed[field] ?? null, expected[field], field);
      }
    });
  }
});

describe('authentication errors, as the exchanges send them', () => {
  test('bybit: unknown key -> AuthenticationError 10003, wrong secret -> AuthenticationError 10004', async () => {
    const wrongKey = client(emu, 'bybit', { apiKey: 'no-such-key', secret: 'x' });
    wrongKey.setMarkets(bybit.markets);
    await rejects(wrongKey.fetchBalance(), ccxt.AuthenticationError, '"retCode":10003');
    const wrongSecret = client(emu, 'bybit', { apiKey: DEMO_ACCOUNTS.bybit.apiKey, secret: 'not-the-secret' });
    wrongSecret.setMarkets(bybit.markets);
    await rejects(wrongSecret.fetchPositions(), ccxt.AuthenticationError, '"retCode":10004');
  });

  test('binance: unknown key -> AuthenticationError -2015 (HTTP 401), wrong secret -> AuthenticationError -1022', async () => {
    const res = await fetch(`${emu.url}/api/v3/account?timestamp=${Date.now()}&signature=00`, { headers: { 'X-MBX-APIKEY': 'no-such-key' } });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' });
    const wrongKey = client(emu, 'binance', { apiKey: 'no-such-key', secret: 'x' });
    wrongKey.setMarkets(binance.markets);
    await rejects(wrongKey.fetchBalance(), ccxt.AuthenticationError, '-2015');
    const wrongSecret = client(emu, 'binance', { apiKey: DEMO_ACCOUNTS.binance.apiKey, secret: 'not-the-secret' });
    wrongSecret.setMarkets(binance.markets);
    await rejects(wrongSecret.fetchBalance(), ccxt.AuthenticationError, '-1022');
  });

  test('binance: a key that stops working after a successful spot call surfaces as DDoSProtection (ccxt quirk)', async () => {
    const creds = { apiKey: 'revoked-later', secret: 's' };
    emu.setAccount({ exchange: 'binance', ...creds, balances: { USDT: { free: '1', used: '0' } } });
    const ex = client(emu, 'binance', creds);
    ex.setMarkets(binance.markets);
    await ex.fetchBalance();
    emu.removeAccount('binance', creds.apiKey);
    await rejects(ex.fetchBalance(), ccxt.DDoSProtection, '-2015');
  });

  for (const exchange of ['bybit', 'binance'] as const) {
    test(`${exchange}: a skewed exchange clock -> InvalidNonce; loadTimeDifference() recovers`, async () => {
      emu.injectFault({ exchange, kind: 'clock_skew', ms: 120_000 });
      try {
        const ex = client(emu, exchange, DEMO_ACCOUNTS[exchange]);
        ex.setMarkets(exchange === 'bybit' ? bybit.markets : binance.markets);
        await rejects(ex.fetchBalance(), ccxt.InvalidNonce, exchange === 'bybit' ? '"retCode":10002' : '-1021');
        const before = Date.now();
        const serverTime = await ex.fetchTime();
        assert.ok(serverTime !== undefined && serverTime >= before + 120_000, 'the time endpoint reports the skewed clock');
        await ex.loadTimeDifference();
        const balance = await ex.fetchBalance();
        assert.ok(balance.USDT, 'signed call succeeds once ccxt corrects its nonce');
      } finally {
        emu.clearFaults();
      }
    });
  }
});

describe('faults', () => {
  test('rate_limit: bybit retCode 10006 on HTTP 200 with limit headers -> RateLimitExceeded; count 1 then normal', async () => {
    emu.injectFault({ exchange: 'bybit', kind: 'rate_limit', count: 1 });
    const res = await fetch(`${emu.url}/v5/market/time`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-bapi-limit-status'), '0');
    assert.ok(res.headers.get('x-bapi-limit-reset-timestamp'));
    assert.equal(((await res.json()) as { retCode: number }).retCode, 10006);
    emu.injectFault({ exchange: 'bybit', kind: 'rate_limit', count: 1 });
    await rejects(bybit.fetchBalance(), ccxt.RateLimitExceeded);
    assert.ok((await bybit.fetchBalance()).USDT, 'the fault is used up');
  });

  test('rate_limit: binance HTTP 429 code -1003 -> ccxt DDoSProtection', async () => {
    emu.injectFault({ exchange: 'binance', kind: 'rate_limit', count: 2 });
    const res = await fetch(`${emu.url}/api/v3/time`);
    assert.equal(res.status, 429);
    assert.equal(((await res.json()) as { code: number }).code, -1003);
    await rejects(binance.fetchBalance(), ccxt.DDoSProtection, '-1003');
    assert.ok((await binance.fetchBalance()).USDT);
  });

  test('http_5xx with a status -> that status and an HTML body -> ExchangeNotAvailable', async () => {
    emu.injectFault({ exchange: 'bybit', kind: 'http_5xx', status: 502, count: 2 });
    const res = await fetch(`${emu.url}/v5/market/time`);
    assert.equal(res.status, 502);
    assert.match(await res.text(), /502 Bad Gateway/);
    await rejects(bybit.fetchTime(), ccxt.ExchangeNotAvailable, '502');
  });

  test('path and apiKey filters: only the matching endpoint and account are hit', async () => {
    try {
      emu.injectFault({ exchange: 'bybit', kind: 'http_5xx', path: '/v5/position/list' });
      emu.injectFault({ exchange: 'binance', kind: 'http_5xx', apiKey: 'someone-else' });
      assert.ok((await bybit.fetchBalance()).USDT, 'other paths are untouched');
      await rejects(bybit.fetchPositions(), ccxt.ExchangeNotAvailable);
      assert.ok((await binance.fetchBalance()).USDT, 'other accounts are untouched');
    } finally {
      emu.clearFaults();
    }
  });

  test('latency: the answer arrives late (a 200 ms client timeout gives RequestTimeout), and is otherwise normal', async () => {
    emu.injectFault({ exchange: 'binance', kind: 'latency', ms: 1500, count: 1 });
    const impatient = client(emu, 'binance', DEMO_ACCOUNTS.binance, { timeout: 200 });
    await rejects(impatient.fetchTime(), ccxt.RequestTimeout);
    emu.injectFault({ exchange: 'binance', kind: 'latency', ms: 10, count: 1 });
    const res = await fetch(`${emu.url}/api/v3/time`);
    assert.equal(res.status, 200);
    assert.ok(((await res.json()) as { serverTime: number }).serverTime > 0);
  });

  test('hang: no answer at all -> RequestTimeout; close() still returns and ends the hung request', async () => {
    const own = await startEmulator({ scenario: 'empty' });
    own.injectFault({ exchange: 'bybit', kind: 'hang' });
    const impatient = client(own, 'bybit', DEMO_ACCOUNTS.bybit, { timeout: 200 });
    await rejects(impatient.fetchTime(), ccxt.RequestTimeout);
    const pending = fetch(`${own.url}/v5/market/time`).then(
      () => 'answered',
      () => 'ended',
    );
    while (own.requestCount({ path: '/v5/market/time' }) < 2) await new Promise((r) => setImmediate(r));
    await own.close();
    assert.equal(await pending, 'ended');
  });

  test('malformed: HTTP 200 with a truncated body; ccxt does not throw but returns an empty parse', async () => {
    emu.injectFault({ exchange: 'bybit', kind: 'malformed', count: 2 });
    const res = await fetch(`${emu.url}/v5/market/time`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(text.startsWith('{"retCode":0'), text);
    assert.throws(() => JSON.parse(text) as unknown, SyntaxError);
    // the trap a client must guard against: no error, no balances, info is the raw text
    const balance = await bybit.fetchBalance();
    assert.equal(typeof balance.info, 'string');
    assert.equal(balance.USDT, undefined);
  });

  test('bad faults are refused', () => {
    assert.throws(() => emu.injectFault({ exchange: 'bybit', kind: 'latency' }), EmulatorInputError);
    assert.throws(() => emu.injectFault({ exchange: 'bybit', kind: 'http_5xx', status: 404 }), /status/);
    assert.throws(() => emu.injectFault({ exchange: 'bybit', kind: 'rate_limit', path: 'v5/x' }), /path must start/);
  });
});

describe('request counting', () => {
  test('markets loaded once and shared: 50 accounts cost 3 market requests and one balance request each', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `acct-${i}`);
    for (const apiKey of keys) emu.setAccount({ exchange: 'bybit', apiKey, secret: `secret-${apiKey}`, balances: { USDT: { free: '1', used: '0' } } });
    emu.resetRequestCounts();
    const shared = client(emu, 'bybit', { apiKey: 'x', secret: 'y' });
    await shared.loadMarkets();
    const balances = await Promise.all(
      keys.map((apiKey) => {
        const ex = client(emu, 'bybit', { apiKey, secret: `secret-${apiKey}` });
        ex.setMarkets(shared.markets);
        return ex.fetchBalance();
      }),
    );
    assert.equal(balances.length, 50);
    assert.equal(emu.requestCount({ path: '/v5/market/instruments-info' }), 3);
    assert.equal(emu.requestCount({ path: '/v5/account/wallet-balance' }), 50);
    assert.equal(emu.requestCount({ apiKey: 'acct-7' }), 1);
    assert.equal(emu.requestCount({ apiKey: '' }), 3, 'public calls count under the empty key');
    for (const apiKey of keys) emu.removeAccount('bybit', apiKey);
    emu.resetRequestCounts();
    assert.equal(emu.requestCount(), 0);
  });
});

describe('control API', () => {
  test('GET state lists accounts with exact totals and prices, and never secrets', async () => {
    const { status, json } = await control(emu, 'GET', 'state');
    assert.equal(status, 200);
    const text = JSON.stringify(json);
    assert.ok(!text.includes(DEMO_ACCOUNTS.bybit.secret) && !text.includes(DEMO_ACCOUNTS.binance.secret));
    const bybitState = (json.exchanges as Record<string, { accounts: Array<{ apiKey: string }>; prices: Record<string, string> }>).bybit;
    assert.ok(bybitState?.accounts.some((a) => a.apiKey === DEMO_ACCOUNTS.bybit.apiKey));
    assert.equal(bybitState?.prices['BTC/USDT:USDT'], emu.price('bybit', 'BTC/USDT:USDT'));
  });

  test('PUT an account, use it through ccxt, DELETE it', async () => {
    const body = {
      exchange: 'bybit',
      apiKey: 'via-http',
      secret: 'http-secret',
      balances: { USDT: { free: '10.000000000000000001', used: '0.5' } },
      positions: [{ symbol: 'LTC/USDT:USDT', side: 'short', contracts: '3', entryPrice: '80', leverage: '2', marginMode: 'cross' }],
    };
    const put = await control(emu, 'PUT', 'accounts', body);
    assert.equal(put.status, 200);
    assert.deepEqual((put.json.balances as Record<string, unknown>).USDT, { free: '10.000000000000000001', used: '0.5', total: '10.500000000000000001' });
    const ex = client(emu, 'bybit', { apiKey: 'via-http', secret: 'http-secret' });
    ex.setMarkets(bybit.markets);
    assert.equal(dec((await ex.fetchBalance()).USDT?.total), '10.500000000000000001');
    assert.equal((await ex.fetchPositions())[0]?.side, 'short');
    assert.equal((await control(emu, 'DELETE', 'accounts/bybit/via-http')).status, 200);
    assert.equal((await control(emu, 'DELETE', 'accounts/bybit/via-http')).status, 404);
  });

  test('bad account bodies get 400 and a message naming the field', async () => {
    const base = { exchange: 'bybit', apiKey: 'k', secret: 's', balances: {} };
    const cases: Array<[unknown, string]> = [
      ['{not json', 'not valid JSON'],
      [{ ...base, exchange: 'kraken' }, 'exchange'],
      [{ ...base, balances: { USDT: { free: 1.5, used: '0' } } }, 'balances.USDT.free'],
      [{ ...base, balances: { USDT: { free: '0.1234567890123456789', used: '0' } } }, 'at most 18 decimals'],
      [{ ...base, positions: [{ symbol: 'NOPE/USDT:USDT', side: 'long', contracts: '1', entryPrice: '1', leverage: '1', marginMode: 'cross' }] }, 'NOPE/USDT:USDT'],
      [{ ...base, positions: [{ symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0', entryPrice: '1', leverage: '1', marginMode: 'cross' }] }, 'positions.0.contracts'],
      [{ ...base, futuresBalances: {} }, 'futuresBalances'],
    ];
    for (const [body, message] of cases) {
      const { status, json } = await control(emu, 'PUT', 'accounts', body);
      assert.equal(status, 400, JSON.stringify(body));
      assert.match(String(json.error), new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    }
    assert.throws(() => emu.setAccount({ ...base, exchange: 'bybit', balances: { BTC: { free: '-1', used: '0' } } }), EmulatorInputError);
  });

  test('faults, prices, freeze, request counts', async () => {
    const badFault = await control(emu, 'POST', 'faults', { exchange: 'bybit', kind: 'clock_skew' });
    assert.equal(badFault.status, 400);
    assert.match(String(badFault.json.error), /ms/);
    assert.equal((await control(emu, 'POST', 'faults', { exchange: 'bybit', kind: 'explode' })).status, 400);
    const added = await control(emu, 'POST', 'faults', { exchange: 'binance', kind: 'rate_limit', path: '/api/v3/time', count: 1 });
    assert.equal(added.status, 201);
    assert.equal((await control(emu, 'GET', 'faults')).json.length, 1);
    assert.deepEqual((await control(emu, 'DELETE', 'faults')).json, { cleared: 1 });

    const priced = await control(emu, 'POST', 'prices', { exchange: 'binance', symbol: 'BTC/USDT', price: '70000.55' });
    assert.equal(priced.status, 200);
    assert.equal(emu.price('binance', 'BTC/USDT'), '70000.55');
    assert.equal((await control(emu, 'POST', 'prices', { exchange: 'binance', prices: { 'BTC/USDT': '1', 'NOPE/USDT': '2' } })).status, 400);
    assert.equal((await control(emu, 'POST', 'prices', { exchange: 'binance', symbol: 'BTC/USDT', price: 70000 })).status, 400);
    assert.equal((await control(emu, 'POST', 'freeze', { frozen: 'yes' })).status, 400);
    assert.equal((await control(emu, 'POST', 'freeze', { frozen: true })).status, 200);

    emu.resetRequestCounts();
    await fetch(`${emu.url}/v5/market/time`);
    const counted = await control(emu, 'GET', 'requests?exchange=bybit');
    assert.equal(counted.json.count, 1);
    assert.equal((await control(emu, 'POST', 'reset-counts')).status, 200);
    assert.equal(emu.requestCount(), 0);
    assert.equal((await control(emu, 'GET', 'nothing-here')).status, 404);
  });
});

describe('prices', () => {
  function walk(seed: number, steps: number, freezeAt?: number): string[] {
    let now = 0;
    const book = new PriceBook('bybit', seed, 1000, () => now);
    book.add('BTC/USDT', '65000', '0.1');
    const seen: string[] = [];
    for (let i = 1; i <= steps; i++) {
      if (i === freezeAt) book.freeze(true);
      now += 1000;
      seen.push(book.price('BTC/USDT'));
    }
    return seen;
  }

  test('the walk is the same for the same seed, different for another, and stays on the tick', () => {
    const a = walk(7, 200);
    assert.deepEqual(walk(7, 200), a);
    assert.notDeepEqual(walk(8, 200), a);
    assert.ok(new Set(a).size > 10, 'prices move');
    for (const p of a) assert.match(p, /^\d+(\.\d)?$/, 'multiples of the 0.1 tick');
  });

  test('frozen prices do not move; set prices are read back exactly', () => {
    const frozen = walk(7, 50, 10);
    assert.equal(new Set(frozen.slice(9)).size, 1);
    let now = 0;
    const book = new PriceBook('binance', 1, 1000, () => now);
    book.add('ETH/USDT', '3400', '0.01');
    book.set('ETH/USDT', '3456.789');
    assert.equal(book.price('ETH/USDT'), '3456.789');
    now += 999;
    assert.equal(book.price('ETH/USDT'), '3456.789', 'no step before driftMs has passed');
    assert.throws(() => book.set('ETH/USDT', '0'), EmulatorInputError);
  });
});

describe('decimal math', () => {
  test('sums, differences and divisions are exact strings, never floats', () => {
    assert.equal(add('0.1', '0.2'), '0.3');
    assert.equal(add('0.123456789012345678', '1000000.000000000000000001'), '1000000.123456789012345679');
    assert.equal(sub('1', '1.000000000000000001'), '-0.000000000000000001');
    assert.equal(canonical('-0.000'), '0');
    assert.equal(padded('0.75', 8), '0.75000000');
    assert.equal(padded('12.123456789012345678', 8), '12.123456789012345678');
    assert.equal(div('2', '3', 4), '0.6667');
    assert.equal(div('2', '3', 4, 'down'), '0.6666');
    assert.equal(div('-1', '8', 2), '-0.13');
  });
});

describe('exchange-sync emulator (CLI)', () => {
  test('prints the URL, the demo keys and env lines, serves, and exits 0 on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'emulator', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('Ctrl-C to stop')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${out}`)));
    });
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    assert.ok(url, out);
    assert.ok(out.includes(`BYBIT_API_URL=${url}`) && out.includes(`BINANCE_API_KEY=${DEMO_ACCOUNTS.binance.apiKey}`), out);
    const res = await fetch(`${url}/api/v3/time`);
    assert.equal(res.status, 200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  });
});
