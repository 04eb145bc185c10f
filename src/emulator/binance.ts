// Binance spot (/api/v3) and USD-M futures (/fapi), the subset ccxt's loadMarkets,
// fetchBalance, fetchPositions, fetchTickers and fetchTime call. Replies are copies of recorded
// binance rows with the state's values written in; errors are {code, msg} with binance's
// HTTP statuses (401 key, 400 signature/timestamp, 429 rate limit).
import type { IncomingHttpHeaders } from 'node:http';
import { add, cmp, decimalsOf, div, mul, neg, padded, round, sub, sum } from './decimal.js';
import { clone, type Json, type MarketInfo, type MarketKind } from './fixtures.js';
import { binancePayload, hmacHex, sameSignature } from './signatures.js';
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

// --- futures -----------------------------------------------------------------------------------

function brackets(state: EmulatorState, symbol: string): Array<[string, string]> {
  return state.fixtures.binance.leverageBrackets[symbol] ?? [];
}

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

function figures(state: EmulatorState, account: Account): FuturesFigures[] {
  return account.positions.map((p) => {
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
    const rows = figures(ctx.state, account)
      .filter((f) => symbol === null || f.market.id === symbol)
      .map((f) => positionRiskRow(ctx, f, String(account.createdAt), v2));
    return json(rows);
  };
}

function futuresAsset(ctx: Ctx, asset: string, b: Balance, figs: FuturesFigures[], account: Account, v2: boolean): Json {
  const total = add(b.free, b.used);
  const upnl = unrealizedIn(
    figs.map((f) => f.v),
    asset,
  );
  const maint = sum(figs.filter((f) => f.v.settle === asset).map((f) => f.maintMargin));
  const wallet = sub(total, upnl);
  const template = v2 ? ctx.state.fixtures.binance.futuresAssetV2 : ctx.state.fixtures.binance.futuresAssetV3;
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
    const figs = figures(state, account);
    const updateTime = String(account.createdAt);
    const assets = Object.entries(account.futuresBalances).map(([asset, b]) => futuresAsset(ctx, asset, b, figs, account, v2));
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

/** Leverage brackets per symbol, rebuilt from the floors and rates ccxt recorded. */
function leverageBracket(ctx: Ctx): Reply {
  const symbol = ctx.req.query.get('symbol');
  const markets = ctx.state.markets('binance', 'linear').filter((m) => symbol === null || m.id === symbol);
  if (symbol !== null && markets.length === 0) return error(400, -1121, 'Invalid symbol.');
  const rows = markets
    .filter((m) => brackets(ctx.state, m.symbol).length > 0)
    .map((m) => {
      const list = brackets(ctx.state, m.symbol);
      let cum = '0';
      let previousRate = '0';
      return {
        symbol: m.id,
        brackets: list.map(([floor, rate], i) => {
          // cum is binance's maintenance amount, continuous across bracket edges
          cum = add(cum, mul(floor, sub(rate, previousRate)));
          previousRate = rate;
          const cap = list[i + 1]?.[0] ?? mul(floor, '2');
          return {
            bracket: i + 1,
            initialLeverage: Number(div('1', mul('2', rate), 0, 'down')),
            notionalCap: Number(cap),
            notionalFloor: Number(floor),
            maintMarginRatio: Number(rate),
            cum: Number(cum),
          };
        }),
      };
    });
  // binance answers a single `symbol` with the object itself
  return json(symbol !== null ? rows[0] ?? [] : rows);
}

/** ccxt loads margin pairs with markets when options.fetchMargins is on (its default). */
function noMarginPairs(): Reply {
  return json([]);
}

const ROUTES: Record<string, Route> = {
  '/api/v3/time': { signed: false, handle: serverTime },
  '/fapi/v1/time': { signed: false, handle: serverTime },
  '/dapi/v1/time': { signed: false, handle: serverTime },
  '/api/v3/exchangeInfo': { signed: false, handle: exchangeInfo('spot') },
  '/fapi/v1/exchangeInfo': { signed: false, handle: exchangeInfo('linear') },
  '/dapi/v1/exchangeInfo': { signed: false, handle: exchangeInfo('inverse') },
  '/api/v3/ticker/24hr': { signed: false, handle: ticker24hr('spot') },
  '/fapi/v1/ticker/24hr': { signed: false, handle: ticker24hr('linear') },
  '/api/v3/account': { signed: true, handle: spotAccount },
  '/fapi/v2/account': { signed: true, handle: futuresAccount(true) },
  '/fapi/v3/account': { signed: true, handle: futuresAccount(false) },
  '/fapi/v2/positionRisk': { signed: true, handle: positionRisk(true) },
  '/fapi/v3/positionRisk': { signed: true, handle: positionRisk(false) },
  '/fapi/v1/leverageBracket': { signed: true, handle: leverageBracket },
  '/sapi/v1/margin/allPairs': { signed: true, handle: noMarginPairs },
  '/sapi/v1/margin/isolated/allPairs': { signed: true, handle: noMarginPairs },
};

// --- authentication ----------------------------------------------------------------------------

function authenticate(req: ExchangeRequest, state: EmulatorState): Account | Reply {
  const apiKey = header(req.headers, 'x-mbx-apikey');
  if (!apiKey) return error(401, -2014, 'API-key format invalid.');
  const account = state.getAccount('binance', apiKey);
  if (!account) return error(401, -2015, 'Invalid API-key, IP, or permissions for action.');
  const timestamp = req.query.get('timestamp');
  if (timestamp === null || !/^\d+$/.test(timestamp)) {
    return error(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.");
  }
  const recvWindow = Number(req.query.get('recvWindow') ?? '5000');
  if (!Number.isFinite(recvWindow) || recvWindow > 60000) return error(400, -1131, 'recvWindow must be less than 60000');
  const ts = Number(timestamp);
  if (ts >= req.now + 1000) return error(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.");
  if (req.now - ts > recvWindow) return error(400, -1021, 'Timestamp for this request is outside of the recvWindow.');
  const { payload, signature } = binancePayload(req.rawQuery);
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
    const route = req.method === 'GET' ? ROUTES[req.path] : undefined;
    if (!route) return notFound(req, 'binance');
    if (!route.signed) return route.handle({ req, state });
    const account = authenticate(req, state);
    if (isReply(account)) return account;
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
