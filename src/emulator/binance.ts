// Binance spot (/api/v3) and USD-M futures (/fapi), the subset ccxt's loadMarkets,
// fetchBalance, fetchPositions, fetchTickers and fetchTime call. Replies are copies of recorded
// binance rows with the state's values written in; errors are {code, msg} with binance's
// HTTP statuses (401 key, 400 signature/timestamp, 429 rate limit).
import type { IncomingHttpHeaders } from 'node:http';
import { add, cmp, decimalsOf, div, mul, neg, padded, round, sub, sum } from './decimal.js';
import { clone, type Json, type MarketInfo, type MarketKind } from './fixtures.js';
import { DAY_MS, exchangeStatus, fillCost, timeWindow, type Fill, type Transfer, type Window } from './history.js';
import type { WalletName } from './schemas.js';
import { binanceSignedParams, hmacHex, sameSignature } from './signatures.js';
import { unrealizedIn, type Account, type Balance, type EmulatorState } from './state.js';
import type { EmulatorPositionView } from './types.js';
import { header, notFound, type ExchangeModule, type ExchangeRequest, type Reply } from './wire.js';

/** Maintenance margin rate for symbols the recorded leverage brackets do not cover. */
const FALLBACK_MAINTENANCE_RATE = '0.01';

type Ctx = { req: ExchangeRequest; state: EmulatorState; account?: Account };
type Route = { signed: boolean; handle(ctx: Ctx): Reply };

function json(body: unknown, status = 200, headers?: Record<string, string>): Reply {
  return { status, body, headers };
}

function error(status: number, code: number, msg: string, headers?: Record<string, string>): Reply {
  return { status, body: { code, msg }, headers };
}

function isReply(v: unknown): v is Reply {
  return typeof v === 'object' && v !== null && 'status' in v && 'body' in v;
}

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('signed route without account');
  return v;
}

const SPOT_LIMITS = [
  { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
  { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
  { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
  { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
];
const FUTURES_LIMITS = [
  { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 },
  { rateLimitType: 'ORDERS', interval: 'MINUTE', intervalNum: 1, limit: 1200 },
  { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 300 },
];

/** Binance writes amounts with at least 8 decimals ("0.91974100"); more are kept, never cut. */
const amount = (v: string): string => padded(v, 8);

// --- market data -------------------------------------------------------------------------------

function exchangeInfo(kind: MarketKind) {
  return (ctx: Ctx): Reply => {
    const { req, state } = ctx;
    let markets = state.markets('binance', kind);
    const filter = symbolsParam(req.query);
    if (isReply(filter)) return filter;
    if (filter) {
      markets = markets.filter((m) => filter.includes(m.id));
      if (markets.length !== filter.length) return error(400, -1121, 'Invalid symbol.');
    }
    return json({
      timezone: 'UTC',
      serverTime: req.now,
      rateLimits: kind === 'spot' ? SPOT_LIMITS : FUTURES_LIMITS,
      exchangeFilters: [],
      symbols: markets.map((m) => clone(m.row)),
    });
  };
}

/** `symbol=X` or `symbols=["X","Y"]` (ccxt sends the JSON list form, url-encoded). */
function symbolsParam(q: URLSearchParams): string[] | undefined | Reply {
  const one = q.get('symbol');
  if (one !== null) return [one];
  const many = q.get('symbols');
  if (many === null) return undefined;
  try {
    const parsed: unknown = JSON.parse(many);
    if (Array.isArray(parsed) && parsed.every((s) => typeof s === 'string')) return parsed as string[];
  } catch {
    // fall through to binance's answer for a malformed list
  }
  return error(400, -1100, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.");
}

function tickerRow(state: EmulatorState, m: MarketInfo, now: number): Json {
  const s = state.prices.binance.stats(m.symbol);
  // spot pads prices to 8 decimals, futures write the tick's decimals
  const dp = m.kind === 'spot' ? 8 : decimalsOf(m.tick);
  const px = (v: string): string => padded(round(v, dp), dp);
  const change = sub(s.last, s.open);
  const row: Json = {
    ...clone(state.fixtures.binance.spotTicker),
    symbol: m.id,
    priceChange: px(change),
    priceChangePercent: padded(round(mul(div(change, s.open, 10), '100'), 3), 3),
    weightedAvgPrice: px(div(add(s.open, s.last), '2', dp)),
    prevClosePrice: px(s.open),
    lastPrice: px(s.last),
    bidPrice: px(sub(s.last, s.tick)),
    askPrice: px(s.last),
    openPrice: px(s.open),
    highPrice: px(s.high),
    lowPrice: px(s.low),
    openTime: String(now - 86400_000),
    closeTime: String(now),
  };
  if (m.kind !== 'spot') {
    // the USD-M 24hr ticker has no book or previous-close fields (ccxt tells spot from futures by bidQty)
    for (const k of ['prevClosePrice', 'bidPrice', 'bidQty', 'askPrice', 'askQty']) delete row[k];
  }
  if (m.kind === 'inverse') {
    // COIN-M: volume in contracts, baseVolume in the coin, no quote volume; a `pair` after the symbol
    const { symbol, quoteVolume: _quote, ...rest } = row;
    return { symbol, pair: m.row.pair, ...rest, baseVolume: row.volume };
  }
  return row;
}

function ticker24hr(kind: MarketKind) {
  return (ctx: Ctx): Reply => {
    const { req, state } = ctx;
    const filter = symbolsParam(req.query);
    if (isReply(filter)) return filter;
    let markets = state.markets('binance', kind);
    if (filter) {
      markets = markets.filter((m) => filter.includes(m.id));
      if (markets.length !== filter.length) return error(400, -1121, 'Invalid symbol.');
    }
    const rows = markets.map((m) => tickerRow(state, m, req.now));
    // a single `symbol` gets an object, a list or nothing gets a list
    return json(req.query.get('symbol') !== null ? rows[0] : rows);
  };
}

function serverTime(ctx: Ctx): Reply {
  return json({ serverTime: ctx.req.now });
}

// --- spot account ------------------------------------------------------------------------------

function spotAccount(ctx: Ctx): Reply {
  const account = must(ctx.account);
  const omitZero = ctx.req.query.get('omitZeroBalances') === 'true';
  const balances = Object.entries(account.balances)
    .filter(([, b]) => !omitZero || cmp(add(b.free, b.used), '0') !== 0)
    .map(([asset, b]) => ({ asset, free: amount(b.free), locked: amount(b.used) }));
  return json({ ...clone(ctx.state.fixtures.binance.spotAccount), updateTime: String(account.createdAt), accountType: 'SPOT', balances });
}

// --- futures (USD-M /fapi and COIN-M /dapi) ---------------------------------------------------------

/** USD-M (/fapi) holds the linear positions, COIN-M (/dapi) the inverse ones. */
type Book = 'linear' | 'inverse';

function brackets(state: EmulatorState, symbol: string): Array<[string, string]> {
  return state.fixtures.binance.leverageBrackets[symbol] ?? [];
}

/** The rate of the bracket the notional falls in (USD-M: notional in USD; COIN-M: in the coin, as binance's qtyFloor). */
function maintenanceRate(state: EmulatorState, symbol: string, notional: string): string {
  let rate = FALLBACK_MAINTENANCE_RATE;
  for (const [floor, mmr] of brackets(state, symbol)) {
    if (cmp(notional, floor) < 0) break;
    rate = mmr;
  }
  return rate;
}

interface FuturesFigures {
  v: EmulatorPositionView;
  market: MarketInfo;
  signedAmt: string;
  signedNotional: string;
  initialMargin: string;
  maintMargin: string;
  isolatedWallet: string;
  isolatedMargin: string;
}

function figures(state: EmulatorState, account: Account, book: Book): FuturesFigures[] {
  return account.positions
    .filter((p) => p.market.kind === book)
    .map((p) => {
      const v = state.positionView('binance', p);
      const sign = (x: string): string => (v.side === 'short' ? neg(x) : x);
      const isolatedWallet = v.marginMode === 'isolated' ? round(div(v.positionValue, v.leverage, 8), 8) : '0';
      return {
        v,
        market: p.market,
        signedAmt: sign(v.contracts),
        signedNotional: sign(v.notional),
        initialMargin: round(div(v.notional, v.leverage, 8), 8),
        maintMargin: round(mul(v.notional, maintenanceRate(state, v.symbol, v.notional)), 8),
        isolatedWallet,
        // binance reports isolated margin as wallet + unrealized PnL; zero means cross to ccxt
        isolatedMargin: v.marginMode === 'isolated' ? add(isolatedWallet, v.unrealizedPnl) : '0',
      };
    });
}

function positionRiskRow(ctx: Ctx, f: FuturesFigures, updateTime: string, v2: boolean): Json {
  const row: Json = {
    ...clone(ctx.state.fixtures.binance.positionRiskV3),
    symbol: f.market.id,
    positionSide: 'BOTH',
    positionAmt: f.signedAmt,
    entryPrice: f.v.entryPrice,
    breakEvenPrice: f.v.entryPrice,
    markPrice: amount(f.v.markPrice),
    unRealizedProfit: amount(f.v.unrealizedPnl),
    liquidationPrice: '0',
    isolatedMargin: amount(f.isolatedMargin),
    notional: amount(f.signedNotional),
    marginAsset: f.v.settle,
    isolatedWallet: f.isolatedWallet,
    initialMargin: amount(f.initialMargin),
    maintMargin: amount(f.maintMargin),
    positionInitialMargin: amount(f.initialMargin),
    openOrderInitialMargin: '0',
    bidNotional: '0',
    askNotional: '0',
    updateTime,
  };
  if (!v2) return row;
  // v2 rows lack the margin figures and carry leverage and margin type (see ccxt parsePositionRisk)
  for (const k of ['initialMargin', 'maintMargin', 'positionInitialMargin', 'openOrderInitialMargin', 'adl', 'bidNotional', 'askNotional', 'marginAsset']) {
    delete row[k];
  }
  return {
    ...row,
    leverage: f.v.leverage,
    maxNotionalValue: '0',
    marginType: f.v.marginMode,
    isAutoAddMargin: 'false',
    isolated: f.v.marginMode === 'isolated',
    adlQuantile: '0',
  };
}

function positionRisk(v2: boolean) {
  return (ctx: Ctx): Reply => {
    const account = must(ctx.account);
    const symbol = ctx.req.query.get('symbol');
    if (symbol !== null && !ctx.state.marketById('binance', 'linear', symbol)) return error(400, -1121, 'Invalid symbol.');
    const rows = figures(ctx.state, account, 'linear')
      .filter((f) => symbol === null || f.market.id === symbol)
      .map((f) => positionRiskRow(ctx, f, String(account.createdAt), v2));
    return json(rows);
  };
}

function futuresAsset(ctx: Ctx, asset: string, b: Balance, figs: FuturesFigures[], account: Account, template: Json): Json {
  const total = add(b.free, b.used);
  const upnl = unrealizedIn(
    figs.map((f) => f.v),
    asset,
  );
  const maint = sum(figs.filter((f) => f.v.settle === asset).map((f) => f.maintMargin));
  const wallet = sub(total, upnl);
  return {
    ...clone(template),
    asset,
    walletBalance: amount(wallet),
    unrealizedProfit: amount(upnl),
    // ccxt reads total = marginBalance, free = availableBalance, used = initialMargin
    marginBalance: amount(total),
    maintMargin: amount(maint),
    initialMargin: amount(b.used),
    positionInitialMargin: amount(b.used),
    openOrderInitialMargin: amount('0'),
    crossWalletBalance: amount(wallet),
    crossUnPnl: amount(upnl),
    availableBalance: amount(b.free),
    maxWithdrawAmount: amount(b.free),
    // ccxt skips assets whose updateTime is 0 as never initialised
    updateTime: String(account.createdAt),
  };
}

function accountPositionRow(ctx: Ctx, f: FuturesFigures, updateTime: string, v2: boolean): Json {
  const row: Json = {
    ...clone(ctx.state.fixtures.binance.accountPositionV3),
    symbol: f.market.id,
    positionSide: 'BOTH',
    positionAmt: f.signedAmt,
    unrealizedProfit: amount(f.v.unrealizedPnl),
    isolatedMargin: amount(f.isolatedMargin),
    notional: amount(f.signedNotional),
    isolatedWallet: f.isolatedWallet,
    initialMargin: amount(f.initialMargin),
    maintMargin: amount(f.maintMargin),
    updateTime,
  };
  if (!v2) return row;
  return {
    ...row,
    leverage: f.v.leverage,
    entryPrice: f.v.entryPrice,
    positionInitialMargin: amount(f.initialMargin),
    openOrderInitialMargin: '0',
    isolated: f.v.marginMode === 'isolated',
    breakEvenPrice: f.v.entryPrice,
    maxNotional: '0',
    bidNotional: '0',
    askNotional: '0',
  };
}

function futuresAccount(v2: boolean) {
  return (ctx: Ctx): Reply => {
    const { state } = ctx;
    const account = must(ctx.account);
    const figs = figures(state, account, 'linear');
    const updateTime = String(account.createdAt);
    const assetTemplate = v2 ? state.fixtures.binance.futuresAssetV2 : state.fixtures.binance.futuresAssetV3;
    const assets = Object.entries(account.futuresBalances).map(([asset, b]) => futuresAsset(ctx, asset, b, figs, account, assetTemplate));
    const usd = (field: string): string =>
      round(
        sum(
          assets.map((a) => {
            const price = state.usdPrice('binance', String(a.asset)) ?? '0';
            return mul(String(a[field]), price);
          }),
        ),
        8,
      );
    const totalInitial = usd('initialMargin');
    const template = v2 ? state.fixtures.binance.futuresAccountV2 : state.fixtures.binance.futuresAccountV3;
    return json({
      ...clone(template),
      totalInitialMargin: amount(totalInitial),
      totalMaintMargin: amount(usd('maintMargin')),
      totalWalletBalance: amount(usd('walletBalance')),
      totalUnrealizedProfit: amount(usd('unrealizedProfit')),
      totalMarginBalance: amount(usd('marginBalance')),
      totalPositionInitialMargin: amount(totalInitial),
      totalOpenOrderInitialMargin: amount('0'),
      totalCrossWalletBalance: amount(usd('crossWalletBalance')),
      totalCrossUnPnl: amount(usd('crossUnPnl')),
      availableBalance: amount(usd('availableBalance')),
      maxWithdrawAmount: amount(usd('maxWithdrawAmount')),
      ...(v2 ? { updateTime: '0' } : {}),
      assets,
      positions: figs.map((f) => accountPositionRow(ctx, f, updateTime, v2)),
    });
  };
}

// COIN-M: amounts in the coin, contracts worth contractSize USD each (BTCUSD_PERP 100, ETHUSD_PERP 10)

function deliveryPositionFields(f: FuturesFigures): Json {
  return {
    symbol: f.market.id,
    positionAmt: f.signedAmt,
    entryPrice: amount(f.v.entryPrice),
    markPrice: amount(f.v.markPrice),
    unRealizedProfit: amount(f.v.unrealizedPnl),
    liquidationPrice: '0',
    leverage: f.v.leverage,
    marginType: f.v.marginMode,
    isolatedMargin: amount(f.isolatedMargin),
    positionSide: 'BOTH',
    // signed like positionAmt, in the coin at the mark price
    notionalValue: amount(f.signedNotional),
    isolatedWallet: f.isolatedWallet,
    breakEvenPrice: amount(f.v.entryPrice),
  };
}

/** GET /dapi/v1/positionRisk (ccxt: fetchPositions with subType inverse). */
function deliveryPositionRisk(ctx: Ctx): Reply {
  const account = must(ctx.account);
  const q = ctx.req.query;
  const symbol = q.get('symbol');
  const pair = q.get('pair') ?? q.get('marginAsset');
  if (symbol !== null && !ctx.state.marketById('binance', 'inverse', symbol)) return error(400, -1121, 'Invalid symbol.');
  const rows = figures(ctx.state, account, 'inverse')
    .filter((f) => symbol === null || f.market.id === symbol)
    .filter((f) => pair === null || f.market.row.pair === pair || f.market.base === pair)
    .map((f) => ({ ...clone(ctx.state.fixtures.binance.deliveryPositionRisk), ...deliveryPositionFields(f), updateTime: String(account.createdAt) }));
  return json(rows);
}

/** GET /dapi/v1/account (ccxt: fetchBalance type delivery / subType inverse; fetchPositions method account). */
function deliveryAccount(ctx: Ctx): Reply {
  const { state } = ctx;
  const account = must(ctx.account);
  const figs = figures(state, account, 'inverse');
  const template = state.fixtures.binance.deliveryAccount;
  const assets = Object.entries(account.deliveryBalances).map(([asset, b]) => futuresAsset(ctx, asset, b, figs, account, state.fixtures.binance.deliveryAsset));
  const positions = figs.map((f) => {
    const fields = deliveryPositionFields(f);
    return {
      ...clone(state.fixtures.binance.deliveryAccountPosition),
      symbol: fields.symbol,
      initialMargin: amount(f.initialMargin),
      maintMargin: amount(f.maintMargin),
      unrealizedProfit: fields.unRealizedProfit,
      positionInitialMargin: amount(f.initialMargin),
      openOrderInitialMargin: '0',
      leverage: fields.leverage,
      isolated: f.v.marginMode === 'isolated',
      positionSide: 'BOTH',
      entryPrice: fields.entryPrice,
      notionalValue: fields.notionalValue,
      isolatedWallet: fields.isolatedWallet,
      updateTime: String(account.createdAt),
      positionAmt: fields.positionAmt,
      breakEvenPrice: fields.breakEvenPrice,
    };
  });
  return json({ ...clone(template), updateTime: String(account.createdAt), assets, positions });
}

/**
 * Leverage brackets per symbol, rebuilt from the floors and rates ccxt recorded. USD-M
 * (/fapi/v1/leverageBracket) writes notionalFloor/notionalCap in USD; COIN-M
 * (/dapi/v2/leverageBracket) writes qtyFloor/qtyCap in the coin.
 */
function leverageBracket(book: Book) {
  return (ctx: Ctx): Reply => {
    const symbol = ctx.req.query.get('symbol');
    const markets = ctx.state.markets('binance', book).filter((m) => symbol === null || m.id === symbol);
    if (symbol !== null && markets.length === 0) return error(400, -1121, 'Invalid symbol.');
    const rows = markets
      .filter((m) => brackets(ctx.state, m.symbol).length > 0)
      .map((m) => {
        const list = brackets(ctx.state, m.symbol);
        let cum = '0';
        let previousRate = '0';
        const rows = list.map(([floor, rate], i) => {
          // cum is binance's maintenance amount, continuous across bracket edges
          cum = add(cum, mul(floor, sub(rate, previousRate)));
          previousRate = rate;
          const cap = list[i + 1]?.[0] ?? mul(floor, '2');
          const initialLeverage = Number(div('1', mul('2', rate), 0, 'down'));
          return book === 'linear'
            ? { bracket: i + 1, initialLeverage, notionalCap: Number(cap), notionalFloor: Number(floor), maintMarginRatio: Number(rate), cum: Number(cum) }
            : { bracket: i + 1, initialLeverage, qtyCap: Number(cap), qtyFloor: Number(floor), maintMarginRatio: Number(rate), cum: Number(cum) };
        });
        return book === 'linear' ? { symbol: m.id, brackets: rows } : { symbol: m.id, notionalCoef: 1, brackets: rows };
      });
    // binance answers a single `symbol` with the object itself (USD-M)
    return json(symbol !== null && book === 'linear' ? rows[0] ?? [] : rows);
  };
}

// --- wallet (sapi) -----------------------------------------------------------------------------

/** GET /sapi/v1/account/info: account flags (ccxt has no unified method for it; privateness only). */
function accountInfo(ctx: Ctx): Reply {
  const account = must(ctx.account);
  return json({
    vipLevel: 0,
    isMarginEnabled: false,
    isFutureEnabled: account.hasFutures,
    isOptionsEnabled: false,
    isPortfolioMarginRetailEnabled: account.portfolioMargin,
  });
}

/** POST /sapi/v1/asset/get-funding-asset (ccxt: fetchBalance({type: 'funding'})); parameters in the form body. */
function fundingAsset(ctx: Ctx): Reply {
  const { state } = ctx;
  const account = must(ctx.account);
  const params = signedParams(ctx.req);
  const only = params.get('asset');
  const btc = state.usdPrice('binance', 'BTC');
  const rows = Object.entries(account.fundingBalances)
    .filter(([asset]) => only === null || asset === only)
    .map(([asset, b]) => {
      const price = state.usdPrice('binance', asset);
      const total = add(b.free, b.used);
      const btcValuation = asset === 'BTC' ? total : price !== undefined && btc !== undefined ? div(mul(total, price), btc, 8) : '0';
      return { asset, free: b.free, locked: b.used, freeze: '0', withdrawing: '0', btcValuation };
    });
  return json(rows);
}

/** ccxt loads margin pairs with markets when options.fetchMargins is on (its default). */
function noMarginPairs(): Reply {
  return json([]);
}

// --- history: trades, deposits, withdrawals ---------------------------------------------------------

const HOUR_MS = 3_600_000;
/** myTrades / userTrades: limit default 500, at most 1000 */
const TRADES_DEFAULT_LIMIT = 500;
const TRADES_MAX_LIMIT = 1000;
/** capital deposit/withdraw history: limit default 1000, at most 1000; windows of at most 90 days */
const CAPITAL_DEFAULT_LIMIT = 1000;
const CAPITAL_MAX_LIMIT = 1000;

function limitParam(q: URLSearchParams, fallback: number, max: number): number | Reply {
  const raw = q.get('limit');
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) return error(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.");
  const n = Number(raw);
  if (n < 1 || n > max) return error(400, -1130, "Data sent for parameter 'limit' is not valid.");
  return n;
}

function windowError(w: Window, spanText: string): Reply | undefined {
  if (!('error' in w)) return undefined;
  if (w.error === 'invalid') return error(400, -1100, `Illegal characters found in parameter '${w.param}'; legal range is '^[0-9]{1,20}$'.`);
  return error(400, -1127, `More than ${spanText} between startTime and endTime.`);
}

function inWindow(ts: number, w: Window): boolean {
  return !('error' in w) && ts >= w.from && ts <= w.to;
}

const side = (f: Fill): string => (f.side === 'buy' ? 'BUY' : 'SELL');

/** COIN-M userTrades row: not in the recordings; the field list of ccxt's parseTrade comment for /dapi/v1/userTrades (and binance's docs), in that order. */
const DELIVERY_TRADE: Json = {
  symbol: '',
  id: '',
  orderId: '',
  pair: '',
  side: '',
  price: '',
  qty: '',
  realizedPnl: '',
  marginAsset: '',
  baseQty: '',
  commission: '',
  commissionAsset: '',
  time: '',
  positionSide: 'BOTH',
  buyer: false,
  maker: false,
};

function tradeRow(state: EmulatorState, f: Fill): Json {
  const m = f.market;
  if (m.kind === 'spot') {
    return {
      ...clone(state.fixtures.binance.spotTrade),
      symbol: m.id,
      id: f.id,
      orderId: f.orderId,
      orderListId: '-1',
      price: amount(f.price),
      qty: amount(f.amount),
      quoteQty: amount(fillCost(f)),
      commission: amount(f.fee.cost),
      commissionAsset: f.fee.currency,
      time: String(f.timestamp),
      isBuyer: f.side === 'buy',
      isMaker: f.takerOrMaker === 'maker',
      isBestMatch: true,
    };
  }
  const common = {
    symbol: m.id,
    id: f.id,
    orderId: f.orderId,
    side: side(f),
    // futures write prices with the tick's decimals
    price: padded(f.price, decimalsOf(m.tick)),
    qty: f.amount,
    realizedPnl: amount(f.realizedPnl),
    marginAsset: m.settle ?? m.quote,
    commission: amount(f.fee.cost),
    commissionAsset: f.fee.currency,
    time: String(f.timestamp),
    positionSide: 'BOTH',
    maker: f.takerOrMaker === 'maker',
    buyer: f.side === 'buy',
  };
  if (m.kind === 'linear') return { ...clone(state.fixtures.binance.futuresTrade), ...common, quoteQty: fillCost(f) };
  // COIN-M: qty in contracts, baseQty = the coin value (contracts * contractSize / price)
  return { ...clone(DELIVERY_TRADE), ...common, pair: m.row.pair, baseQty: amount(fillCost(f)) };
}

/**
 * GET /api/v3/myTrades (spot), /fapi/v1/userTrades (USD-M), /dapi/v1/userTrades (COIN-M); ccxt
 * fetchMyTrades sends symbol, startTime (since), endTime (until; USD-M: since + 7 days when since
 * is older than a week), limit, fromId (param). Oldest first.
 */
function myTrades(kind: MarketKind) {
  return (ctx: Ctx): Reply => {
    const { req, state } = ctx;
    const account = must(ctx.account);
    const q = req.query;
    const symbol = q.get('symbol');
    const pair = kind === 'inverse' ? q.get('pair') : null;
    if ((symbol === null || symbol === '') && (pair === null || pair === '')) {
      return kind === 'inverse'
        ? error(400, -1102, 'Param symbol or pair must be sent, but both were empty')
        : error(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
    }
    if (symbol !== null && symbol !== '' && !state.marketById('binance', kind, symbol)) return error(400, -1121, 'Invalid symbol.');
    const limit = limitParam(q, TRADES_DEFAULT_LIMIT, TRADES_MAX_LIMIT);
    if (isReply(limit)) return limit;
    const fromId = q.get('fromId');
    const start = q.get('startTime');
    const end = q.get('endTime');
    if (fromId !== null && (start !== null || end !== null)) return error(400, -1128, 'Combination of optional parameters invalid.');
    if (fromId !== null && !/^\d+$/.test(fromId)) return error(400, -1100, "Illegal characters found in parameter 'fromId'; legal range is '^[0-9]{1,20}$'.");
    const orderId = q.get('orderId');
    let fills = state
      .fills(account)
      .filter((f) => f.market.kind === kind)
      .filter((f) => (symbol === null || symbol === '' ? f.market.row.pair === pair : f.market.id === symbol))
      .filter((f) => orderId === null || f.orderId === orderId);
    if (fromId !== null) {
      // trades with id >= fromId, in id order
      fills = fills.filter((f) => BigInt(f.id) >= BigInt(fromId)).sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
      return json(fills.slice(0, limit).map((f) => tradeRow(state, f)));
    }
    // spot: at most 24 hours, a lone start/end spans 24 hours, none: the most recent trades;
    // futures: at most 7 days, none: the last 7 days
    const spot = kind === 'spot';
    const span = spot ? 24 * HOUR_MS : 7 * DAY_MS;
    if (spot && start === null && end === null) return json(fills.slice(-limit).map((f) => tradeRow(state, f)));
    const w = timeWindow(start, end, req.now, { maxSpan: span, span });
    const bad = windowError(w, spot ? '24 hours' : '7 days');
    if (bad) return bad;
    return json(
      fills
        .filter((f) => inWindow(f.timestamp, w))
        .slice(0, limit)
        .map((f) => tradeRow(state, f)),
    );
  };
}

/** "YYYY-MM-DD HH:mm:ss" in UTC, as binance writes applyTime / completeTime. */
function binanceDateTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function capitalRow(state: EmulatorState, t: Transfer): Json {
  const status = exchangeStatus('binance', t);
  if (t.type === 'deposit') {
    return {
      ...clone(state.fixtures.binance.depositRow),
      id: t.id,
      amount: t.amount,
      coin: t.currency,
      network: t.network,
      status,
      address: t.address,
      addressTag: '',
      txId: t.txid,
      insertTime: String(t.timestamp),
      transferType: '0',
      confirmTimes: t.status === 'ok' ? '1/1' : '0/1',
      unlockConfirm: '0',
      // 0: the spot wallet, 1: the funding wallet
      walletType: '0',
    };
  }
  const row: Json = {
    ...clone(state.fixtures.binance.withdrawalRow),
    id: t.id,
    amount: t.amount,
    transactionFee: t.fee,
    coin: t.currency,
    status,
    address: t.address,
    // binance fills txId once the withdrawal is on chain
    txId: t.status === 'ok' ? t.txid : '',
    applyTime: binanceDateTime(t.timestamp),
    network: t.network,
    transferType: '0',
    // the reason of a failure
    info: t.status === 'failed' ? 'Withdrawal failed, please contact customer support.' : '',
    confirmNo: t.status === 'ok' ? '20' : '0',
    walletType: '0',
    txKey: '',
    completeTime: binanceDateTime(t.updatedAt),
  };
  if (t.status !== 'ok') delete row.completeTime;
  return row;
}

/**
 * GET /sapi/v1/capital/deposit/hisrec and /sapi/v1/capital/withdraw/history (ccxt fetchDeposits /
 * fetchWithdrawals: coin, startTime = since, endTime = since + 90 days (or until), limit). Windows of
 * at most 90 days (default: the last 90 days), offset paging, newest first.
 */
function capitalHistory(type: Transfer['type']) {
  return (ctx: Ctx): Reply => {
    const { req, state } = ctx;
    const account = must(ctx.account);
    const q = req.query;
    const limit = limitParam(q, CAPITAL_DEFAULT_LIMIT, CAPITAL_MAX_LIMIT);
    if (isReply(limit)) return limit;
    const offsetRaw = q.get('offset') ?? '0';
    if (!/^\d+$/.test(offsetRaw)) return error(400, -1100, "Illegal characters found in parameter 'offset'; legal range is '^[0-9]{1,20}$'.");
    // default startTime: 90 days before endTime (default now); a lone startTime runs to now
    const w = timeWindow(q.get('startTime'), q.get('endTime'), req.now, { maxSpan: 90 * DAY_MS, span: 90 * DAY_MS, startOnly: 'now' });
    const bad = windowError(w, '90 days');
    if (bad) return bad;
    const coin = q.get('coin');
    const status = q.get('status');
    const txId = q.get('txId');
    const ids = type === 'withdrawal' ? q.get('idList')?.split(',') : undefined;
    const rows = [...state.transfers(account)]
      .filter((t) => t.type === type && inWindow(t.timestamp, w))
      .filter((t) => coin === null || t.currency === coin)
      .filter((t) => status === null || exchangeStatus('binance', t) === status)
      .filter((t) => txId === null || t.txid === txId)
      .filter((t) => ids === undefined || ids.includes(t.id))
      .sort((a, b) => b.timestamp - a.timestamp || b.seq - a.seq);
    const offset = Number(offsetRaw);
    return json(rows.slice(offset, offset + limit).map((t) => capitalRow(state, t)));
  };
}

/**
 * gate: which wallet the route reads (a key denied it gets -2015), and whether the account must
 * have a futures account at all (without one binance answers every /fapi and /dapi private call
 * with -2015).
 */
type Gate = { wallet?: WalletName; futures?: boolean };

const ROUTES: Record<string, Route & Gate & { method?: 'GET' | 'POST' }> = {
  '/api/v3/time': { signed: false, handle: serverTime },
  '/fapi/v1/time': { signed: false, handle: serverTime },
  '/dapi/v1/time': { signed: false, handle: serverTime },
  '/api/v3/exchangeInfo': { signed: false, handle: exchangeInfo('spot') },
  '/fapi/v1/exchangeInfo': { signed: false, handle: exchangeInfo('linear') },
  '/dapi/v1/exchangeInfo': { signed: false, handle: exchangeInfo('inverse') },
  '/api/v3/ticker/24hr': { signed: false, handle: ticker24hr('spot') },
  '/fapi/v1/ticker/24hr': { signed: false, handle: ticker24hr('linear') },
  '/dapi/v1/ticker/24hr': { signed: false, handle: ticker24hr('inverse') },
  '/api/v3/account': { signed: true, wallet: 'spot', handle: spotAccount },
  '/fapi/v2/account': { signed: true, wallet: 'futures', futures: true, handle: futuresAccount(true) },
  '/fapi/v3/account': { signed: true, wallet: 'futures', futures: true, handle: futuresAccount(false) },
  '/fapi/v2/positionRisk': { signed: true, wallet: 'futures', futures: true, handle: positionRisk(true) },
  '/fapi/v3/positionRisk': { signed: true, wallet: 'futures', futures: true, handle: positionRisk(false) },
  '/fapi/v1/leverageBracket': { signed: true, wallet: 'futures', futures: true, handle: leverageBracket('linear') },
  '/dapi/v1/account': { signed: true, wallet: 'delivery', futures: true, handle: deliveryAccount },
  '/dapi/v1/positionRisk': { signed: true, wallet: 'delivery', futures: true, handle: deliveryPositionRisk },
  '/dapi/v1/leverageBracket': { signed: true, wallet: 'delivery', futures: true, handle: leverageBracket('inverse') },
  '/dapi/v2/leverageBracket': { signed: true, wallet: 'delivery', futures: true, handle: leverageBracket('inverse') },
  '/sapi/v1/account/info': { signed: true, handle: accountInfo },
  '/api/v3/myTrades': { signed: true, wallet: 'spot', handle: myTrades('spot') },
  '/fapi/v1/userTrades': { signed: true, wallet: 'futures', futures: true, handle: myTrades('linear') },
  '/dapi/v1/userTrades': { signed: true, wallet: 'delivery', futures: true, handle: myTrades('inverse') },
  '/sapi/v1/capital/deposit/hisrec': { signed: true, handle: capitalHistory('deposit') },
  '/sapi/v1/capital/withdraw/history': { signed: true, handle: capitalHistory('withdrawal') },
  '/sapi/v1/asset/get-funding-asset': { method: 'POST', signed: true, wallet: 'funding', handle: fundingAsset },
  '/sapi/v1/margin/allPairs': { signed: true, handle: noMarginPairs },
  '/sapi/v1/margin/isolated/allPairs': { signed: true, handle: noMarginPairs },
};

// --- authentication ----------------------------------------------------------------------------

/** The request's parameters: the query string and, for POST/PUT/DELETE, the form body (binance reads both). */
function signedParams(req: ExchangeRequest): URLSearchParams {
  const all = new URLSearchParams(req.rawQuery);
  for (const [k, v] of new URLSearchParams(req.body)) all.append(k, v);
  return all;
}

const NO_PERMISSION = (): Reply => error(401, -2015, 'Invalid API-key, IP, or permissions for action.');

function authenticate(req: ExchangeRequest, state: EmulatorState): Account | Reply {
  const apiKey = header(req.headers, 'x-mbx-apikey');
  if (!apiKey) return error(401, -2014, 'API-key format invalid.');
  const account = state.getAccount('binance', apiKey);
  if (!account) return NO_PERMISSION();
  const params = signedParams(req);
  const timestamp = params.get('timestamp');
  if (timestamp === null || !/^\d+$/.test(timestamp)) {
    return error(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.");
  }
  const recvWindow = Number(params.get('recvWindow') ?? '5000');
  if (!Number.isFinite(recvWindow) || recvWindow > 60000) return error(400, -1131, 'recvWindow must be less than 60000');
  const ts = Number(timestamp);
  if (ts >= req.now + 1000) return error(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.");
  if (req.now - ts > recvWindow) return error(400, -1021, 'Timestamp for this request is outside of the recvWindow.');
  const { payload, signature } = binanceSignedParams(req.rawQuery, req.body);
  if (signature === undefined) return error(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.");
  if (!sameSignature(hmacHex(account.secret, payload), signature)) return error(400, -1022, 'Signature for this request is not valid.');
  return account;
}

const PREFIXES = ['/api/', '/sapi/', '/fapi/', '/dapi/', '/eapi/', '/papi/', '/futures/data/'];

export const binance: ExchangeModule = {
  exchange: 'binance',
  owns: (path) => PREFIXES.some((p) => path.startsWith(p)),
  apiKeyOf: (headers: IncomingHttpHeaders) => header(headers, 'x-mbx-apikey'),
  handle(req, state) {
    const found = ROUTES[req.path];
    const route = found && req.method === (found.method ?? 'GET') ? found : undefined;
    if (!route) return notFound(req, 'binance');
    if (!route.signed) return route.handle({ req, state });
    const account = authenticate(req, state);
    if (isReply(account)) return account;
    // binance answers a key without the permission, and an account without futures, like an unknown key
    if (route.futures && !account.hasFutures) return NO_PERMISSION();
    if (route.wallet && account.denied.has(route.wallet)) return NO_PERMISSION();
    return route.handle({ req, state, account });
  },
  rateLimited(req) {
    const futures = !req.path.startsWith('/api/') && !req.path.startsWith('/sapi/');
    const limit = futures ? 2400 : 6000;
    return error(
      429,
      -1003,
      `Too much request weight used; current limit is ${limit} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.`,
      { 'Retry-After': '1', 'X-MBX-USED-WEIGHT-1M': String(limit + 1) },
    );
  },
};
