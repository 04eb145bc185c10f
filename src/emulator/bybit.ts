// Bybit v5, the subset ccxt's loadMarkets, fetchBalance, fetchPositions, fetchTickers and
// fetchTime call. Replies are copies of recorded bybit rows with the state's values written in;
// errors use bybit's retCode/retMsg on HTTP 200, as bybit does.
import type { IncomingHttpHeaders } from 'node:http';
import { add, cmp, decimalsOf, div, mul, padded, round, sub, sum } from './decimal.js';
import { clone, type Json, type MarketInfo, type MarketKind } from './fixtures.js';
import { DAY_MS, exchangeStatus, fillCost, timeWindow, type Fill, type Transfer } from './history.js';
import { bybitPayload, hmacHex, sameSignature } from './signatures.js';
import type { WalletName } from './schemas.js';
import { unrealizedIn, type Account, type Balance, type EmulatorState, type Position } from './state.js';
import type { EmulatorPositionView } from './types.js';
import { header, notFound, type ExchangeModule, type ExchangeRequest, type Reply } from './wire.js';

/** Bybit's maintenance margin rate of the first risk tier; the emulator does not model tiers. */
const MAINTENANCE_RATE = '0.005';

/**
 * Spot ticker row: the recorded fixture has no bybit spot ticker, so the field set is the one
 * ccxt documents for bybit spot in bybit.js parseTicker (values are overwritten per symbol).
 */
const SPOT_TICKER_TEMPLATE: Json = {
  symbol: 'BTCUSDT',
  bid1Price: '20517.96',
  bid1Size: '2',
  ask1Price: '20527.77',
  ask1Size: '1.862172',
  lastPrice: '20533.13',
  prevPrice24h: '20393.48',
  price24hPcnt: '0.0068',
  highPrice24h: '21128.12',
  lowPrice24h: '20318.89',
  turnover24h: '243765620.65899866',
  volume24h: '11801.27771',
  usdIndexPrice: '20784.12009279',
};

type Ctx = { req: ExchangeRequest; state: EmulatorState; account?: Account };
type Route = { private: boolean; handle(ctx: Ctx): Reply };

function ok(now: number, result: unknown, retMsg = 'OK', headers?: Record<string, string>): Reply {
  return { status: 200, headers, body: { retCode: 0, retMsg, result, retExtInfo: {}, time: now } };
}

function fail(now: number, retCode: number, retMsg: string, headers?: Record<string, string>): Reply {
  return { status: 200, headers, body: { retCode, retMsg, result: {}, retExtInfo: {}, time: now } };
}

function limitHeaders(now: number, remaining: number): Record<string, string> {
  return {
    'X-Bapi-Limit': '50',
    'X-Bapi-Limit-Status': String(remaining),
    'X-Bapi-Limit-Reset-Timestamp': String(now + 1000),
  };
}

const CATEGORIES: Record<string, MarketKind | 'option'> = { spot: 'spot', linear: 'linear', inverse: 'inverse', option: 'option' };

function category(ctx: Ctx): MarketKind | 'option' | Reply {
  const raw = ctx.req.query.get('category');
  const kind = raw === null ? undefined : CATEGORIES[raw];
  return kind ?? fail(ctx.req.now, 10001, raw === null ? 'category is required' : 'Illegal category');
}

function isReply(v: unknown): v is Reply {
  return typeof v === 'object' && v !== null && 'status' in v && 'body' in v;
}

// --- market data -------------------------------------------------------------------------------

/** instruments-info pages (linear, inverse, option; spot is never paged): default 500, at most 1000. */
const INSTRUMENTS_DEFAULT_LIMIT = 500;
const INSTRUMENTS_MAX_LIMIT = 1000;
/** position/list pages: default 20, at most 200. */
const POSITIONS_DEFAULT_LIMIT = 20;
const POSITIONS_MAX_LIMIT = 200;

/** `limit` as bybit reads it: absent = the default, else an integer in [1, max]. */
function pageLimit(ctx: Ctx, fallback: number, max: number): number | Reply {
  const raw = ctx.req.query.get('limit');
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > max) return fail(ctx.req.now, 10001, `params error: limit must be between 1 and ${max}`);
  return n;
}

/**
 * One page of `items`. The cursor names the last item of the previous page (bybit's cursors are
 * opaque, url-encoded and name a position in the list); a cursor that names nothing is refused.
 */
function page<T>(ctx: Ctx, items: T[], limit: number, cursorOf: (last: T) => string): { list: T[]; next: string } | Reply {
  const cursor = ctx.req.query.get('cursor');
  let start = 0;
  if (cursor !== null && cursor !== '') {
    // ccxt sends the cursor unencoded (rawencode), so it arrives decoded ("LTCUSDT,1699948800031,0");
    // a client that url-encodes it sends it back exactly as given; both name the same row
    const at = items.findIndex((item) => {
      const c = cursorOf(item);
      return c === cursor || decodeURIComponent(c) === cursor;
    });
    if (at < 0) return fail(ctx.req.now, 10001, 'params error: cursor invalid');
    start = at + 1;
  }
  const list = items.slice(start, start + limit);
  const last = list[list.length - 1];
  const more = start + list.length < items.length;
  return { list, next: more && last !== undefined ? cursorOf(last) : '' };
}

function instrumentsInfo(ctx: Ctx): Reply {
  const kind = category(ctx);
  if (isReply(kind)) return kind;
  const q = ctx.req.query;
  let markets: MarketInfo[] = kind === 'option' ? [] : ctx.state.markets('bybit', kind);
  // ccxt asks a second time for pre-launch contracts; the emulator has none
  if (q.get('status') !== null && q.get('status') !== 'Trading') markets = [];
  const symbol = q.get('symbol');
  if (symbol !== null) markets = markets.filter((m) => m.id === symbol);
  const baseCoin = q.get('baseCoin');
  if (baseCoin !== null) markets = markets.filter((m) => m.base === baseCoin);
  if (kind === 'spot') return ok(ctx.req.now, { category: kind, list: markets.map((m) => clone(m.row)) });
  const limit = pageLimit(ctx, INSTRUMENTS_DEFAULT_LIMIT, INSTRUMENTS_MAX_LIMIT);
  if (isReply(limit)) return limit;
  // opaque and url-encoded like bybit's: names the last instrument of the page
  const paged = page(ctx, markets, limit, (m) => `last%3D${m.id}`);
  if (isReply(paged)) return paged;
  return ok(ctx.req.now, { category: kind, list: paged.list.map((m) => clone(m.row)), nextPageCursor: paged.next });
}

function tickerRow(state: EmulatorState, m: MarketInfo, now: number): Json {
  const s = state.prices.bybit.stats(m.symbol);
  const dp = decimalsOf(m.tick);
  const px = (v: string): string => padded(round(v, dp), dp);
  const change = sub(s.last, s.open);
  const pcnt = div(change, s.open, 6, 'down'); // bybit truncates the ratio to 6 decimals
  const common = {
    symbol: m.id,
    lastPrice: px(s.last),
    prevPrice24h: px(s.open),
    price24hPcnt: pcnt,
    highPrice24h: px(s.high),
    lowPrice24h: px(s.low),
    bid1Price: px(sub(s.last, s.tick)),
    ask1Price: px(s.last),
  };
  if (m.kind === 'spot') return { ...clone(SPOT_TICKER_TEMPLATE), ...common, usdIndexPrice: s.last };
  const eightHours = 8 * 3600_000;
  return {
    ...clone(state.fixtures.bybit.linearTicker),
    ...common,
    indexPrice: px(s.last),
    markPrice: px(s.last),
    prevPrice1h: px(s.open),
    nextFundingTime: String(Math.ceil(now / eightHours) * eightHours),
  };
}

function tickers(ctx: Ctx): Reply {
  const kind = category(ctx);
  if (isReply(kind)) return kind;
  if (kind === 'option') return ok(ctx.req.now, { category: kind, list: [] });
  let markets = ctx.state.markets('bybit', kind);
  const symbol = ctx.req.query.get('symbol');
  if (symbol !== null) {
    markets = markets.filter((m) => m.id === symbol);
    if (markets.length === 0) return fail(ctx.req.now, 10001, 'Not supported symbols');
  }
  return ok(ctx.req.now, { category: kind, list: markets.map((m) => tickerRow(ctx.state, m, ctx.req.now)) });
}

function time(ctx: Ctx): Reply {
  const now = ctx.req.now;
  return ok(now, { timeSecond: String(Math.floor(now / 1000)), timeNano: `${now}000000` });
}

// --- account -----------------------------------------------------------------------------------

type WalletType = 'UNIFIED' | 'CONTRACT' | 'SPOT';

/** The wallet-balance account types each account mode has (bybit docs, Get Wallet Balance). */
const WALLETS: Record<Account['bybitAccountMode'], WalletType[]> = {
  uta2: ['UNIFIED'],
  uta1: ['UNIFIED', 'CONTRACT'],
  classic: ['CONTRACT', 'SPOT'],
};

/** /v5/account/info unifiedMarginStatus: 1 classic, 3 UTA 1.0, 6 UTA 2.0 (pro; 5 is UTA 2.0). */
const UNIFIED_MARGIN_STATUS: Record<Account['bybitAccountMode'], number> = { classic: 1, uta1: 3, uta2: 6 };

const WALLET_NAMES: Record<WalletType | 'FUND', WalletName> = { UNIFIED: 'unified', CONTRACT: 'contract', SPOT: 'spot', FUND: 'funding' };

function permissionDenied(now: number): Reply {
  return fail(now, 10005, 'Permission denied, please check your API key permissions.');
}

/** Where a position's margin and PnL live: UTA 2.0 holds everything in UNIFIED; UTA 1.0 keeps inverse in CONTRACT; classic trades contracts in CONTRACT. */
function walletOf(account: Account, p: Position): WalletType {
  if (account.bybitAccountMode === 'uta2') return 'UNIFIED';
  if (account.bybitAccountMode === 'classic') return 'CONTRACT';
  return p.market.kind === 'inverse' ? 'CONTRACT' : 'UNIFIED';
}

function balancesOf(account: Account, wallet: WalletType | 'FUND'): Record<string, Balance> {
  if (wallet === 'FUND') return account.fundingBalances;
  if (wallet === 'CONTRACT') return account.contractBalances;
  return account.balances; // UNIFIED, or SPOT on a classic account
}

/** Initial and maintenance margin in the settlement coin (coin for inverse, where positionValue is in coin). */
function positionMargins(v: EmulatorPositionView): { im: string; mm: string } {
  return { im: round(div(v.positionValue, v.leverage, 8), 8), mm: round(mul(v.positionValue, MAINTENANCE_RATE), 8) };
}

function walletBalance(ctx: Ctx): Reply {
  const { req, state, account } = ctx;
  if (!account) throw new Error('private route without account');
  const accountType = req.query.get('accountType');
  if (accountType === null) return fail(req.now, 10001, 'accountType is required');
  const allowed = WALLETS[account.bybitAccountMode];
  const wallet = allowed.find((w) => w === accountType);
  if (!wallet) return fail(req.now, 10001, `accountType only support ${allowed.join(',')}.`);
  if (account.denied.has(WALLET_NAMES[wallet])) return permissionDenied(req.now);
  const wanted = req.query.get('coin')?.split(',');
  const views = account.positions.filter((p) => walletOf(account, p) === wallet).map((p) => state.positionView('bybit', p));
  const coins: Json[] = [];
  const usd = { wallet: [] as string[], equity: [] as string[], upnl: [] as string[] };
  for (const [coin, b] of Object.entries(balancesOf(account, wallet))) {
    if (wanted && !wanted.includes(coin)) continue;
    const total = add(b.free, b.used);
    const upnl = unrealizedIn(views, coin);
    const equity = add(total, upnl);
    const price = state.usdPrice('bybit', coin) ?? '0';
    const usdValue = round(mul(equity, price), 8);
    usd.wallet.push(mul(total, price));
    usd.equity.push(usdValue);
    usd.upnl.push(mul(upnl, price));
    const row: Json = {
      ...clone(state.fixtures.bybit.coinRow),
      availableToBorrow: '',
      bonus: '0',
      accruedInterest: '0',
      // bybit stopped filling this for unified accounts; ccxt then derives free = total - used
      availableToWithdraw: '',
      totalOrderIM: '0',
      equity,
      totalPositionMM: '0',
      usdValue,
      unrealisedPnl: upnl,
      spotHedgingQty: '0',
      borrowAmount: '0.000000000000000000',
      totalPositionIM: '0',
      walletBalance: total,
      cumRealisedPnl: '0',
      // the account's `used` amount is reported as locked, so ccxt's used = locked + IMs = used
      locked: b.used,
      coin,
    };
    if (wallet === 'CONTRACT') {
      // a CONTRACT account still fills availableToWithdraw, which ccxt reads as free
      row.availableToWithdraw = b.free;
      row.locked = '0';
    } else if (wallet === 'SPOT') {
      // classic SPOT: `free` is its own field (bybit: "a unique field for Classic SPOT"), locked = in orders
      row.free = b.free;
    }
    coins.push(row);
  }
  const template = clone(state.fixtures.bybit.walletBalance);
  const recordedRow = clone((((template.result as Json).list as Json[])[0] ?? {}) as Json);
  if (wallet !== 'UNIFIED') {
    // bybit: account-wide fields do not apply to classic SPOT/CONTRACT or UTA 1.0 CONTRACT: empty strings
    const accountRow: Json = { ...recordedRow };
    for (const k of Object.keys(accountRow)) if (k !== 'coin' && k !== 'accountType') accountRow[k] = '';
    return ok(req.now, { list: [{ ...accountRow, accountType: wallet, coin: coins }] }, 'OK', limitHeaders(req.now, 49));
  }
  const margins = views.map((v) => {
    const m = positionMargins(v);
    const price = state.usdPrice('bybit', v.settle) ?? '0';
    return { im: mul(m.im, price), mm: mul(m.mm, price) };
  });
  const totalIM = round(sum(margins.map((m) => m.im)), 8);
  const totalMM = round(sum(margins.map((m) => m.mm)), 8);
  const totalWallet = round(sum(usd.wallet), 8);
  const totalUpl = round(sum(usd.upnl), 8);
  const marginBalance = round(add(totalWallet, totalUpl), 8);
  const rate = (part: string): string => (cmp(marginBalance, '0') > 0 ? round(div(part, marginBalance, 4), 4) : '0');
  const accountRow: Json = {
    ...recordedRow,
    totalEquity: round(sum(usd.equity), 8),
    accountIMRate: rate(totalIM),
    totalMarginBalance: marginBalance,
    totalInitialMargin: totalIM,
    accountType: 'UNIFIED',
    totalAvailableBalance: round(sub(marginBalance, totalIM), 8),
    accountMMRate: rate(totalMM),
    totalPerpUPL: totalUpl,
    totalWalletBalance: totalWallet,
    accountLTV: '0',
    totalMaintenanceMargin: totalMM,
    coin: coins,
  };
  return ok(req.now, { list: [accountRow] }, 'OK', limitHeaders(req.now, 49));
}

function memberId(account: Account): string {
  return String(account.createdAt % 100_000_000);
}

/** /v5/asset/transfer/query-account-coins-balance: the FUND account (and the others, in the same shape). */
function accountCoinsBalance(ctx: Ctx): Reply {
  const { req, account } = ctx;
  if (!account) throw new Error('private route without account');
  const accountType = req.query.get('accountType');
  if (accountType === null) return fail(req.now, 10001, 'accountType is required');
  const wallet = accountType === 'FUND' ? 'FUND' : WALLETS[account.bybitAccountMode].find((w) => w === accountType);
  if (!wallet) return fail(req.now, 10001, 'params error: accountType invalid');
  if (account.denied.has(WALLET_NAMES[wallet])) return permissionDenied(req.now);
  const wanted = req.query.get('coin')?.split(',');
  const balance = Object.entries(balancesOf(account, wallet))
    .filter(([coin]) => !wanted || wanted.includes(coin))
    // bybit's row: walletBalance is the total, transferBalance what can move (ccxt: total and free)
    .map(([coin, b]) => ({ coin, transferBalance: b.free, walletBalance: add(b.free, b.used), bonus: '' }));
  return ok(req.now, { memberId: memberId(account), accountType, balance }, 'success');
}

function positionRow(ctx: Ctx, v: EmulatorPositionView, m: MarketInfo, account: Account): Json {
  const { im, mm } = positionMargins(v);
  return {
    ...clone(ctx.state.fixtures.bybit.positionRow),
    symbol: m.id,
    leverage: v.leverage,
    avgPrice: v.entryPrice,
    liqPrice: '',
    // linear: contracts * entry in the quote; inverse: contracts (USD) / entry in the coin, 8 decimals
    positionValue: v.positionValue,
    takeProfit: '',
    trailingStop: '0',
    unrealisedPnl: v.unrealizedPnl,
    markPrice: v.markPrice,
    cumRealisedPnl: '0',
    positionMM: mm,
    createdTime: String(account.createdAt),
    positionIdx: '0',
    positionIM: im,
    updatedTime: String(account.createdAt),
    side: v.side === 'long' ? 'Buy' : 'Sell',
    bustPrice: '',
    positionBalance: im,
    size: v.contracts,
    positionStatus: 'Normal',
    stopLoss: '',
    // bybit deprecated tradeMode for unified accounts (always 0); classic accounts still report 1 for isolated
    tradeMode: account.bybitAccountMode === 'classic' && v.marginMode === 'isolated' ? '1' : '0',
  };
}

function positionList(ctx: Ctx): Reply {
  const { req, state, account } = ctx;
  if (!account) throw new Error('private route without account');
  const kind = category(ctx);
  if (isReply(kind)) return kind;
  const q = req.query;
  const symbol = q.get('symbol');
  const settleCoin = q.get('settleCoin');
  const baseCoin = q.get('baseCoin');
  if (kind === 'spot') return fail(req.now, 10001, 'Illegal category');
  if (kind === 'linear' && symbol === null && settleCoin === null && baseCoin === null) {
    return fail(req.now, 10001, 'Missing some parameters that must be filled in, symbol or settleCoin');
  }
  if (symbol !== null && kind !== 'option' && !state.marketById('bybit', kind, symbol)) {
    return fail(req.now, 10001, 'params error: symbol invalid');
  }
  const limit = pageLimit(ctx, POSITIONS_DEFAULT_LIMIT, POSITIONS_MAX_LIMIT);
  if (isReply(limit)) return limit;
  const held = account.positions
    .filter((p) => p.market.kind === kind)
    .filter((p) => symbol === null || p.market.id === symbol)
    .filter((p) => settleCoin === null || p.market.settle === settleCoin)
    .filter((p) => baseCoin === null || p.market.base === baseCoin);
  // the cursor is bybit's recorded form: "<symbol>%2C<updatedTime>%2C0" of the page's last row
  const paged = page(ctx, held, limit, (p) => `${p.market.id}%2C${account.createdAt}%2C0`);
  if (isReply(paged)) return paged;
  const list = paged.list.map((p) => positionRow(ctx, state.positionView('bybit', p), p.market, account));
  return ok(req.now, { nextPageCursor: paged.next, category: kind, list }, 'OK', limitHeaders(req.now, 49));
}

/** The two probes ccxt makes unless options.enableUnifiedAccount/enableUnifiedMargin are preset. */
function queryApi(ctx: Ctx): Reply {
  const { req, account } = ctx;
  if (!account) throw new Error('private route without account');
  const created = new Date(account.createdAt);
  const expires = new Date(account.createdAt + 90 * 86400_000);
  return ok(req.now, {
    id: memberId(account),
    note: 'exchange-sync emulator',
    apiKey: account.apiKey,
    readOnly: 1,
    secret: '',
    permissions: {
      ContractTrade: ['Order', 'Position'],
      Spot: ['SpotTrade'],
      Wallet: ['AccountTransfer'],
      Options: [],
      Derivatives: [],
      CopyTrading: [],
      BlockTrade: [],
      Exchange: [],
      NFT: [],
    },
    ips: ['*'],
    type: 1,
    deadlineDay: 90,
    expiredAt: expires.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    createdAt: created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    unified: 0,
    // ccxt sets options.enableUnifiedAccount from this flag: 1 for UTA 1.0 and 2.0, 0 for classic
    uta: account.bybitAccountMode === 'classic' ? 0 : 1,
    userID: account.createdAt % 100_000_000,
    inviterID: 0,
    vipLevel: 'No VIP',
    mktMakerLevel: '0',
    affiliateID: 0,
    rsaPublicKey: '',
    isMaster: true,
  });
}

function accountInfo(ctx: Ctx): Reply {
  const { req, account } = ctx;
  if (!account) throw new Error('private route without account');
  const classic = account.bybitAccountMode === 'classic';
  return ok(req.now, {
    marginMode: classic ? 'REGULAR_MARGIN' : account.bybitMarginMode,
    updatedTime: String(account.createdAt),
    unifiedMarginStatus: UNIFIED_MARGIN_STATUS[account.bybitAccountMode],
    dcpStatus: 'OFF',
    timeWindow: 10,
    smpGroup: 0,
    isMasterTrader: false,
    spotHedgingStatus: 'OFF',
  });
}

function coinInfo(ctx: Ctx): Reply {
  const coin = ctx.req.query.get('coin');
  const rows = ctx.state.fixtures.bybit.coinInfoRows.filter((r) => coin === null || r.coin === coin);
  return ok(ctx.req.now, { rows: clone(rows) }, 'success');
}

// --- history: executions, deposits, withdrawals ------------------------------------------------

/** execution/list: limit [1, 100], default 50; a window of at most 7 days (7 days by default). */
const EXECUTION_DEFAULT_LIMIT = 50;
const EXECUTION_MAX_LIMIT = 100;
const EXECUTION_WINDOW_DAYS = 7;
/** deposit/query-record, withdraw/query-record: limit [1, 50], default 50; windows of at most 30 days. */
const RECORDS_DEFAULT_LIMIT = 50;
const RECORDS_MAX_LIMIT = 50;
const RECORDS_WINDOW_DAYS = 30;

/**
 * The [from, to] bybit answers: both given at most `days` apart (else 10001), one given extends
 * `days` from it, none: the last `days`.
 */
function recordWindow(ctx: Ctx, days: number): { from: number; to: number } | Reply {
  const q = ctx.req.query;
  const w = timeWindow(q.get('startTime'), q.get('endTime'), ctx.req.now, { maxSpan: days * DAY_MS, span: days * DAY_MS });
  if ('error' in w) {
    return w.error === 'span'
      ? fail(ctx.req.now, 10001, `params error: the time range between startTime and endTime must not exceed ${days} days`)
      : fail(ctx.req.now, 10001, `params error: ${w.param} invalid`);
  }
  return w;
}

/** Newest first, as bybit lists executions and records; ties by creation order. */
function newestFirst<T extends { timestamp: number; seq: number }>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => b.timestamp - a.timestamp || b.seq - a.seq);
}

function executionRow(state: EmulatorState, f: Fill): Json {
  const spot = f.market.kind === 'spot';
  const template = spot ? state.fixtures.bybit.spotExecution : state.fixtures.bybit.contractExecution;
  return {
    ...clone(template),
    symbol: f.market.id,
    orderType: f.takerOrMaker === 'maker' ? 'Limit' : 'Market',
    underlyingPrice: '',
    orderLinkId: '',
    orderId: f.orderId,
    stopOrderType: spot ? '' : 'UNKNOWN',
    execTime: String(f.timestamp),
    // spot rows name the fee coin (ccxt derives it from the side and the fee's sign); contract rows leave it empty
    feeCurrency: spot ? f.fee.currency : '',
    feeRate: f.fee.rate,
    tradeIv: '',
    blockTradeId: '',
    markPrice: spot ? '' : f.price,
    execPrice: f.price,
    markIv: '',
    orderQty: f.amount,
    orderPrice: f.price,
    // spot and linear: qty * price; inverse: contracts (USD) / price in the coin
    execValue: fillCost(f),
    closedSize: spot ? '' : f.closedSize,
    execType: 'Trade',
    seq: String(f.seq),
    side: f.side === 'buy' ? 'Buy' : 'Sell',
    indexPrice: '',
    leavesQty: '0',
    isMaker: f.takerOrMaker === 'maker',
    execFee: f.fee.cost,
    execId: f.id,
    marketUnit: spot ? 'baseCoin' : '',
    execQty: f.amount,
  };
}

/** GET /v5/execution/list (ccxt: fetchMyTrades): category, symbol, baseCoin, orderId, execType, startTime, endTime, limit, cursor. */
function executionList(ctx: Ctx): Reply {
  const { req, state, account } = ctx;
  if (!account) throw new Error('private route without account');
  const kind = category(ctx);
  if (isReply(kind)) return kind;
  const limit = pageLimit(ctx, EXECUTION_DEFAULT_LIMIT, EXECUTION_MAX_LIMIT);
  if (isReply(limit)) return limit;
  const window = recordWindow(ctx, EXECUTION_WINDOW_DAYS);
  if (isReply(window)) return window;
  const q = req.query;
  const symbol = q.get('symbol');
  const baseCoin = q.get('baseCoin');
  const orderId = q.get('orderId');
  const execType = q.get('execType');
  // every emulated fill is a Trade (no funding, settlement or liquidation executions)
  const fills =
    kind === 'option' || (execType !== null && execType !== '' && execType !== 'Trade')
      ? []
      : newestFirst(state.fills(account)).filter(
          (f) =>
            f.market.kind === kind &&
            f.timestamp >= window.from &&
            f.timestamp <= window.to &&
            (orderId === null || f.orderId === orderId) &&
            (symbol === null || f.market.id === symbol) &&
            (baseCoin === null || f.market.base === baseCoin),
        );
  // bybit's recorded cursor form "<a>%3A0%2C<b>%3A0", naming the page's last row
  const paged = page(ctx, fills, limit, (f) => `${f.seq}%3A0%2C${f.seq}%3A0`);
  if (isReply(paged)) return paged;
  return ok(req.now, { nextPageCursor: paged.next, category: kind, list: paged.list.map((f) => executionRow(state, f)) }, 'OK', limitHeaders(req.now, 49));
}

/**
 * Deposit and withdrawal record rows: the recordings have none, so these are the field lists of
 * bybit's documentation (Get Deposit Records (on-chain), Get Withdrawal Records), in its order.
 */
const DEPOSIT_RECORD: Json = {
  id: '',
  coin: '',
  chain: '',
  amount: '',
  txID: '',
  status: 0,
  toAddress: '',
  tag: '',
  depositFee: '',
  successAt: '',
  confirmations: '',
  txIndex: '',
  blockHash: '',
  batchReleaseLimit: '-1',
  depositType: '0',
  fromAddress: '',
};
const WITHDRAW_RECORD: Json = {
  coin: '',
  chain: '',
  amount: '',
  txID: '',
  status: '',
  toAddress: '',
  tag: '',
  withdrawFee: '',
  createTime: '',
  updateTime: '',
  withdrawId: '',
  withdrawType: 0,
};

function recordCursor(t: Transfer): string {
  // opaque like bybit's ("eyJtaW5JRCI6..."): base64url of {"minID","maxID"}, no padding
  return Buffer.from(JSON.stringify({ minID: t.seq, maxID: t.seq })).toString('base64url');
}

function transferRecords(type: Transfer['type']) {
  return (ctx: Ctx): Reply => {
    const { req, state, account } = ctx;
    if (!account) throw new Error('private route without account');
    const limit = pageLimit(ctx, RECORDS_DEFAULT_LIMIT, RECORDS_MAX_LIMIT);
    if (isReply(limit)) return limit;
    const window = recordWindow(ctx, RECORDS_WINDOW_DAYS);
    if (isReply(window)) return window;
    const q = req.query;
    const coin = q.get('coin');
    const txId = q.get('txID');
    const id = type === 'deposit' ? q.get('id') : q.get('withdrawID');
    // withdrawType: 0 (default) on chain, 1 off chain, 2 all; every emulated withdrawal is on chain
    const onChain = type === 'deposit' || (q.get('withdrawType') ?? '0') !== '1';
    const list = onChain
      ? newestFirst(state.transfers(account)).filter(
          (t) =>
            t.type === type &&
            t.timestamp >= window.from &&
            t.timestamp <= window.to &&
            (coin === null || t.currency === coin) &&
            (id === null || t.id === id) &&
            (txId === null || t.txid === txId),
        )
      : [];
    const paged = page(ctx, list, limit, recordCursor);
    if (isReply(paged)) return paged;
    const rows = paged.list.map((t): Json => {
      const status = exchangeStatus('bybit', t);
      if (type === 'deposit') {
        return {
          ...clone(DEPOSIT_RECORD),
          id: t.id,
          coin: t.currency,
          chain: t.network,
          amount: t.amount,
          txID: t.txid,
          status: Number(status),
          toAddress: t.address,
          successAt: String(t.timestamp),
          confirmations: t.status === 'ok' ? '100' : '0',
        };
      }
      return {
        ...clone(WITHDRAW_RECORD),
        coin: t.currency,
        chain: t.network,
        amount: t.amount,
        // bybit: "" until the withdrawal is on chain, and when it failed
        txID: t.status === 'ok' ? t.txid : '',
        status,
        toAddress: t.address,
        withdrawFee: t.fee,
        createTime: String(t.timestamp),
        updateTime: String(t.updatedAt),
        withdrawId: t.id,
      };
    });
    return ok(req.now, { rows, nextPageCursor: paged.next }, 'success');
  };
}

const ROUTES: Record<string, Route> = {
  '/v5/execution/list': { private: true, handle: executionList },
  '/v5/asset/deposit/query-record': { private: true, handle: transferRecords('deposit') },
  '/v5/asset/withdraw/query-record': { private: true, handle: transferRecords('withdrawal') },
  '/v5/market/time': { private: false, handle: time },
  '/v5/market/instruments-info': { private: false, handle: instrumentsInfo },
  '/v5/market/tickers': { private: false, handle: tickers },
  '/v5/account/wallet-balance': { private: true, handle: walletBalance },
  '/v5/position/list': { private: true, handle: positionList },
  '/v5/user/query-api': { private: true, handle: queryApi },
  '/v5/account/info': { private: true, handle: accountInfo },
  '/v5/asset/coin/query-info': { private: true, handle: coinInfo },
  '/v5/asset/transfer/query-account-coins-balance': { private: true, handle: accountCoinsBalance },
};

// --- authentication ----------------------------------------------------------------------------

function authenticate(req: ExchangeRequest, state: EmulatorState): Account | Reply {
  const apiKey = header(req.headers, 'x-bapi-api-key');
  const account = apiKey === undefined ? undefined : state.getAccount('bybit', apiKey);
  if (!apiKey || !account) return fail(req.now, 10003, 'API key is invalid.');
  const timestamp = header(req.headers, 'x-bapi-timestamp') ?? '';
  const recvWindow = header(req.headers, 'x-bapi-recv-window') ?? '5000';
  const ts = Number(timestamp);
  const window = Number(recvWindow);
  // bybit accepts server_time - recv_window <= timestamp < server_time + 1000
  if (!/^\d+$/.test(timestamp) || !/^\d+$/.test(recvWindow) || ts < req.now - window || ts >= req.now + 1000) {
    return fail(
      req.now,
      10002,
      `invalid request, please check your server timestamp or recv_window param. req_timestamp[${timestamp}],server_timestamp[${req.now}],recv_window[${recvWindow}]`,
    );
  }
  const payload = bybitPayload(timestamp, apiKey, recvWindow, req.rawQuery);
  const signature = header(req.headers, 'x-bapi-sign') ?? '';
  if (!sameSignature(hmacHex(account.secret, payload), signature)) {
    return fail(req.now, 10004, `error sign! origin_string[${payload}]`);
  }
  return account;
}

export const bybit: ExchangeModule = {
  exchange: 'bybit',
  owns: (path) => path.startsWith('/v5/'),
  apiKeyOf: (headers: IncomingHttpHeaders) => header(headers, 'x-bapi-api-key'),
  handle(req, state) {
    const route = req.method === 'GET' ? ROUTES[req.path] : undefined;
    if (!route) return notFound(req, 'bybit');
    if (!route.private) return route.handle({ req, state });
    const account = authenticate(req, state);
    if (isReply(account)) return account;
    return route.handle({ req, state, account });
  },
  rateLimited: (req) => fail(req.now, 10006, 'Too many visits. Exceeded the API Rate Limit.', limitHeaders(req.now, 0)),
};
