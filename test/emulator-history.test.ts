// Fill and transfer history in the emulator, driven by the real ccxt modules (bybit, binance, okx):
// a seeded 90-day history comes back complete and exact window by window and page by page, the
// exchanges' limits answer their real errors, fills move the balances exactly, transfers change
// status, derivatives fills realize PnL, and the demo timer trades.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Exchange, Trade, Transaction } from 'ccxt';
import { add, canonical, mul, sub } from '../src/emulator/decimal.js';
import {
  DEMO_ACCOUNTS,
  EmulatorInputError,
  startEmulator,
  type Emulator,
  type EmulatorExchange,
  type EmulatorFillView,
  type EmulatorHistoryTradeInput,
  type EmulatorHistoryTransferInput,
  type EmulatorTransferView,
} from '../src/emulator/index.js';
import { errors, loadExchange } from '../src/exchanges/ccxt-modules.js';
import { rewriteApiUrls } from '../src/exchanges/urls.js';

type ErrorClass = abstract new (...args: never[]) => Error;
function errorClass(name: string): ErrorClass {
  const found = errors[name];
  if (!found) throw new Error(`ccxt has no error class ${name}`);
  return found;
}
const BadRequest = errorClass('BadRequest');
const ArgumentsRequired = errorClass('ArgumentsRequired');

const classes = {
  bybit: await loadExchange('bybit'),
  binance: await loadExchange('binance'),
  okx: await loadExchange('okx'),
};

const DAY = 86_400_000;
const dec = (v: unknown): string => canonical(String(v));

interface Creds {
  apiKey: string;
  secret: string;
  passphrase?: string;
}

/** A ccxt client on the emulator: every URL rewritten, no currency call, decimal strings, all market kinds. */
function client(emu: Emulator, id: EmulatorExchange, creds: Creds): Exchange {
  const options =
    id === 'bybit'
      ? { enableUnifiedAccount: true, enableUnifiedMargin: false, fetchMarkets: { types: ['spot', 'linear', 'inverse'] } }
      : id === 'binance'
        ? { fetchMarkets: ['spot', 'linear', 'inverse'], fetchMargins: false }
        : { fetchMarkets: { types: ['spot', 'swap'] } };
  const ex: Exchange = new classes[id]({ apiKey: creds.apiKey, secret: creds.secret, password: creds.passphrase, enableRateLimit: false, options });
  ex.urls.api = rewriteApiUrls(ex.urls.api, emu.url);
  ex.has.fetchCurrencies = false;
  (ex as unknown as { number: unknown }).number = String;
  return ex;
}

async function rejects(p: Promise<unknown>, cls: ErrorClass, text: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${(err as Error).constructor.name}: ${(err as Error).message}`);
    assert.ok((err as Error).message.includes(text), `"${(err as Error).message}" does not mention ${text}`);
    return true;
  });
}

/** ccxt's parsed trade equals the emulator's fill, field by field. */
function assertSameTrade(t: Trade, f: EmulatorFillView, opts: { cost?: boolean } = {}): void {
  const where = `${f.symbol} ${f.id}`;
  assert.equal(t.id, f.id, where);
  assert.equal(t.order, f.orderId, where);
  assert.equal(t.symbol, f.symbol, where);
  assert.equal(t.side, f.side, where);
  assert.equal(t.takerOrMaker, f.takerOrMaker, where);
  assert.equal(t.timestamp, f.timestamp, where);
  assert.equal(dec(t.amount), f.amount, where);
  assert.equal(dec(t.price), f.price, where);
  if (opts.cost !== false) assert.equal(dec(t.cost), f.cost, where);
  assert.equal(t.fee?.currency, f.fee.currency, where);
  assert.equal(dec(t.fee?.cost), f.fee.cost, where);
}

function assertSameTransfer(t: Transaction, v: EmulatorTransferView, status: string): void {
  const where = `${v.type} ${v.id}`;
  assert.equal(t.id, v.id, where);
  assert.equal(t.type, v.type, where);
  assert.equal(t.currency, v.currency, where);
  assert.equal(dec(t.amount), v.amount, where);
  assert.equal(t.timestamp, v.timestamp, where);
  assert.equal(t.status, status, where);
  assert.equal(t.addressTo, v.address, where);
  // exchanges report a withdrawal's chain hash once it is on chain ("" before: ccxt reads undefined or "")
  if (v.type === 'withdrawal' && v.status !== 'ok') assert.ok(!t.txid, where);
  else assert.equal(t.txid, v.txid, where);
  if (v.type === 'withdrawal') assert.equal(dec(t.fee?.cost), v.fee, where);
}

function byTime<T extends { timestamp: number | undefined }>(list: T[]): T[] {
  return [...list].sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0));
}

/** `n` fills spread over the last `days` days (oldest first), deterministic. */
function seedFills(n: number, days: number, symbols: string[], now: number, prices: Record<string, number>): EmulatorHistoryTradeInput[] {
  const start = now - days * DAY;
  const step = Math.floor((days * DAY - 60_000) / n);
  return Array.from({ length: n }, (_, i) => {
    const symbol = symbols[i % symbols.length] ?? 'BTC/USDT';
    const base = prices[symbol] ?? 100;
    return {
      symbol,
      side: i % 3 === 0 ? 'sell' : 'buy',
      amount: (i % 5) + 1 === 1 ? '0.001' : `0.00${(i % 5) + 1}1`,
      price: String(base + (i % 17) * 0.5),
      at: start + 1_000 + i * step + (i % 7) * 13,
      takerOrMaker: i % 4 === 0 ? 'maker' : 'taker',
    } as const;
  });
}

function seedTransfers(n: number, days: number, now: number, currency = 'USDT'): EmulatorHistoryTransferInput[] {
  const start = now - days * DAY;
  const step = Math.floor((days * DAY - 60_000) / n);
  const statuses = ['ok', 'ok', 'pending', 'failed'] as const;
  return Array.from({ length: n }, (_, i) => ({
    type: i % 3 === 2 ? 'withdrawal' : 'deposit',
    currency,
    amount: `${10 + i}.${i % 10}`,
    ...(i % 3 === 2 ? { fee: '1.5' } : {}),
    status: statuses[i % statuses.length],
    at: start + 2_000 + i * step + (i % 5) * 1_000,
  }));
}

const PRICES = { 'BTC/USDT': 65000, 'ETH/USDT': 3400, 'BTC/USDT:USDT': 65010, 'ETH/USDT:USDT': 3401, 'BTC/USD:BTC': 65020 };

let emu: Emulator;
const now = Date.now();

before(async () => {
  emu = await startEmulator({ scenario: 'empty' });
  emu.freezePrices(true);
});
after(async () => {
  await emu.close();
});

describe('seeded 90-day history, window by window and page by page', () => {
  test('bybit execution/list: 7-day windows, cursor pages of 3, spot and linear, complete and exact', async () => {
    const spot = seedFills(61, 90, ['BTC/USDT', 'ETH/USDT'], now, PRICES);
    const linear = seedFills(23, 90, ['BTC/USDT:USDT', 'ETH/USDT:USDT'], now, PRICES).map((t, i) => ({ ...t, realizedPnl: i % 2 ? '12.5' : '0', closedSize: i % 2 ? t.amount : '0' }));
    emu.setAccount({ exchange: 'bybit', apiKey: 'hist-bybit', secret: 's', balances: {}, trades: [...spot, ...linear] });
    const ex = client(emu, 'bybit', { apiKey: 'hist-bybit', secret: 's' });
    const fills = emu.fills('bybit', 'hist-bybit');
    assert.equal(fills.length, 84);
    for (const [type, kind] of [['spot', 'spot'], ['swap', 'linear']] as const) {
      const got: Trade[] = [];
      let requests = 0;
      for (let from = now - 91 * DAY; from < now; from += 7 * DAY) {
        let cursor: string | undefined;
        do {
          const page = await ex.fetchMyTrades(undefined, from, 3, { type, until: from + 7 * DAY - 1, ...(cursor ? { cursor } : {}) });
          requests++;
          assert.ok(page.length <= 3);
          got.push(...page);
          cursor = page.map((t) => (t.info as { nextPageCursor?: string }).nextPageCursor).find((c) => c);
        } while (cursor);
      }
      const expected = fills.filter((f) => f.kind === kind);
      // 13 windows; the spot ones mostly more than one page
      assert.ok(requests > (kind === 'spot' ? 20 : 12), `${requests} requests`);
      assert.equal(got.length, expected.length, kind);
      byTime(got).forEach((t, i) => assertSameTrade(t, expected[i] as EmulatorFillView));
    }
    // closedSize travels in the raw row (bybit reports no realized PnL per execution)
    const rows = await ex.fetchMyTrades('BTC/USDT:USDT', now - 7 * DAY);
    for (const t of rows) assert.equal((t.info as { closedSize: string }).closedSize, fills.find((f) => f.id === t.id)?.closedSize);
  });

  test('binance myTrades (24-hour windows, pages of 2) and fapi userTrades (7-day windows), complete and exact', async () => {
    // several fills a day, so a 24-hour window needs more than one page of 2
    const spot = seedFills(200, 90, ['BTC/USDT'], now, PRICES).map((t, i) => ({
      ...t,
      fee: i % 6 === 0 ? { currency: 'BNB', cost: '0.0001' } : i % 2 ? { currency: 'USDT' } : undefined,
    }));
    const linear = seedFills(30, 90, ['BTC/USDT:USDT'], now, PRICES).map((t) => ({ ...t, realizedPnl: '-3.25' }));
    emu.setAccount({ exchange: 'binance', apiKey: 'hist-binance', secret: 's', balances: {}, futuresBalances: {}, trades: [...spot, ...linear] });
    const ex = client(emu, 'binance', { apiKey: 'hist-binance', secret: 's' });
    const fills = emu.fills('binance', 'hist-binance');
    const spotFills = fills.filter((f) => f.kind === 'spot');
    // ids increase per symbol with time
    assert.deepEqual(
      spotFills.map((f) => f.id),
      spotFills.map((_, i) => String(Number(spotFills[0]?.id) + i)),
    );
    const got: Trade[] = [];
    let pages = 0;
    for (let from = now - 91 * DAY; from < now; from += DAY) {
      const until = from + DAY - 1;
      let since = from;
      for (;;) {
        const page = await ex.fetchMyTrades('BTC/USDT', since, 2, { until });
        pages++;
        got.push(...page);
        if (page.length < 2) break;
        since = (page[page.length - 1]?.timestamp ?? until) + 1;
      }
    }
    assert.ok(pages > 91);
    assert.equal(got.length, spotFills.length);
    got.forEach((t, i) => assertSameTrade(t, spotFills[i] as EmulatorFillView));

    const futures: Trade[] = [];
    for (let from = now - 91 * DAY; from < now; from += 7 * DAY) futures.push(...(await ex.fetchMyTrades('BTC/USDT:USDT', from, undefined, { until: from + 7 * DAY - 1 })));
    const linearFills = fills.filter((f) => f.kind === 'linear');
    assert.equal(futures.length, linearFills.length);
    futures.forEach((t, i) => {
      assertSameTrade(t, linearFills[i] as EmulatorFillView);
      assert.equal(dec((t.info as { realizedPnl: string }).realizedPnl), '-3.25');
    });

    // fromId pages in id order
    const firstId = spotFills[10]?.id ?? '';
    const fromId = await ex.fetchMyTrades('BTC/USDT', undefined, 5, { fromId: firstId });
    assert.deepEqual(
      fromId.map((t) => t.id),
      spotFills.slice(10, 15).map((f) => f.id),
    );
  });

  test('okx fills-history: after/before pages by billId, 92 days back, SPOT and SWAP, complete and exact', async () => {
    const spot = seedFills(130, 90, ['BTC/USDT', 'ETH/USDT'], now, PRICES).map((t, i) => (i % 4 === 1 ? { ...t, fee: { currency: 'USDT', cost: '0.02' } } : t));
    // okx counts contracts (BTC-USDT-SWAP 0.01 BTC, BTC-USD-SWAP 100 USD)
    const swap = seedFills(40, 90, ['BTC/USDT:USDT', 'BTC/USD:BTC'], now, PRICES).map((t, i) => ({ ...t, amount: String((i % 4) + 1), realizedPnl: i % 2 ? '1.5' : '0' }));
    emu.setAccount({ exchange: 'okx', apiKey: 'hist-okx', secret: 's', passphrase: 'p', balances: {}, trades: [...spot, ...swap] });
    const ex = client(emu, 'okx', { apiKey: 'hist-okx', secret: 's', passphrase: 'p' });
    const fills = emu.fills('okx', 'hist-okx');
    for (const [type, kinds] of [
      ['spot', ['spot']],
      ['swap', ['linear', 'inverse']],
    ] as const) {
      const got: Trade[] = [];
      let afterId: string | undefined;
      for (;;) {
        const page = await ex.fetchMyTrades(undefined, undefined, 25, { type, ...(afterId ? { after: afterId } : {}) });
        if (page.length === 0) break;
        assert.ok(page.length <= 25);
        got.push(...page);
        // ccxt sorts the page oldest first: the oldest billId continues the walk back
        afterId = (page[0]?.info as { billId: string }).billId;
      }
      const expected = fills.filter((f) => (kinds as readonly string[]).includes(f.kind));
      assert.equal(got.length, expected.length, type);
      byTime(got).forEach((t, i) => {
        const f = expected[i] as EmulatorFillView;
        // okx sends no cost: ccxt computes it (inverse: with its own 1/price)
        assertSameTrade(t, f, { cost: f.kind !== 'inverse' });
        assert.equal((t.info as { fillPnl: string }).fillPnl, f.realizedPnl);
      });
    }
    // before: the page just newer than a billId (oldest fills first in time)
    const oldest = fills[0];
    const raw = (await ex.privateGetTradeFillsHistory({ instType: 'SPOT', before: '1', limit: '3' })) as { data: Array<{ tradeId: string }> };
    assert.equal(raw.data.length, 3);
    assert.equal(raw.data[2]?.tradeId, oldest?.id);
  });

  test('deposits and withdrawals: bybit 30-day windows with cursor pages, binance 90-day windows with offsets, okx ts pages', async () => {
    const history = seedTransfers(45, 90, now);
    const expectedStatus = (v: EmulatorTransferView, ex: EmulatorExchange): string => {
      // ccxt's own words for the exchange's codes
      if (v.status !== 'failed') return v.status;
      if (ex === 'bybit') return v.type === 'deposit' ? 'fail' : 'failed';
      if (ex === 'binance') return v.type === 'deposit' ? '2' : 'failed';
      return v.type === 'deposit' ? '11' : 'failed';
    };

    emu.setAccount({ exchange: 'bybit', apiKey: 'tx-bybit', secret: 's', balances: {}, transfers: history });
    const bybit = client(emu, 'bybit', { apiKey: 'tx-bybit', secret: 's' });
    const bybitViews = emu.transfers('bybit', 'tx-bybit');
    for (const type of ['deposit', 'withdrawal'] as const) {
      const got: Transaction[] = [];
      for (let from = now - 91 * DAY; from < now; from += 30 * DAY) {
        let cursor: string | undefined;
        do {
          const params = { until: from + 30 * DAY - 1, ...(cursor ? { cursor } : {}) };
          const page = type === 'deposit' ? await bybit.fetchDeposits(undefined, from, 4, params) : await bybit.fetchWithdrawals(undefined, from, 4, params);
          got.push(...page);
          cursor = page.map((t) => (t.info as { nextPageCursor?: string }).nextPageCursor).find((c) => c);
        } while (cursor);
      }
      const expected = bybitViews.filter((v) => v.type === type);
      assert.equal(got.length, expected.length, `bybit ${type}`);
      byTime(got).forEach((t, i) => assertSameTransfer(t, expected[i] as EmulatorTransferView, expectedStatus(expected[i] as EmulatorTransferView, 'bybit')));
    }

    emu.setAccount({ exchange: 'binance', apiKey: 'tx-binance', secret: 's', balances: {}, transfers: history });
    const binance = client(emu, 'binance', { apiKey: 'tx-binance', secret: 's' });
    const binanceViews = emu.transfers('binance', 'tx-binance');
    for (const type of ['deposit', 'withdrawal'] as const) {
      const got: Transaction[] = [];
      const from = now - 90 * DAY;
      for (let offset = 0; ; offset += 7) {
        const params = { endTime: now, offset };
        const page = type === 'deposit' ? await binance.fetchDeposits(undefined, from, 7, params) : await binance.fetchWithdrawals(undefined, from, 7, params);
        got.push(...page);
        if (page.length < 7) break;
      }
      const expected = binanceViews.filter((v) => v.type === type);
      assert.equal(got.length, expected.length, `binance ${type}`);
      byTime(got).forEach((t, i) => assertSameTransfer(t, expected[i] as EmulatorTransferView, expectedStatus(expected[i] as EmulatorTransferView, 'binance')));
    }

    emu.setAccount({ exchange: 'okx', apiKey: 'tx-okx', secret: 's', passphrase: 'p', balances: {}, transfers: history });
    const okx = client(emu, 'okx', { apiKey: 'tx-okx', secret: 's', passphrase: 'p' });
    const okxViews = emu.transfers('okx', 'tx-okx');
    for (const type of ['deposit', 'withdrawal'] as const) {
      const got: Transaction[] = [];
      let afterTs: number | undefined;
      for (;;) {
        const params = afterTs === undefined ? {} : { after: afterTs };
        const page = type === 'deposit' ? await okx.fetchDeposits(undefined, undefined, 6, params) : await okx.fetchWithdrawals(undefined, undefined, 6, params);
        if (page.length === 0) break;
        got.push(...page);
        afterTs = Math.min(...page.map((t) => t.timestamp ?? now));
      }
      const expected = okxViews.filter((v) => v.type === type);
      assert.equal(got.length, expected.length, `okx ${type}`);
      byTime(got).forEach((t, i) => {
        const v = expected[i] as EmulatorTransferView;
        assertSameTransfer(t, v, expectedStatus(v, 'okx'));
        assert.equal(t.network, v.network, 'okx chain USDT-TRC20 -> TRC20');
      });
    }
  });
});

describe("the exchanges' limits, with their real errors", () => {
  let bybit: Exchange;
  let binance: Exchange;
  let okx: Exchange;
  before(() => {
    emu.setAccount({ exchange: 'bybit', apiKey: 'lim-bybit', secret: 's', balances: {} });
    emu.setAccount({ exchange: 'binance', apiKey: 'lim-binance', secret: 's', balances: {}, futuresBalances: {} });
    emu.setAccount({ exchange: 'okx', apiKey: 'lim-okx', secret: 's', passphrase: 'p', balances: {} });
    bybit = client(emu, 'bybit', { apiKey: 'lim-bybit', secret: 's' });
    binance = client(emu, 'binance', { apiKey: 'lim-binance', secret: 's' });
    okx = client(emu, 'okx', { apiKey: 'lim-okx', secret: 's', passphrase: 'p' });
  });

  test('bybit: an 8-day execution window, limit 101, a 31-day deposit window, no category', async () => {
    await rejects(bybit.fetchMyTrades(undefined, now - 8 * DAY, undefined, { type: 'spot', until: now }), BadRequest, '"retCode":10001');
    await rejects(bybit.fetchMyTrades(undefined, now - 8 * DAY, undefined, { type: 'spot', until: now }), BadRequest, '7 days');
    assert.deepEqual(await bybit.fetchMyTrades(undefined, now - 7 * DAY, undefined, { type: 'spot', until: now }), []);
    await rejects(bybit.fetchMyTrades(undefined, undefined, 101, { type: 'spot' }), BadRequest, 'limit must be between 1 and 100');
    await rejects(bybit.fetchDeposits(undefined, now - 31 * DAY, undefined, { until: now }), BadRequest, '30 days');
    await rejects(bybit.fetchWithdrawals(undefined, undefined, 51), BadRequest, 'limit must be between 1 and 50');
    await rejects(bybit.privateGetV5ExecutionList({}), BadRequest, 'category is required');
  });

  test('binance: no symbol, a 25-hour window, limit 1001, fromId with a time, 8 days on fapi, 91 days of deposits', async () => {
    // ccxt refuses itself; the endpoint answers -1102
    await rejects(binance.fetchMyTrades(), ArgumentsRequired, 'requires a symbol');
    await rejects(binance.privateGetMyTrades({}), BadRequest, '"code":-1102');
    await rejects(binance.fapiPrivateGetUserTrades({}), BadRequest, "Mandatory parameter 'symbol'");
    await rejects(binance.fetchMyTrades('BTC/USDT', now - 25 * 3_600_000, undefined, { until: now }), BadRequest, 'More than 24 hours between startTime and endTime.');
    assert.deepEqual(await binance.fetchMyTrades('BTC/USDT', now - 24 * 3_600_000, undefined, { until: now }), []);
    await rejects(binance.fetchMyTrades('BTC/USDT', undefined, 1001), BadRequest, '"code":-1130');
    await rejects(binance.fetchMyTrades('BTC/USDT', now - 3_600_000, undefined, { fromId: '1' }), BadRequest, '"code":-1128');
    await rejects(binance.fetchMyTrades('BTC/USDT:USDT', now - 8 * DAY, undefined, { until: now }), BadRequest, 'More than 7 days');
    await rejects(binance.dapiPrivateGetUserTrades({}), BadRequest, 'Param symbol or pair must be sent');
    await rejects(binance.fetchDeposits(undefined, undefined, undefined, { startTime: now - 91 * DAY, endTime: now }), BadRequest, 'More than 90 days');
    await rejects(binance.fetchWithdrawals(undefined, undefined, 1001), BadRequest, '"code":-1130');
  });

  test('okx: no instType, limit 101', async () => {
    await rejects(okx.privateGetTradeFillsHistory({}), BadRequest, '"code":"50014"');
    await rejects(okx.fetchMyTrades(undefined, undefined, 101), BadRequest, 'Parameter limit error');
    await rejects(okx.fetchDeposits(undefined, undefined, 101), BadRequest, 'Parameter limit error');
    // fills (the last 3 days) needs no instType
    assert.deepEqual((await okx.privateGetTradeFills({})) as unknown, { code: '0', data: [], msg: '' });
  });
});

describe('trades move the balances', () => {
  test('bybit spot buy (fee in the base) and sell (fee in the quote), exact, and ccxt sees the new balance', async () => {
    emu.setAccount({
      exchange: 'bybit',
      apiKey: 'bal-bybit',
      secret: 's',
      balances: { USDT: { free: '1000.000000000000000001', used: '5' }, BTC: { free: '0.1', used: '0' } },
    });
    const buy = emu.trade('bybit', 'bal-bybit', { symbol: 'BTC/USDT', side: 'buy', amount: '0.012345', price: '65000.5' });
    assert.deepEqual(buy.fee, { currency: 'BTC', cost: '0.000012345', rate: '0.001' });
    assert.equal(buy.cost, '802.4311725');
    let view = emu.account('bybit', 'bal-bybit').balances;
    assert.equal(view.BTC?.free, add('0.1', sub('0.012345', '0.000012345')));
    assert.equal(view.USDT?.free, sub('1000.000000000000000001', mul('0.012345', '65000.5')));
    assert.equal(view.USDT?.used, '5');

    const sell = emu.trade('bybit', 'bal-bybit', { symbol: 'BTC/USDT', side: 'sell', amount: '0.05', price: '66000', fee: { rate: '0.0002' }, takerOrMaker: 'maker' });
    assert.deepEqual(sell.fee, { currency: 'USDT', cost: '0.66', rate: '0.0002' });
    view = emu.account('bybit', 'bal-bybit').balances;
    assert.equal(view.BTC?.free, '0.062332655');
    assert.equal(view.USDT?.free, add(sub('1000.000000000000000001', '802.4311725'), sub('3300', '0.66')));

    const ex = client(emu, 'bybit', { apiKey: 'bal-bybit', secret: 's' });
    const balance = await ex.fetchBalance();
    assert.equal(dec((balance.BTC as { total: unknown }).total), view.BTC?.total);
    assert.equal(dec((balance.USDT as { free: unknown }).free), view.USDT?.free);
    const trades = await ex.fetchMyTrades('BTC/USDT');
    assert.equal(trades.length, 2);
    assertSameTrade(trades[0] as Trade, buy);
    assertSameTrade(trades[1] as Trade, sell);
    // bybit derives the fee coin from the side: another one is refused
    assert.throws(() => emu.trade('bybit', 'bal-bybit', { symbol: 'BTC/USDT', side: 'buy', amount: '0.001', fee: { currency: 'USDT' } }), /bybit charges spot buy fees in BTC/);
  });

  test('binance spot: a fee in the quote, a fee in BNB; a fill the wallet cannot pay is refused and changes nothing', async () => {
    emu.setAccount({
      exchange: 'binance',
      apiKey: 'bal-binance',
      secret: 's',
      balances: { USDT: { free: '500', used: '0' }, ETH: { free: '1', used: '0' }, BNB: { free: '0.5', used: '0' } },
    });
    const buy = emu.trade('binance', 'bal-binance', { symbol: 'ETH/USDT', side: 'buy', amount: '0.1', price: '3400.12', fee: { currency: 'USDT' } });
    assert.deepEqual(buy.fee, { currency: 'USDT', cost: '0.340012', rate: '0.001' });
    const bnb = emu.trade('binance', 'bal-binance', { symbol: 'ETH/USDT', side: 'sell', amount: '0.3', price: '3401', fee: { currency: 'BNB', cost: '0.00123' } });
    const view = emu.account('binance', 'bal-binance').balances;
    assert.equal(view.ETH?.free, '0.8');
    assert.equal(view.USDT?.free, add(sub('500', add('340.012', '0.340012')), '1020.3'));
    assert.equal(view.BNB?.free, '0.49877');

    const before = emu.account('binance', 'bal-binance');
    assert.throws(() => emu.trade('binance', 'bal-binance', { symbol: 'ETH/USDT', side: 'buy', amount: '1', price: '3400' }), EmulatorInputError);
    assert.throws(() => emu.trade('binance', 'bal-binance', { symbol: 'ETH/USDT', side: 'sell', amount: '0.8', price: '3400', fee: { currency: 'ETH' } }), /needs 0.8008 ETH free/);
    assert.deepEqual(emu.account('binance', 'bal-binance'), before);
    assert.equal(emu.fills('binance', 'bal-binance').length, 2);

    const ex = client(emu, 'binance', { apiKey: 'bal-binance', secret: 's' });
    const trades = await ex.fetchMyTrades('ETH/USDT');
    assertSameTrade(trades[0] as Trade, buy);
    assertSameTrade(trades[1] as Trade, bnb);
  });

  test('over the control API: POST trades, deposits, withdrawals, transfer status; bad bodies get 400', async () => {
    emu.setAccount({ exchange: 'okx', apiKey: 'ctl-okx', secret: 's', passphrase: 'p', balances: { USDT: { free: '100', used: '0' } }, fundingBalances: {} });
    const post = async (path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await fetch(`${emu.url}/_emulator/accounts/okx/ctl-okx/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const fill = await post('trades', { symbol: 'BTC/USDT', side: 'buy', amount: '0.001', price: '60000' });
    assert.equal(fill.status, 201);
    assert.equal(fill.json.cost, '60');
    assert.equal(emu.account('okx', 'ctl-okx').balances.USDT?.free, '40');
    assert.equal((await post('trades', { symbol: 'BTC/USDT', side: 'buy', amount: '1' })).status, 400);
    const bad = await post('trades', { symbol: 'BTC/USDT', side: 'long', amount: 1 });
    assert.equal(bad.status, 400);
    assert.match(String(bad.json.error), /side: .*amount: /);
    const dep = await post('deposits', { currency: 'USDT', amount: '25', status: 'pending' });
    assert.equal(dep.status, 201);
    assert.equal(emu.account('okx', 'ctl-okx').fundingBalances.USDT, undefined);
    const ok = await post(`transfers/${String(dep.json.id)}/status`, { status: 'ok' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.exchangeStatus, '2');
    assert.equal(emu.account('okx', 'ctl-okx').fundingBalances.USDT?.free, '25');
    assert.equal((await post('withdrawals', { currency: 'USDT', amount: '30' })).status, 400);
    const list = (await (await fetch(`${emu.url}/_emulator/accounts/okx/ctl-okx/transfers`)).json()) as unknown[];
    assert.equal(list.length, 1);
    const trades = (await (await fetch(`${emu.url}/_emulator/accounts/okx/ctl-okx/trades`)).json()) as unknown[];
    assert.equal(trades.length, 1);
  });
});

describe('transfers', () => {
  test('a pending deposit becomes ok: credited then, and ccxt sees pending then ok (bybit FUND, binance spot, okx funding)', async () => {
    for (const exchange of ['bybit', 'binance', 'okx'] as const) {
      const apiKey = `dep-${exchange}`;
      emu.setAccount({ exchange, apiKey, secret: 's', ...(exchange === 'okx' ? { passphrase: 'p' } : {}), balances: { USDT: { free: '10', used: '0' } }, fundingBalances: { USDT: { free: '10', used: '0' } } });
      const wallet = (): string | undefined => {
        const a = emu.account(exchange, apiKey);
        return (exchange === 'binance' ? a.balances : a.fundingBalances).USDT?.free;
      };
      const ex = client(emu, exchange, { apiKey, secret: 's', passphrase: 'p' });
      const dep = emu.deposit(exchange, apiKey, { currency: 'USDT', amount: '123.456789', status: 'pending', network: exchange === 'okx' ? 'ERC20' : 'ETH', txid: '0xabc' });
      assert.equal(wallet(), '10');
      let [seen] = await ex.fetchDeposits();
      assert.ok(seen);
      assertSameTransfer(seen, dep, 'pending');
      const ok = emu.setTransferStatus(exchange, apiKey, dep.id, 'ok');
      assert.equal(ok.status, 'ok');
      assert.equal(wallet(), '133.456789');
      [seen] = await ex.fetchDeposits();
      assert.ok(seen);
      assertSameTransfer(seen, ok, 'ok');
      assert.equal(seen.txid, '0xabc');
      assert.throws(() => emu.setTransferStatus(exchange, apiKey, dep.id, 'failed'), /final/);
      assert.throws(() => emu.setTransferStatus(exchange, apiKey, 'nope', 'ok'), /no transfer "nope"/);
    }
  });

  test('a pending withdrawal locks amount + fee, ok takes it, failed gives it back', async () => {
    emu.setAccount({ exchange: 'bybit', apiKey: 'wd-bybit', secret: 's', balances: {}, fundingBalances: { USDT: { free: '100', used: '0' } } });
    const funding = (): unknown => emu.account('bybit', 'wd-bybit').fundingBalances.USDT;
    const a = emu.withdraw('bybit', 'wd-bybit', { currency: 'USDT', amount: '40', fee: '1', status: 'pending', at: now - 2_000 });
    assert.deepEqual(funding(), { free: '59', used: '41', total: '100' });
    emu.setTransferStatus('bybit', 'wd-bybit', a.id, 'ok');
    assert.deepEqual(funding(), { free: '59', used: '0', total: '59' });
    const b = emu.withdraw('bybit', 'wd-bybit', { currency: 'USDT', amount: '50', fee: '1', status: 'pending', at: now - 1_000 });
    emu.setTransferStatus('bybit', 'wd-bybit', b.id, 'failed');
    assert.deepEqual(funding(), { free: '59', used: '0', total: '59' });
    assert.throws(() => emu.withdraw('bybit', 'wd-bybit', { currency: 'USDT', amount: '59', fee: '0.5' }), /cannot withdraw/);
    const ex = client(emu, 'bybit', { apiKey: 'wd-bybit', secret: 's' });
    const seen = byTime(await ex.fetchWithdrawals());
    assert.deepEqual(
      seen.map((t) => t.status),
      ['ok', 'failed'],
    );
    assertSameTransfer(seen[0] as Transaction, emu.transfers('bybit', 'wd-bybit')[0] as EmulatorTransferView, 'ok');
  });
});

describe('derivatives fills', () => {
  test('binance USD-M: reducing a long realizes PnL into the futures wallet, charges the fee there, userTrades reports realizedPnl', async () => {
    emu.setAccount({
      exchange: 'binance',
      apiKey: 'drv-binance',
      secret: 's',
      balances: {},
      futuresBalances: { USDT: { free: '1000', used: '0' } },
      deliveryBalances: { BTC: { free: '0.1', used: '0' } },
      positions: [
        { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.3', entryPrice: '60000', leverage: '10', marginMode: 'cross' },
        { symbol: 'BTC/USD:BTC', side: 'short', contracts: '10', entryPrice: '64000', leverage: '5', marginMode: 'cross' },
      ],
    });
    const fill = emu.trade('binance', 'drv-binance', { symbol: 'BTC/USDT:USDT', side: 'sell', amount: '0.1', price: '61234.5', fee: { rate: '0.0005' } });
    assert.equal(fill.realizedPnl, '123.45');
    assert.equal(fill.closedSize, '0.1');
    assert.deepEqual(fill.fee, { currency: 'USDT', cost: '3.061725', rate: '0.0005' });
    const view = emu.account('binance', 'drv-binance');
    assert.equal(view.futuresBalances.USDT?.free, '1120.388275');
    assert.equal(view.positions.find((p) => p.symbol === 'BTC/USDT:USDT')?.contracts, '0.2');

    // COIN-M: buying back 4 of 10 short contracts (100 USD each) at 62000: PnL in BTC
    const inverse = emu.trade('binance', 'drv-binance', { symbol: 'BTC/USD:BTC', side: 'buy', amount: '4', price: '62000' });
    // 400 USD * (1/62000 - 1/64000), short: positive
    assert.equal(inverse.realizedPnl, '0.00020161');
    assert.equal(inverse.cost, '0.00645161');
    assert.equal(emu.account('binance', 'drv-binance').deliveryBalances.BTC?.free, add(sub('0.1', inverse.fee.cost), '0.00020161'));

    const ex = client(emu, 'binance', { apiKey: 'drv-binance', secret: 's' });
    const [t] = await ex.fetchMyTrades('BTC/USDT:USDT');
    assert.ok(t);
    assertSameTrade(t, fill);
    assert.equal(dec((t.info as { realizedPnl: string }).realizedPnl), '123.45');
    const [ti] = await ex.fetchMyTrades('BTC/USD:BTC');
    assert.ok(ti);
    assertSameTrade(ti, inverse);
    assert.equal(dec((ti.info as { realizedPnl: string }).realizedPnl), '0.00020161');
    const positions = await ex.fetchPositions(['BTC/USDT:USDT']);
    assert.equal(dec(positions[0]?.contracts), '0.2');
  });

  test('bybit: a fill through zero flips the position; opening averages the entry; a loss the wallet cannot pay is refused', async () => {
    emu.setAccount({
      exchange: 'bybit',
      apiKey: 'drv-bybit',
      secret: 's',
      balances: { USDT: { free: '500', used: '0' } },
      positions: [{ symbol: 'ETH/USDT:USDT', side: 'short', contracts: '1', entryPrice: '3500', leverage: '5', marginMode: 'isolated' }],
    });
    const flip = emu.trade('bybit', 'drv-bybit', { symbol: 'ETH/USDT:USDT', side: 'buy', amount: '1.5', price: '3400', fee: { cost: '0' } });
    assert.equal(flip.realizedPnl, '100');
    assert.equal(flip.closedSize, '1');
    let pos = emu.account('bybit', 'drv-bybit').positions.find((p) => p.symbol === 'ETH/USDT:USDT');
    assert.deepEqual([pos?.side, pos?.contracts, pos?.entryPrice, pos?.leverage], ['long', '0.5', '3400', '5']);
    emu.trade('bybit', 'drv-bybit', { symbol: 'ETH/USDT:USDT', side: 'buy', amount: '0.5', price: '3500', fee: { cost: '0' } });
    pos = emu.account('bybit', 'drv-bybit').positions.find((p) => p.symbol === 'ETH/USDT:USDT');
    assert.deepEqual([pos?.contracts, pos?.entryPrice], ['1', '3450']);
    assert.equal(emu.account('bybit', 'drv-bybit').balances.USDT?.free, '600');
    assert.throws(() => emu.trade('bybit', 'drv-bybit', { symbol: 'ETH/USDT:USDT', side: 'sell', amount: '1', price: '2800' }), /cannot sell 1 ETH\/USDT:USDT at 2800/);
    assert.throws(() => emu.trade('bybit', 'drv-bybit', { symbol: 'ETH/USDT:USDT', side: 'buy', amount: '1', fee: { currency: 'ETH' } }), /settle coin USDT/);

    const ex = client(emu, 'bybit', { apiKey: 'drv-bybit', secret: 's' });
    const trades = await ex.fetchMyTrades('ETH/USDT:USDT');
    assert.equal(trades.length, 2);
    assertSameTrade(trades[0] as Trade, flip);
    assert.equal((trades[0]?.info as { closedSize: string }).closedSize, '1');
  });
});

describe('demo activity', () => {
  test('tradeEveryMs makes spot fills round-robin and a deposit now and then; close() stops it', async () => {
    const demo = await startEmulator({ tradeEveryMs: 15, driftMs: 0 });
    try {
      const deadline = Date.now() + 5_000;
      const count = (ex: EmulatorExchange): number => demo.fills(ex, DEMO_ACCOUNTS[ex].apiKey).length;
      while ((count('bybit') < 4 || count('binance') < 4 || count('okx') < 4) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const ex of ['bybit', 'binance', 'okx'] as const) {
        const fills = demo.fills(ex, DEMO_ACCOUNTS[ex].apiKey);
        assert.ok(fills.length >= 4, `${ex}: ${fills.length} fills`);
        for (const f of fills) assert.ok(['BTC/USDT', 'ETH/USDT'].includes(f.symbol), f.symbol);
        assert.ok(demo.transfers(ex, DEMO_ACCOUNTS[ex].apiKey).some((t) => t.type === 'deposit' && t.status === 'ok'), `${ex} deposit`);
      }
      // the fills are served like any other
      const bybit = client(demo, 'bybit', DEMO_ACCOUNTS.bybit);
      const trades = await bybit.fetchMyTrades(undefined, undefined, undefined, { type: 'spot' });
      assert.ok(trades.length >= 4);
    } finally {
      await demo.close();
    }
    const after = demo.fills('okx', DEMO_ACCOUNTS.okx.apiKey).length;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(demo.fills('okx', DEMO_ACCOUNTS.okx.apiKey).length, after);
  });
});
