// OKX v5, the subset ccxt's loadMarkets, fetchBalance (trading and funding), fetchPositions,
// fetchTicker(s), fetchTime and fetchAccounts call. Replies are copies of recorded okx rows
// (okx-fixtures.ts) with the state's values written in. OKX replies {"code":"0","data":[...],"msg":""};
// errors carry okx's code and message with okx's HTTP status (401 for the API-key class, 429 for
// the rate limit, 200 or 400 for the rest).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { add, canonical, cmp, decimalsOf, div, isZero, mul, neg, round, sub, sum } from './decimal.js';
import { clone, type Json, type MarketInfo } from './fixtures.js';
import { DAY_MS, exchangeStatus, type Fill, type Transfer } from './history.js';
import type { OkxFixtures, OkxInstType } from './okx-fixtures.js';
import type { WalletName } from './schemas.js';
import type { Account, EmulatorState, Position } from './state.js';
import type { EmulatorPositionView } from './types.js';
import { header, notFound, type ExchangeModule, type ExchangeRequest, type Reply } from './wire.js';

/** Maintenance margin rate of okx's first tier for BTC perpetuals (0.4 %); the emulator does not model tiers. */
const MAINTENANCE_RATE = '0.004';
/** How far OK-ACCESS-TIMESTAMP may be from the server clock, either way (okx: 30 s). */
const TIMESTAMP_WINDOW_MS = 30_000;
/** Decimals okx writes margins and ratios with (it sends up to ~16 significant digits). */
const RATIO_DECIMALS = 16;
/** USD amounts in the balance reply (eqUsd, totalEq, ...). */
const USD_DECIMALS = 8;

type Ctx = { req: ExchangeRequest; state: EmulatorState; fx: OkxFixtures; account?: Account };
type Route = { private: boolean; wallet?: WalletName; handle(ctx: Ctx): Reply };

function ok(data: unknown[]): Reply {
  return { status: 200, body: { code: '0', data, msg: '' } };
}

function fail(status: number, code: string, msg: string): Reply {
  return { status, body: { code, data: [], msg } };
}

function must(account: Account | undefined): Account {
  if (!account) throw new Error('private route without account');
  return account;
}

/** OKX writes prices and amounts as plain decimals without trailing zeros ("68600", "73384.8"). */
const plain = (v: string): string => canonical(v);

const INST_TYPES: Record<string, OkxInstType> = { SPOT: 'SPOT', SWAP: 'SWAP', FUTURES: 'FUTURES', OPTION: 'OPTION' };

function instTypeOf(m: MarketInfo): OkxInstType {
  return m.kind === 'spot' ? 'SPOT' : 'SWAP';
}

/** The emulator's markets of an instType (SPOT, SWAP: the recorded ones; FUTURES: none recorded). */
function marketsOf(state: EmulatorState, instType: OkxInstType): MarketInfo[] {
  return state.markets('okx').filter((m) => instTypeOf(m) === instType);
}

/** instType, required by okx on the instruments and tickers endpoints. */
function requiredInstType(req: ExchangeRequest): OkxInstType | Reply {
  const raw = req.query.get('instType');
  if (raw === null || raw === '') return fail(400, '50014', 'Parameter instType can not be empty');
  return INST_TYPES[raw] ?? fail(400, '51000', 'Parameter instType error');
}

function isReply(v: unknown): v is Reply {
  return typeof v === 'object' && v !== null && 'status' in v && 'body' in v;
}

/** okx's optional row filters: instId, uly, instFamily (exact match on the instrument row). */
function matchesFilters(row: Json, q: URLSearchParams): boolean {
  for (const key of ['instId', 'uly', 'instFamily']) {
    const wanted = q.get(key);
    if (wanted !== null && wanted !== '' && row[key] !== wanted) return false;
  }
  return true;
}

// --- public ------------------------------------------------------------------------------------

function time(ctx: Ctx): Reply {
  return ok([{ ts: String(ctx.req.now) }]);
}

/** GET /api/v5/public/instruments?instType=SPOT|SWAP|FUTURES|OPTION[&uly|instFamily|instId] */
function instruments(ctx: Ctx): Reply {
  const instType = requiredInstType(ctx.req);
  if (isReply(instType)) return instType;
  const q = ctx.req.query;
  let rows: Json[];
  if (instType === 'SPOT' || instType === 'SWAP') rows = marketsOf(ctx.state, instType).map((m) => m.row);
  else if (instType === 'OPTION') {
    // ccxt asks per underlying (options.defaultUnderlying BTC-USD, ETH-USD); without one: nothing
    const scoped = (q.get('uly') ?? '') !== '' || (q.get('instFamily') ?? '') !== '';
    rows = scoped ? ctx.fx.instruments.OPTION : [];
  } else rows = ctx.fx.instruments.FUTURES;
  return ok(rows.filter((r) => matchesFilters(r, q)).map((r) => clone(r)));
}

function tickerRow(ctx: Ctx, m: MarketInfo): Json {
  const s = ctx.state.prices.okx.stats(m.symbol);
  const dp = decimalsOf(m.tick);
  return {
    ...clone(ctx.fx.ticker),
    instType: instTypeOf(m),
    instId: m.id,
    last: plain(s.last),
    askPx: plain(s.last),
    bidPx: plain(round(sub(s.last, s.tick), dp)),
    open24h: plain(s.open),
    high24h: plain(s.high),
    low24h: plain(s.low),
    ts: String(ctx.req.now),
    sodUtc0: plain(s.open),
    sodUtc8: plain(s.open),
  };
}

/** GET /api/v5/market/tickers?instType=...[&uly|instFamily]: every market of that type. */
function tickers(ctx: Ctx): Reply {
  const instType = requiredInstType(ctx.req);
  if (isReply(instType)) return instType;
  const markets = marketsOf(ctx.state, instType).filter((m) => matchesFilters(m.row, ctx.req.query));
  return ok(markets.map((m) => tickerRow(ctx, m)));
}

/** GET /api/v5/market/ticker?instId=... */
function ticker(ctx: Ctx): Reply {
  const instId = ctx.req.query.get('instId');
  if (instId === null || instId === '') return fail(400, '50014', 'Parameter instId can not be empty');
  const market = ctx.state.markets('okx').find((m) => m.id === instId);
  if (!market) return fail(200, '51001', "Instrument ID doesn't exist");
  return ok([tickerRow(ctx, market)]);
}

// --- positions ---------------------------------------------------------------------------------

interface Figures {
  p: Position;
  v: EmulatorPositionView;
  /** USD face value of an inverse position (contracts * ctVal); unused for linear */
  usd: string;
  /** cross: okx `imr`, isolated: okx `margin`, in the margin currency */
  initialMargin: string;
  mmr: string;
  /** okx notionalUsd: linear contracts*ctVal*mark (USDT counted as 1 USD), inverse contracts*ctVal */
  notionalUsd: string;
}

function figures(state: EmulatorState, p: Position): Figures {
  const v = state.positionView('okx', p);
  if (v.inverse) {
    const usd = mul(v.contracts, v.contractSize);
    return {
      p,
      v,
      usd,
      // cross margin follows the mark price, isolated margin was set at the entry price
      initialMargin:
        v.marginMode === 'cross' ? div(usd, mul(v.markPrice, v.leverage), RATIO_DECIMALS) : div(usd, mul(v.entryPrice, v.leverage), RATIO_DECIMALS),
      mmr: div(mul(usd, MAINTENANCE_RATE), v.markPrice, RATIO_DECIMALS),
      notionalUsd: usd,
    };
  }
  return {
    p,
    v,
    usd: '0',
    initialMargin: v.marginMode === 'cross' ? div(v.notional, v.leverage, RATIO_DECIMALS) : div(v.positionValue, v.leverage, RATIO_DECIMALS),
    mmr: mul(v.notional, MAINTENANCE_RATE),
    notionalUsd: v.notional,
  };
}

function ratio(a: string, b: string, scale = RATIO_DECIMALS): string {
  return isZero(b) ? '' : div(a, b, scale);
}

function positionRow(ctx: Ctx, f: Figures, account: Account, index: number): Json {
  const { v, p } = f;
  const rows = ctx.fx.positionRows;
  const template = !v.inverse ? rows.linear : v.marginMode === 'isolated' ? rows.inverseIsolated : rows.inverseCross;
  const cross = v.marginMode === 'cross';
  const collateral = add(f.initialMargin, v.unrealizedPnl);
  const uplRatio = ratio(v.unrealizedPnl, f.initialMargin);
  const created = String(account.createdAt);
  return {
    ...clone(template),
    adl: '1',
    // net mode: availPos is only filled in long/short mode
    availPos: '',
    avgPx: v.entryPrice,
    bePx: v.entryPrice,
    cTime: created,
    ccy: v.settle,
    closeOrderAlgo: [],
    fee: '0',
    fundingFee: '0',
    idxPx: v.markPrice,
    imr: cross ? f.initialMargin : '',
    instId: p.market.id,
    instType: 'SWAP',
    last: v.markPrice,
    lever: v.leverage,
    liqPenalty: '0',
    // liquidation prices are not modelled
    liqPx: '',
    margin: cross ? '' : f.initialMargin,
    markPx: v.markPrice,
    mgnMode: v.marginMode,
    mgnRatio: ratio(collateral, f.mmr, 8),
    mmr: f.mmr,
    notionalUsd: f.notionalUsd,
    pendingCloseOrdLiabVal: '',
    pnl: '0',
    // net (one-way) mode: pos is signed, negative for shorts
    pos: v.side === 'short' ? neg(v.contracts) : v.contracts,
    posCcy: '',
    posId: `${account.createdAt}${String(index + 1).padStart(4, '0')}`,
    posSide: 'net',
    realizedPnl: '0',
    tradeId: '',
    uTime: created,
    upl: v.unrealizedPnl,
    uplLastPx: v.unrealizedPnl,
    uplRatio,
    uplRatioLastPx: uplRatio,
    usdPx: v.inverse ? v.markPrice : '',
  };
}

const POSITION_INST_TYPES = new Set(['MARGIN', 'SWAP', 'FUTURES', 'OPTION']);

/** GET /api/v5/account/positions[?instType][&instId=A,B][&posId=...]: all open positions, no paging. */
function positions(ctx: Ctx): Reply {
  const { req, state } = ctx;
  const account = must(ctx.account);
  const q = req.query;
  const instType = q.get('instType');
  if (instType !== null && instType !== '' && !POSITION_INST_TYPES.has(instType)) return fail(400, '51000', 'Parameter instType error');
  const instIds = (q.get('instId') ?? '').split(',').filter((s) => s !== '');
  const posIds = (q.get('posId') ?? '').split(',').filter((s) => s !== '');
  const rows = account.positions
    .map((p, i) => positionRow(ctx, figures(state, p), account, i))
    .filter((r) => instType === null || instType === '' || r.instType === instType)
    .filter((r) => instIds.length === 0 || instIds.includes(String(r.instId)))
    .filter((r) => posIds.length === 0 || posIds.includes(String(r.posId)));
  return ok(rows);
}

// --- balances ----------------------------------------------------------------------------------

/** Price of one unit of a currency in USD (USDT/USDC count as 1), 0 when the emulator has no USDT pair. */
function usd(state: EmulatorState, ccy: string): string {
  return state.usdPrice('okx', ccy) ?? '0';
}

/**
 * GET /api/v5/account/balance[?ccy=A,B]: the trading account. Per currency eq = free + used,
 * availEq = availBal = free, frozenBal = used, so ccxt's parseTradingBalance (total = eq, free =
 * availEq, used = total - free) returns the account exactly. The PnL of the positions settled in
 * the currency is reported as upl (isoUpl: isolated ones), and cashBal = eq - upl.
 */
function balance(ctx: Ctx): Reply {
  const { req, state, fx } = ctx;
  const account = must(ctx.account);
  const wanted = (req.query.get('ccy') ?? '').split(',').filter((s) => s !== '');
  const figs = account.positions.map((p) => figures(state, p));
  const details: Json[] = [];
  const totals = { eq: [] as string[], avail: [] as string[], upl: [] as string[], isoEq: [] as string[] };
  for (const [ccy, b] of Object.entries(account.balances)) {
    if (wanted.length > 0 && !wanted.includes(ccy)) continue;
    const eq = add(b.free, b.used);
    const mine = figs.filter((f) => f.v.settle === ccy);
    const upl = sum(mine.map((f) => f.v.unrealizedPnl));
    const isolated = mine.filter((f) => f.v.marginMode === 'isolated');
    const isoUpl = sum(isolated.map((f) => f.v.unrealizedPnl));
    const isoEq = sum(isolated.map((f) => add(f.initialMargin, f.v.unrealizedPnl)));
    const price = usd(state, ccy);
    const eqUsd = round(mul(eq, price), USD_DECIMALS);
    totals.eq.push(eqUsd);
    totals.avail.push(mul(b.free, price));
    totals.upl.push(mul(upl, price));
    totals.isoEq.push(mul(isoEq, price));
    details.push({
      ...clone(fx.balanceDetail),
      accAvgPx: '',
      availBal: b.free,
      availEq: b.free,
      borrowFroz: '0',
      cashBal: sub(eq, upl),
      ccy,
      clSpotInUseAmt: '',
      colBorrAutoConversion: '0',
      collateralEnabled: true,
      collateralRestrict: false,
      crossLiab: '0',
      disEq: eqUsd,
      eq,
      eqUsd,
      fixedBal: '0',
      frozenBal: b.used,
      imr: '',
      interest: '0',
      isoEq,
      isoLiab: '0',
      isoUpl,
      liab: '0',
      maxLoan: '',
      maxSpotInUse: '',
      mgnRatio: '',
      mmr: '',
      notionalLever: '',
      openAvgPx: '',
      ordFrozen: '0',
      rewardBal: '',
      smtSyncEq: '0',
      spotBal: '',
      spotCopyTradingEq: '0',
      spotInUseAmt: '',
      spotIsoBal: '0',
      spotUpl: '',
      spotUplRatio: '',
      stgyEq: '0',
      totalPnl: '',
      totalPnlRatio: '',
      twap: '0',
      uTime: String(account.createdAt),
      upl,
      uplLiab: '0',
    });
  }
  const inUsd = (f: Figures, amount: string): string => mul(amount, usd(state, f.v.settle));
  const imr = round(sum(figs.filter((f) => f.v.marginMode === 'cross').map((f) => inUsd(f, f.initialMargin))), USD_DECIMALS);
  const mmr = round(sum(figs.map((f) => inUsd(f, f.mmr))), USD_DECIMALS);
  const notionalUsd = round(sum(figs.map((f) => f.notionalUsd)), USD_DECIMALS);
  const totalEq = round(sum(totals.eq), USD_DECIMALS);
  const template = clone(fx.balanceReply);
  const first = ((template.data as Json[])[0] ?? {}) as Json;
  const row: Json = {
    ...first,
    adjEq: totalEq,
    availEq: round(sum(totals.avail), USD_DECIMALS),
    borrowFroz: '0',
    details,
    imr,
    isoEq: round(sum(totals.isoEq), USD_DECIMALS),
    mgnRatio: cmp(mmr, '0') > 0 ? div(totalEq, mmr, RATIO_DECIMALS) : '',
    mmr,
    notionalUsd,
    notionalUsdForBorrow: '0',
    notionalUsdForFutures: '0',
    notionalUsdForOption: '0',
    notionalUsdForSwap: notionalUsd,
    ordFroz: '0',
    totalEq,
    uTime: String(req.now),
    upl: round(sum(totals.upl), USD_DECIMALS),
  };
  return ok([row]);
}

/** GET /api/v5/asset/balances[?ccy=A,B]: the funding account (ccxt: fetchBalance({type: 'funding'})). */
function assetBalances(ctx: Ctx): Reply {
  const account = must(ctx.account);
  const wanted = (ctx.req.query.get('ccy') ?? '').split(',').filter((s) => s !== '');
  const rows = Object.entries(account.fundingBalances)
    .filter(([ccy]) => wanted.length === 0 || wanted.includes(ccy))
    .map(([ccy, b]) => ({ ...clone(ctx.fx.fundingRow), availBal: b.free, bal: add(b.free, b.used), ccy, frozenBal: b.used }));
  return ok(rows);
}

/** GET /api/v5/account/config (ccxt: fetchAccounts): a spot-and-futures account (acctLv 2) in net mode. */
function accountConfig(ctx: Ctx): Reply {
  const account = must(ctx.account);
  const uid = String(account.createdAt);
  return ok([
    {
      ...clone(ctx.fx.accountConfig),
      acctLv: '2',
      ip: '',
      label: 'exchange-sync emulator',
      mainUid: uid,
      perm: 'read_only',
      posMode: 'net_mode',
      uid,
    },
  ]);
}

// --- history: fills, deposits, withdrawals -------------------------------------------------------

/** Page size of the history endpoints: default 100, at most 100. */
const HISTORY_MAX_LIMIT = 100;
/** fills-history serves the last 3 months (taken as 92 days), fills the last 3 days. */
const FILLS_HISTORY_DAYS = 92;
const FILLS_RECENT_DAYS = 3;

function historyLimit(q: URLSearchParams): number | Reply {
  const raw = q.get('limit');
  if (raw === null || raw === '') return HISTORY_MAX_LIMIT;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > HISTORY_MAX_LIMIT) return fail(400, '51000', 'Parameter limit error');
  return n;
}

function integerParam(q: URLSearchParams, name: string): bigint | undefined | Reply {
  const raw = q.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,24}$/.test(raw)) return fail(400, '51000', `Parameter ${name} error`);
  return BigInt(raw);
}

/**
 * okx paging, newest first: `after` = records older than the cursor, `before` = newer ones. With
 * `before` alone the page is the `limit` records nearest above it (still newest first).
 */
function cursorPage<T>(items: T[], keyOf: (t: T) => bigint, after: bigint | undefined, before: bigint | undefined, limit: number): T[] {
  const newest = [...items].sort((a, b) => (keyOf(b) > keyOf(a) ? 1 : keyOf(b) < keyOf(a) ? -1 : 0));
  const inRange = newest.filter((t) => (after === undefined || keyOf(t) < after) && (before === undefined || keyOf(t) > before));
  if (before !== undefined && after === undefined) return inRange.slice(-limit);
  return inRange.slice(0, limit);
}

function fillRow(ctx: Ctx, f: Fill): Json {
  const spot = f.market.kind === 'spot';
  return {
    ...clone(ctx.fx.fillRow),
    side: f.side,
    fillSz: f.amount,
    fillPx: f.price,
    fillPxVol: '',
    fillFwdPx: '',
    // okx writes fees negative (a charge) and rebates positive
    fee: neg(f.fee.cost),
    fillPnl: f.realizedPnl,
    ordId: f.orderId,
    feeRate: neg(f.fee.rate),
    instType: instTypeOf(f.market),
    fillPxUsd: '',
    instId: f.market.id,
    clOrdId: '',
    posSide: 'net',
    billId: f.billId,
    fillMarkVol: '',
    tag: '',
    fillTime: String(f.timestamp),
    execType: f.takerOrMaker === 'maker' ? 'M' : 'T',
    fillIdxPx: spot ? '' : f.price,
    tradeId: f.id,
    fillMarkPx: spot ? '' : f.price,
    feeCcy: f.fee.currency,
    ts: String(f.timestamp),
  };
}

/**
 * GET /api/v5/trade/fills-history (last 3 months; instType required) and /api/v5/trade/fills
 * (last 3 days). ccxt fetchMyTrades sends instType, instId, begin (since), end (until), limit (only
 * without since). Paging by billId (after/before), newest first, at most 100 a page.
 */
function fills(recent: boolean) {
  return (ctx: Ctx): Reply => {
    const { req, state } = ctx;
    const account = must(ctx.account);
    const q = req.query;
    const raw = q.get('instType');
    let instType: string | undefined;
    if (raw === null || raw === '') {
      if (!recent) return fail(400, '50014', 'Parameter instType can not be empty');
    } else if (['SPOT', 'MARGIN', 'SWAP', 'FUTURES', 'OPTION'].includes(raw)) instType = raw;
    else return fail(400, '51000', 'Parameter instType error');
    const limit = historyLimit(q);
    if (isReply(limit)) return limit;
    const params: Record<string, bigint | undefined> = {};
    for (const name of ['after', 'before', 'begin', 'end']) {
      const v = integerParam(q, name);
      if (isReply(v)) return v;
      params[name] = v;
    }
    const oldest = req.now - (recent ? FILLS_RECENT_DAYS : FILLS_HISTORY_DAYS) * DAY_MS;
    const instId = q.get('instId');
    const ordId = q.get('ordId');
    const { begin, end } = params;
    const list = state
      .fills(account)
      .filter((f) => instType === undefined || instTypeOf(f.market) === instType)
      .filter((f) => f.timestamp >= oldest)
      .filter((f) => (begin === undefined || BigInt(f.timestamp) >= begin) && (end === undefined || BigInt(f.timestamp) <= end))
      .filter((f) => (instId === null || instId === '' || f.market.id === instId) && (ordId === null || ordId === '' || f.orderId === ordId));
    const paged = cursorPage(list, (f) => BigInt(f.billId), params.after, params.before, limit);
    return ok(paged.map((f) => fillRow(ctx, f)));
  };
}

/** okx chain names: "<ccy>-<network>", e.g. USDT-TRC20 (ccxt reads the network from the part after the dash). */
const chainOf = (t: Transfer): string => `${t.currency}-${t.network}`;

function transferRow(t: Transfer): Json {
  const state = exchangeStatus('okx', t);
  if (t.type === 'deposit') {
    // the field list of okx's documentation (Get deposit history); not in the recordings
    return {
      actualDepBlkConfirm: t.status === 'ok' ? '2' : '0',
      amt: t.amount,
      areaCodeFrom: '',
      ccy: t.currency,
      chain: chainOf(t),
      depId: t.id,
      from: '',
      fromWdId: '',
      state,
      to: t.address,
      ts: String(t.timestamp),
      txId: t.txid,
    };
  }
  // okx's documentation (Get withdrawal history)
  return {
    note: '',
    chain: chainOf(t),
    fee: t.fee,
    feeCcy: t.currency,
    ccy: t.currency,
    clientId: '',
    toAddrType: '1',
    amt: t.amount,
    txId: t.status === 'ok' ? t.txid : '',
    from: '',
    areaCodeFrom: '',
    to: t.address,
    areaCodeTo: '',
    state,
    ts: String(t.timestamp),
    nonTradableAsset: false,
    wdId: t.id,
  };
}

/**
 * GET /api/v5/asset/deposit-history and /api/v5/asset/withdrawal-history (ccxt fetchDeposits /
 * fetchWithdrawals: ccy, before = since - 1, after = until, limit). Paging by ts, newest first,
 * at most 100 a page.
 */
function transferHistory(type: Transfer['type']) {
  return (ctx: Ctx): Reply => {
    const { req, state } = ctx;
    const account = must(ctx.account);
    const q = req.query;
    const limit = historyLimit(q);
    if (isReply(limit)) return limit;
    const after = integerParam(q, 'after');
    if (isReply(after)) return after;
    const before = integerParam(q, 'before');
    if (isReply(before)) return before;
    const ccy = q.get('ccy');
    const id = q.get(type === 'deposit' ? 'depId' : 'wdId');
    const txId = q.get('txId');
    const wanted = q.get('state');
    // type: 3 internal transfer, 4 on chain; every emulated transfer is on chain
    const kind = q.get('type');
    const list = state
      .transfers(account)
      .filter((t) => t.type === type && (kind === null || kind === '' || kind === '4'))
      .filter((t) => ccy === null || ccy === '' || t.currency === ccy)
      .filter((t) => (id === null || id === '' || t.id === id) && (txId === null || txId === '' || t.txid === txId))
      .filter((t) => wanted === null || wanted === '' || exchangeStatus('okx', t) === wanted);
    const paged = cursorPage(list, (t) => BigInt(t.timestamp) * 1_000_000n + BigInt(t.seq), after === undefined ? undefined : after * 1_000_000n, before === undefined ? undefined : before * 1_000_000n + 999_999n, limit);
    return ok(paged.map(transferRow));
  };
}

const ROUTES: Record<string, Route> = {
  '/api/v5/trade/fills-history': { private: true, wallet: 'trading', handle: fills(false) },
  '/api/v5/trade/fills': { private: true, wallet: 'trading', handle: fills(true) },
  '/api/v5/asset/deposit-history': { private: true, wallet: 'funding', handle: transferHistory('deposit') },
  '/api/v5/asset/withdrawal-history': { private: true, wallet: 'funding', handle: transferHistory('withdrawal') },
  '/api/v5/public/time': { private: false, handle: time },
  '/api/v5/public/instruments': { private: false, handle: instruments },
  '/api/v5/market/tickers': { private: false, handle: tickers },
  '/api/v5/market/ticker': { private: false, handle: ticker },
  '/api/v5/account/balance': { private: true, wallet: 'trading', handle: balance },
  '/api/v5/account/positions': { private: true, wallet: 'trading', handle: positions },
  '/api/v5/asset/balances': { private: true, wallet: 'funding', handle: assetBalances },
  '/api/v5/account/config': { private: true, handle: accountConfig },
};

// --- authentication ----------------------------------------------------------------------------

/** OKX: base64 HMAC-SHA256(secret, timestamp + METHOD + requestPath (with "?query") + body). */
export function okxSignature(secret: string, timestamp: string, method: string, requestPath: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}${method}${requestPath}${body}`).digest('base64');
}

function sameBase64(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function authenticate(req: ExchangeRequest, state: EmulatorState): Account | Reply {
  const apiKey = header(req.headers, 'ok-access-key');
  if (!apiKey) return fail(401, '50103', 'Request header "OK-ACCESS-KEY" can not be empty');
  const account = state.getAccount('okx', apiKey);
  if (!account) return fail(401, '50111', 'Invalid OK-ACCESS-KEY');
  const passphrase = header(req.headers, 'ok-access-passphrase');
  if (!passphrase) return fail(401, '50104', 'Request header "OK-ACCESS-PASSPHRASE" can not be empty');
  if (passphrase !== account.passphrase) return fail(401, '50105', 'Request header "OK-ACCESS-PASSPHRASE" incorrect');
  const timestamp = header(req.headers, 'ok-access-timestamp');
  if (!timestamp) return fail(401, '50107', 'Request header "OK-ACCESS-TIMESTAMP" can not be empty');
  const ts = Date.parse(timestamp);
  if (!ISO_MS.test(timestamp) || !Number.isFinite(ts)) return fail(401, '50112', 'Invalid OK-ACCESS-TIMESTAMP');
  if (Math.abs(req.now - ts) > TIMESTAMP_WINDOW_MS) return fail(401, '50102', 'Timestamp request expired');
  const sign = header(req.headers, 'ok-access-sign');
  if (!sign) return fail(401, '50106', 'Request header "OK-ACCESS-SIGN" can not be empty');
  const requestPath = req.rawQuery === '' ? req.path : `${req.path}?${req.rawQuery}`;
  if (!sameBase64(okxSignature(account.secret, timestamp, req.method, requestPath, req.body), sign)) return fail(401, '50113', 'Invalid Sign');
  return account;
}

export const okx: ExchangeModule = {
  exchange: 'okx',
  owns: (path) => path.startsWith('/api/v5/'),
  apiKeyOf: (headers: IncomingHttpHeaders) => header(headers, 'ok-access-key'),
  handle(req, state) {
    const route = req.method === 'GET' ? ROUTES[req.path] : undefined;
    if (!route) return notFound(req, 'okx');
    const fx = state.fixtures.okx;
    if (!fx) {
      return {
        status: 500,
        headers: { 'content-type': 'text/plain' },
        body: `emulator: the fixture folder ${state.fixtures.dir} has no okx files (markets/okx.json, response/okx.json)`,
      };
    }
    if (!route.private) return route.handle({ req, state, fx });
    const account = authenticate(req, state);
    if (isReply(account)) return account;
    // okx answers a key without the permission an endpoint needs with 50120, on HTTP 200
    if (route.wallet && account.denied.has(route.wallet)) return fail(200, '50120', "API key doesn't have permission to use this function");
    return route.handle({ req, state, fx, account });
  },
  rateLimited: () => fail(429, '50011', 'Too Many Requests'),
};
