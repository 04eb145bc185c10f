// The emulator's OKX v5 module, driven by the real ccxt okx module (loaded one exchange at a time,
// as the daemon does): ccxt's requests, signatures and parsers run unchanged against it, and what
// ccxt parses must equal the emulator's state.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Exchange } from 'ccxt';
import { add, canonical, div, mul, neg, sub } from '../src/emulator/decimal.js';
import { DEMO_ACCOUNTS, EmulatorInputError, startEmulator, type Emulator, type EmulatorAccountInput } from '../src/emulator/index.js';
import { errors, loadExchange, loadedExchange } from '../src/exchanges/ccxt-modules.js';
import { rewriteApiUrls } from '../src/exchanges/urls.js';

type ErrorClass = abstract new (...args: never[]) => Error;
function errorClass(name: string): ErrorClass {
  const found = errors[name];
  if (!found) throw new Error(`ccxt has no error class ${name}`);
  return found;
}
const AuthenticationError = errorClass('AuthenticationError');
const PermissionDenied = errorClass('PermissionDenied');
const ExchangeError = errorClass('ExchangeError');
const InvalidNonce = errorClass('InvalidNonce');
const RateLimitExceeded = errorClass('RateLimitExceeded');

await loadExchange('okx');
const Okx = loadedExchange('okx');

const KEY = DEMO_ACCOUNTS.okx;

interface OkxCreds {
  apiKey: string;
  secret: string;
  passphrase: string;
}

/** A ccxt okx client as an adapter would configure it: every URL on the emulator, no currency call, decimal strings. */
function client(emu: Emulator, creds: OkxCreds = KEY, types: string[] | null = ['spot', 'swap']): Exchange {
  // null: ccxt's default fetchMarkets.types (spot, future, swap, option)
  const options = types === null ? {} : { fetchMarkets: { types } };
  const ex = new Okx({ apiKey: creds.apiKey, secret: creds.secret, password: creds.passphrase, enableRateLimit: false, options });
  ex.urls.api = rewriteApiUrls(ex.urls.api, emu.url);
  ex.has.fetchCurrencies = false;
  (ex as unknown as { number: unknown }).number = String;
  return ex;
}

const dec = (v: unknown): string => canonical(String(v));

async function rejects(p: Promise<unknown>, cls: ErrorClass, text?: string): Promise<Error> {
  let caught: Error | undefined;
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${(err as Error).constructor.name}: ${(err as Error).message}`);
    if (text) assert.ok((err as Error).message.includes(text), `"${(err as Error).message}" does not mention ${text}`);
    caught = err as Error;
    return true;
  });
  return caught!;
}

/** A signed GET as okx documents it, without ccxt (for status codes and raw replies). */
async function signedGet(emu: Emulator, pathWithQuery: string, creds: OkxCreds = KEY, at = new Date()): Promise<{ status: number; json: Record<string, unknown> }> {
  const timestamp = at.toISOString();
  const sign = createHmac('sha256', creds.secret).update(`${timestamp}GET${pathWithQuery}`).digest('base64');
  const res = await fetch(`${emu.url}${pathWithQuery}`, {
    headers: { 'OK-ACCESS-KEY': creds.apiKey, 'OK-ACCESS-SIGN': sign, 'OK-ACCESS-TIMESTAMP': timestamp, 'OK-ACCESS-PASSPHRASE': creds.passphrase },
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

let emu: Emulator;
let okx: Exchange;

before(async () => {
  emu = await startEmulator();
  emu.freezePrices(true); // exact comparisons below must not race a price step
  okx = client(emu);
});
after(async () => {
  await emu.close();
});

describe('okx markets', () => {
  test("loadMarkets with fetchMarkets.types ['spot', 'swap'] makes 2 requests: instruments SPOT and SWAP", async () => {
    emu.resetRequestCounts();
    const markets = await okx.loadMarkets();
    assert.equal(emu.requestCount({ exchange: 'okx' }), 2);
    assert.equal(emu.requestCount({ exchange: 'okx', path: '/api/v5/public/instruments' }), 2);
    assert.equal(markets['BTC/USDT']?.type, 'spot');
    assert.equal(markets['BTC/USDT:USDT']?.linear, true);
    assert.equal(dec(markets['BTC/USDT:USDT']?.contractSize), '0.01'); // ctVal, in BTC
    assert.equal(markets['BTC/USD:BTC']?.inverse, true);
    assert.equal(dec(markets['BTC/USD:BTC']?.contractSize), '100'); // ctVal, in USD
    assert.equal(Object.values(markets).filter((m) => m?.option || m?.future).length, 0);
  });

  test("ccxt's default types (spot, future, swap, option) make 5 requests: OPTION once per default underlying", async () => {
    emu.resetRequestCounts();
    const markets = await client(emu, KEY, null).loadMarkets();
    assert.equal(emu.requestCount({ exchange: 'okx', path: '/api/v5/public/instruments' }), 5);
    assert.equal(emu.requestCount({ exchange: 'okx' }), 5);
    // the one recorded option (uly BTC-USD); no dated futures are recorded
    assert.deepEqual(
      Object.values(markets)
        .filter((m) => m?.option)
        .map((m) => m?.symbol),
      ['BTC/USD:BTC-241227-60000-P'],
    );
  });

  test('instruments: instType is required, OPTION without uly or instFamily is empty', async () => {
    const missing = await fetch(`${emu.url}/api/v5/public/instruments`);
    assert.equal(missing.status, 400);
    assert.deepEqual(await missing.json(), { code: '50014', data: [], msg: 'Parameter instType can not be empty' });
    const options = (await (await fetch(`${emu.url}/api/v5/public/instruments?instType=OPTION`)).json()) as { data: unknown[] };
    assert.deepEqual(options.data, []);
    const swap = (await (await fetch(`${emu.url}/api/v5/public/instruments?instType=SWAP&instId=BTC-USD-SWAP`)).json()) as { data: Array<{ ctVal: string }> };
    assert.deepEqual(
      swap.data.map((r) => r.ctVal),
      ['100'],
    );
  });

  test('fetchTime reads /api/v5/public/time', async () => {
    const before = Date.now();
    const t = await okx.fetchTime();
    assert.ok(typeof t === 'number' && t >= before - 1000 && t <= Date.now() + 1000, String(t));
  });
});

describe('okx balances', () => {
  test('fetchBalance({type: trading}) reads /api/v5/account/balance and equals the trading account exactly', async () => {
    emu.resetRequestCounts();
    const balance = await okx.fetchBalance({ type: 'trading' });
    assert.equal(emu.requestCount({ exchange: 'okx', path: '/api/v5/account/balance' }), 1);
    const view = emu.account('okx', KEY.apiKey);
    assert.deepEqual(Object.keys(view.balances).sort(), ['BTC', 'ETH', 'USDT']);
    assert.deepEqual(view.balances.USDT, { free: '15000.25', used: '300', total: '15300.25' });
    for (const [asset, b] of Object.entries(view.balances)) {
      const parsed = balance[asset] as { free: unknown; used: unknown; total: unknown };
      assert.deepEqual({ free: dec(parsed.free), used: dec(parsed.used), total: dec(parsed.total) }, b, asset);
    }
  });

  test('fetchBalance() without a type is the trading account too (options.defaultType spot)', async () => {
    emu.resetRequestCounts();
    const balance = await okx.fetchBalance();
    assert.equal(emu.requestCount({ exchange: 'okx', path: '/api/v5/account/balance' }), 1);
    assert.equal(dec((balance.USDT as { total: unknown }).total), '15300.25');
  });

  test('fetchBalance({type: funding}) reads /api/v5/asset/balances and equals the funding account exactly', async () => {
    emu.resetRequestCounts();
    const balance = await okx.fetchBalance({ type: 'funding' });
    assert.equal(emu.requestCount({ exchange: 'okx', path: '/api/v5/asset/balances' }), 1);
    const view = emu.account('okx', KEY.apiKey);
    assert.deepEqual(view.fundingBalances, { USDT: { free: '1000', used: '0', total: '1000' } });
    const parsed = balance.USDT as { free: unknown; used: unknown; total: unknown };
    assert.deepEqual({ free: dec(parsed.free), used: dec(parsed.used), total: dec(parsed.total) }, view.fundingBalances.USDT);
    assert.equal(balance.BTC, undefined);
  });

  test('18 decimals and a position PnL: eq stays free + used, upl and cashBal carry the PnL', async () => {
    const apiKey = 'okx-18';
    emu.setAccount({
      exchange: 'okx',
      apiKey,
      secret: 's18',
      passphrase: 'p18',
      balances: { USDT: { free: '100.123456789012345678', used: '0.000000000000000001' } },
      positions: [{ symbol: 'ETH/USDT:USDT', side: 'short', contracts: '3', entryPrice: '3500', leverage: '5', marginMode: 'cross' }],
    });
    const ex = client(emu, { apiKey, secret: 's18', passphrase: 'p18' });
    const balance = await ex.fetchBalance();
    const usdt = balance.USDT as { free: unknown; used: unknown; total: unknown };
    assert.deepEqual({ free: dec(usdt.free), used: dec(usdt.used), total: dec(usdt.total) }, emu.account('okx', apiKey).balances.USDT);
    const detail = ((balance.info as { data: Array<{ details: Array<Record<string, string>> }> }).data[0]?.details ?? [])[0]!;
    const pnl = emu.account('okx', apiKey).positions[0]!.unrealizedPnl;
    assert.equal(pnl, mul(mul(sub('3400', '3500'), '0.1'), '-3')); // short 3 x 0.1 ETH, mark 3400
    assert.equal(detail.upl, pnl);
    assert.equal(detail.cashBal, sub(detail.eq!, pnl));
    emu.removeAccount('okx', apiKey);
  });
});

describe('okx positions', () => {
  test('fetchPositions() makes one /api/v5/account/positions request (no instType) and returns both positions exactly', async () => {
    emu.setPrice('okx', 'BTC/USDT:USDT', '66123.4');
    emu.setPrice('okx', 'BTC/USD:BTC', '64000');
    emu.resetRequestCounts();
    const positions = await okx.fetchPositions();
    assert.equal(emu.requestCount({ exchange: 'okx' }), 1);
    assert.equal(emu.requestCount({ exchange: 'okx', path: '/api/v5/account/positions' }), 1);
    const view = emu.account('okx', KEY.apiKey);
    assert.equal(positions.length, 2);
    for (const v of view.positions) {
      const p = positions.find((x) => x.symbol === v.symbol);
      assert.ok(p, v.symbol);
      assert.equal(p.side, v.side, v.symbol);
      assert.equal(p.hedged, false, 'net mode');
      assert.equal(dec(p.contracts), v.contracts, v.symbol);
      assert.equal(dec(p.contractSize), v.contractSize, v.symbol);
      assert.equal(dec(p.entryPrice), v.entryPrice, v.symbol);
      assert.equal(dec(p.markPrice), v.markPrice, v.symbol);
      assert.equal(dec(p.unrealizedPnl), v.unrealizedPnl, v.symbol);
      assert.equal(dec(p.leverage), v.leverage, v.symbol);
      assert.equal(p.marginMode, v.marginMode, v.symbol);
    }

    const linear = positions.find((p) => p.symbol === 'BTC/USDT:USDT')!;
    // 5 contracts of 0.01 BTC: upl = (66123.4 - 64500) * 0.05, notional = notionalUsd = 0.05 * mark
    assert.equal(dec(linear.unrealizedPnl), '81.17');
    assert.equal(dec(linear.notional), '3306.17');
    assert.equal(dec(linear.notional), view.positions.find((p) => p.symbol === 'BTC/USDT:USDT')!.notional);
    assert.equal(dec(linear.initialMargin), '330.617'); // cross: imr = notional / lever
    const linearInfo = linear.info as Record<string, string>;
    assert.deepEqual(
      { instType: linearInfo.instType, posSide: linearInfo.posSide, pos: linearInfo.pos, ccy: linearInfo.ccy, mgnMode: linearInfo.mgnMode },
      { instType: 'SWAP', posSide: 'net', pos: '5', ccy: 'USDT', mgnMode: 'cross' },
    );

    const inverse = positions.find((p) => p.symbol === 'BTC/USD:BTC')!;
    const inverseView = view.positions.find((p) => p.symbol === 'BTC/USD:BTC')!;
    // short 20 x 100 USD from 66000 to 64000: upl = 2000 * (1/64000 - 1/66000) BTC = 0.000946969..., 8 decimals
    assert.equal(inverseView.unrealizedPnl, '0.00094697');
    assert.equal(inverseView.unrealizedPnl, neg(div(mul('2000', sub('64000', '66000')), mul('66000', '64000'), 8)));
    assert.equal(dec(inverse.unrealizedPnl), inverseView.unrealizedPnl);
    assert.equal(inverse.side, 'short');
    const inverseInfo = inverse.info as Record<string, string>;
    assert.equal(inverseInfo.pos, '-20'); // net mode: negative for a short
    assert.equal(inverseInfo.notionalUsd, '2000'); // contracts * ctVal, in USD
    assert.equal(inverseInfo.ccy, 'BTC');
    assert.equal(inverseInfo.margin, div('2000', mul('66000', '3'), 16)); // isolated margin at the entry price
    // ccxt ignores notionalUsd for inverse markets: notional = contracts * contractSize / markPx (in BTC, 18 decimals cut)
    assert.equal(dec(inverse.notional), div('2000', '64000', 18, 'down'));
  });

  test('instType filters: SWAP has both, FUTURES, MARGIN and OPTION none; SPOT is refused', async () => {
    const swap = await signedGet(emu, '/api/v5/account/positions?instType=SWAP');
    assert.equal(swap.status, 200);
    assert.equal((swap.json.data as unknown[]).length, 2);
    for (const t of ['FUTURES', 'MARGIN', 'OPTION']) {
      const r = await signedGet(emu, `/api/v5/account/positions?instType=${t}`);
      assert.deepEqual(r.json, { code: '0', data: [], msg: '' }, t);
    }
    const spot = await signedGet(emu, '/api/v5/account/positions?instType=SPOT');
    assert.equal(spot.json.code, '51000');
    // fetchPositions([symbol]) sends instId=BTC-USD-SWAP
    const one = await okx.fetchPositions(['BTC/USD:BTC']);
    assert.deepEqual(
      one.map((p) => p.symbol),
      ['BTC/USD:BTC'],
    );
  });

  test('positions must be on perpetuals the emulator knows; okx accounts need a passphrase', () => {
    const base: EmulatorAccountInput = { exchange: 'okx', apiKey: 'k', secret: 's', passphrase: 'p', balances: {} };
    assert.throws(() => emu.setAccount({ ...base, positions: [{ symbol: 'BTC/USDT', side: 'long', contracts: '1', entryPrice: '1', leverage: '1', marginMode: 'cross' }] }), EmulatorInputError);
    const { passphrase: _p, ...noPassphrase } = base;
    assert.throws(() => emu.setAccount(noPassphrase), (err: unknown) => err instanceof EmulatorInputError && /passphrase: an okx account needs passphrase/.test((err as Error).message));
  });
});

describe('okx tickers', () => {
  test('fetchTickers([spot symbols]) sends instType=SPOT once and returns exactly those, at the current prices', async () => {
    emu.setPrice('okx', 'ETH/USDT', '3456.78');
    emu.resetRequestCounts();
    const tickers = await okx.fetchTickers(['BTC/USDT', 'ETH/USDT']);
    assert.equal(emu.requestCount({ exchange: 'okx', path: '/api/v5/market/tickers' }), 1);
    assert.deepEqual(Object.keys(tickers).sort(), ['BTC/USDT', 'ETH/USDT']);
    for (const [symbol, t] of Object.entries(tickers)) {
      assert.equal(dec(t.last), emu.price('okx', symbol), symbol);
      assert.equal(dec(t.ask), emu.price('okx', symbol), symbol);
    }
    assert.equal(dec(tickers['ETH/USDT']?.bid), '3456.77'); // last - tick (0.01)
  });

  test('fetchTicker reads /api/v5/market/ticker?instId=', async () => {
    emu.resetRequestCounts();
    const t = await okx.fetchTicker('BTC/USDT:USDT');
    assert.equal(emu.requestCount({ exchange: 'okx', path: '/api/v5/market/ticker' }), 1);
    assert.equal(dec(t.last), emu.price('okx', 'BTC/USDT:USDT'));
    const unknown = (await (await fetch(`${emu.url}/api/v5/market/ticker?instId=NOPE-USDT`)).json()) as { code: string };
    assert.equal(unknown.code, '51001');
  });
});

describe('okx authentication and errors', () => {
  test('a bad signature: HTTP 401 code 50113, ccxt AuthenticationError', async () => {
    const ex = client(emu, { ...KEY, secret: 'not-the-secret' });
    await ex.loadMarkets();
    await rejects(ex.fetchBalance(), AuthenticationError, '50113');
    const raw = await signedGet(emu, '/api/v5/account/balance', { ...KEY, secret: 'wrong' });
    assert.equal(raw.status, 401);
    assert.deepEqual(raw.json, { code: '50113', data: [], msg: 'Invalid Sign' });
  });

  test('a wrong passphrase: HTTP 401 code 50105, ccxt AuthenticationError', async () => {
    const ex = client(emu, { ...KEY, passphrase: 'wrong-passphrase' });
    await ex.loadMarkets();
    await rejects(ex.fetchPositions(), AuthenticationError, '50105');
    const raw = await signedGet(emu, '/api/v5/account/balance', { ...KEY, passphrase: 'wrong' });
    assert.equal(raw.status, 401);
    assert.equal(raw.json.code, '50105');
  });

  test('an unknown key: HTTP 401 code 50111, ccxt AuthenticationError', async () => {
    const ex = client(emu, { ...KEY, apiKey: 'no-such-key' });
    await ex.loadMarkets();
    await rejects(ex.fetchBalance(), AuthenticationError, 'Invalid OK-ACCESS-KEY');
  });

  test('a timestamp more than 30 s off: 50102, ccxt InvalidNonce; a malformed one: 50112', async () => {
    const late = await signedGet(emu, '/api/v5/account/balance', KEY, new Date(Date.now() - 31_000));
    assert.deepEqual([late.status, late.json.code], [401, '50102']);
    const ok = await signedGet(emu, '/api/v5/account/balance', KEY, new Date(Date.now() - 20_000));
    assert.equal(ok.json.code, '0');
    const res = await fetch(`${emu.url}/api/v5/account/balance`, {
      headers: { 'OK-ACCESS-KEY': KEY.apiKey, 'OK-ACCESS-SIGN': 'x', 'OK-ACCESS-TIMESTAMP': String(Date.now()), 'OK-ACCESS-PASSPHRASE': KEY.passphrase },
    });
    assert.deepEqual([res.status, ((await res.json()) as { code: string }).code], [401, '50112']);

    emu.injectFault({ exchange: 'okx', kind: 'clock_skew', ms: 60_000, count: 1 });
    await rejects(okx.fetchBalance(), InvalidNonce, '50102');
  });

  test('a denied wallet: okx code 50120 on HTTP 200; ccxt 4.5 has no mapping for it and raises a plain ExchangeError', async () => {
    const apiKey = 'okx-denied';
    const creds = { apiKey, secret: 'sd', passphrase: 'pd' };
    emu.setAccount({ exchange: 'okx', ...creds, balances: { USDT: { free: '1', used: '0' } }, fundingBalances: { USDT: { free: '2', used: '0' } }, denied: ['trading'] });
    const ex = client(emu, creds);
    await ex.loadMarkets();
    const err = await rejects(ex.fetchBalance({ type: 'trading' }), ExchangeError, '50120');
    // ccxt's error classes all extend Error, so check them one at a time on an unknown
    const raised: unknown = err;
    assert.equal(raised instanceof PermissionDenied, false, err.constructor.name);
    assert.equal(raised instanceof AuthenticationError, false, err.constructor.name);
    await rejects(ex.fetchPositions(), ExchangeError, '50120');
    // the funding account is still readable
    const funding = await ex.fetchBalance({ type: 'funding' });
    assert.equal(dec((funding.USDT as { total: unknown }).total), '2');
    const raw = await signedGet(emu, '/api/v5/account/balance', creds);
    assert.equal(raw.status, 200);
    assert.deepEqual(raw.json, { code: '50120', data: [], msg: "API key doesn't have permission to use this function" });

    emu.setAccount({ exchange: 'okx', ...creds, balances: {}, denied: ['funding'] });
    await rejects(ex.fetchBalance({ type: 'funding' }), ExchangeError, '50120');
    await ex.fetchBalance({ type: 'trading' });
    emu.removeAccount('okx', apiKey);
  });

  test('rate limit fault: HTTP 429 code 50011, ccxt RateLimitExceeded', async () => {
    emu.injectFault({ exchange: 'okx', kind: 'rate_limit', path: '/api/v5/account/balance', count: 1 });
    await rejects(okx.fetchBalance(), RateLimitExceeded, '50011');
    const balance = await okx.fetchBalance();
    assert.equal(dec((balance.USDT as { total: unknown }).total), add('15000.25', '300'));
  });

  test('account/config answers a net-mode account', async () => {
    const accounts = await okx.fetchAccounts();
    assert.equal(accounts.length, 1);
    assert.equal((accounts[0]?.info as Record<string, string>).posMode, 'net_mode');
  });

  test('paths okx does not serve get a 404 naming the path', async () => {
    const res = await fetch(`${emu.url}/api/v5/trade/orders-pending`);
    assert.equal(res.status, 404);
    assert.match(await res.text(), /okx has no endpoint GET \/api\/v5\/trade\/orders-pending/);
  });
});
