// Fill and transfer history of an account: how a fill moves balances and positions, how a
// deposit or withdrawal moves the funding wallet, the exchange-style ids, and the exact views.
// The exchange modules render these records in their own formats (bybit.ts, binance.ts, okx.ts).
import { createHash } from 'node:crypto';
import { add, canonical, cmp, div, isZero, mul, neg, round, sub } from './decimal.js';
import type { MarketInfo } from './fixtures.js';
import type { HistoryTradeInput, HistoryTransferInput, TradeInput, TransferStatus } from './schemas.js';
import type { Account, Balance, EmulatorState, Position } from './state.js';
import { EmulatorInputError, type EmulatorExchange, type EmulatorFillView, type EmulatorTransferView } from './types.js';

/** Fee rate when a fill names none (0.1 %). */
export const DEFAULT_FEE_RATE = '0.001';
/** Leverage of a position a fill opens where there was none. */
const DEFAULT_LEVERAGE = '10';
/** Decimals of coin amounts of inverse contracts (values, PnL, fees), as bybit and binance write them. */
const INVERSE_DECIMALS = 8;
/** Computed amounts never carry more decimals than the exchanges accept. */
const MAX_DECIMALS = 18;
/** Entry prices averaged over fills. */
const PRICE_DECIMALS = 18;

export interface Fill {
  /** position in the account's history (creation order); ties on timestamp sort by it */
  seq: number;
  id: string;
  orderId: string;
  market: MarketInfo;
  side: 'buy' | 'sell';
  amount: string;
  price: string;
  fee: { currency: string; cost: string; rate: string };
  takerOrMaker: 'taker' | 'maker';
  timestamp: number;
  realizedPnl: string;
  closedSize: string;
  /** okx billId: increasing with (timestamp, seq), so paging by it follows time */
  billId: string;
}

export interface Transfer {
  seq: number;
  id: string;
  type: 'deposit' | 'withdrawal';
  currency: string;
  amount: string;
  fee: string;
  status: TransferStatus;
  network: string;
  txid: string;
  address: string;
  timestamp: number;
  updatedAt: number;
}

export interface History {
  fills: Fill[];
  transfers: Transfer[];
  /** next seq for fills and transfers */
  seq: number;
  /** per-symbol trade id counters (binance ids, okx tradeIds increase per instrument) */
  tradeIds: Map<string, number>;
}

export function emptyHistory(): History {
  return { fills: [], transfers: [], seq: 1, tradeIds: new Map() };
}

// --- ids ---------------------------------------------------------------------------------------

function hex(seed: string, length: number): string {
  let out = '';
  for (let i = 0; out.length < length; i++) out += createHash('sha256').update(`${seed}:${i}`).digest('hex');
  return out.slice(0, length);
}

function uuid(seed: string): string {
  const h = hex(seed, 32);
  // version 4 / variant bits, as bybit's execIds look
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[parseInt(h[16] ?? '0', 16) % 4]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function nextTradeNumber(h: History, key: string, start: number): number {
  const n = h.tradeIds.get(key) ?? start;
  h.tradeIds.set(key, n + 1);
  return n;
}

function fillIds(account: Account, market: MarketInfo, seq: number, orderId: string | undefined): { id: string; orderId: string } {
  const seed = `${account.exchange}:${account.apiKey}:fill:${seq}`;
  const h = account.history;
  if (account.exchange === 'bybit') {
    // recorded bybit rows: spot execIds/orderIds are 19-digit numbers, contract ones uuids
    if (market.kind === 'spot') {
      return { id: `21000000${String(seq).padStart(11, '0')}`, orderId: orderId ?? `17${String(seq).padStart(17, '0')}` };
    }
    return { id: uuid(seed), orderId: orderId ?? uuid(`${seed}:order`) };
  }
  if (account.exchange === 'binance') {
    return { id: String(nextTradeNumber(h, `${market.kind}:${market.id}`, 300_000_000)), orderId: orderId ?? String(3_700_000_000 + seq) };
  }
  return { id: String(nextTradeNumber(h, `${market.kind}:${market.id}`, 56_000_000)), orderId: orderId ?? `6398${String(seq).padStart(14, '0')}` };
}

function billId(timestamp: number, seq: number): string {
  return `${timestamp}${String(seq % 100_000).padStart(5, '0')}`;
}

function transferId(exchange: EmulatorExchange, apiKey: string, type: Transfer['type'], seq: number): string {
  if (exchange === 'bybit') return String(type === 'deposit' ? 1_300_000 + seq : 9_900 + seq);
  if (exchange === 'binance') return type === 'deposit' ? String(4_534_000_000 + seq) : hex(`${exchange}:${apiKey}:withdrawal:${seq}`, 32);
  return String(type === 'deposit' ? 88_000_000 + seq : 15_440_000 + seq);
}

/** Default network per currency, in each exchange's naming (okx: the part of `chain` after "<ccy>-"). */
const NETWORKS: Record<'bybit' | 'binance' | 'okx', Record<string, string>> = {
  bybit: { USDT: 'TRX', USDC: 'ETH', BTC: 'BTC', ETH: 'ETH', LTC: 'LTC' },
  binance: { USDT: 'TRX', USDC: 'ETH', BTC: 'BTC', ETH: 'ETH', LTC: 'LTC' },
  okx: { USDT: 'TRC20', USDC: 'ERC20', BTC: 'Bitcoin', ETH: 'ERC20', LTC: 'Litecoin' },
};

function defaultAddress(network: string, seed: string): string {
  if (/TRX|TRC20/i.test(network)) return `T${hex(seed, 33)}`;
  if (/BTC|Bitcoin/i.test(network)) return `bc1q${hex(seed, 38)}`;
  return `0x${hex(seed, 40)}`;
}

// --- exchange status words -----------------------------------------------------------------------

/** The exchange's status code or word for a transfer status (see docs/emulator.md). */
export function exchangeStatus(exchange: EmulatorExchange, t: Pick<Transfer, 'type' | 'status'>): string {
  const table: Record<EmulatorExchange, Record<Transfer['type'], Record<TransferStatus, string>>> = {
    // bybit deposits: 1 toBeConfirmed, 3 success, 4 deposit failed; withdrawals: strings
    bybit: { deposit: { pending: '1', ok: '3', failed: '4' }, withdrawal: { pending: 'Pending', ok: 'success', failed: 'Fail' } },
    // binance deposits: 0 pending, 1 success, 2 rejected; withdrawals: 4 processing, 6 completed, 5 failure
    binance: { deposit: { pending: '0', ok: '1', failed: '2' }, withdrawal: { pending: '4', ok: '6', failed: '5' } },
    // okx deposits: 0 waiting for confirmation, 2 successful, 11 address blacklisted; withdrawals: 0 waiting, 2 success, -1 failed
    okx: { deposit: { pending: '0', ok: '2', failed: '11' }, withdrawal: { pending: '0', ok: '2', failed: '-1' } },
  };
  return table[exchange][t.type][t.status];
}

// --- wallets -------------------------------------------------------------------------------------

/** The wallet a spot fill moves: bybit unified (classic: SPOT), binance spot, okx trading. */
function spotWallet(account: Account): Record<string, Balance> {
  return account.balances;
}

/** The wallet that holds a derivative position's margin and PnL. */
export function derivativesWallet(account: Account, market: MarketInfo): Record<string, Balance> {
  if (account.exchange === 'binance') return market.kind === 'inverse' ? account.deliveryBalances : account.futuresBalances;
  if (account.exchange === 'bybit') {
    if (account.bybitAccountMode === 'classic') return account.contractBalances;
    if (account.bybitAccountMode === 'uta1' && market.kind === 'inverse') return account.contractBalances;
  }
  return account.balances;
}

/** Where deposits land and withdrawals leave from: bybit FUND, binance spot, okx funding. */
export function transferWallet(account: Account): { name: 'funding' | 'spot'; balances: Record<string, Balance> } {
  return account.exchange === 'binance' ? { name: 'spot', balances: account.balances } : { name: 'funding', balances: account.fundingBalances };
}

function freeOf(wallet: Record<string, Balance>, asset: string): string {
  return wallet[asset]?.free ?? '0';
}

/** Adds `delta` (may be negative) to an asset's free balance; the caller checked it stays >= 0. */
function moveFree(wallet: Record<string, Balance>, asset: string, delta: string): void {
  const b = wallet[asset] ?? { free: '0', used: '0' };
  wallet[asset] = { free: add(b.free, delta), used: b.used };
}

function moveUsed(wallet: Record<string, Balance>, asset: string, delta: string): void {
  const b = wallet[asset] ?? { free: '0', used: '0' };
  wallet[asset] = { free: b.free, used: add(b.used, delta) };
}

// --- fills ---------------------------------------------------------------------------------------

function capDecimals(v: string): string {
  return round(v, MAX_DECIMALS, 'down');
}

function settleOf(market: MarketInfo): string {
  return market.settle ?? market.quote;
}

/** amount * contractSize * price (spot, linear) or amount * contractSize / price in the coin (inverse, 8 decimals half-up). */
export function fillCost(f: Pick<Fill, 'market' | 'amount' | 'price'>): string {
  const units = mul(f.amount, f.market.contractSize);
  return f.market.kind === 'inverse' ? div(units, f.price, INVERSE_DECIMALS) : mul(units, f.price);
}

interface FeePlan {
  currency: string;
  cost: string;
  rate: string;
}

function planFee(account: Account, market: MarketInfo, input: TradeInput, price: string): FeePlan {
  const rate = canonical(input.fee?.rate ?? DEFAULT_FEE_RATE);
  const where = `${account.exchange} ${market.symbol}`;
  if (market.kind !== 'spot') {
    const settle = settleOf(market);
    const currency = input.fee?.currency ?? settle;
    if (currency !== settle) throw new EmulatorInputError(`fee.currency: ${where} charges fees in the settle coin ${settle}, not ${currency}`);
    const units = mul(input.amount, market.contractSize);
    const cost = input.fee?.cost ?? (market.kind === 'inverse' ? div(mul(units, rate), price, INVERSE_DECIMALS) : capDecimals(mul(mul(units, price), rate)));
    return { currency, cost: canonical(cost), rate };
  }
  const natural = input.side === 'buy' ? market.base : market.quote;
  const currency = input.fee?.currency ?? natural;
  if (account.exchange === 'bybit' && currency !== natural) {
    // bybit's execution rows carry no fee coin ccxt reads: the fee currency follows from the side
    throw new EmulatorInputError(`fee.currency: bybit charges spot ${input.side} fees in ${natural} (the ${input.side === 'buy' ? 'base' : 'quote'} coin), not ${currency}`);
  }
  let cost = input.fee?.cost;
  if (cost === undefined) {
    if (currency === market.base) cost = capDecimals(mul(input.amount, rate));
    else if (currency === market.quote) cost = capDecimals(mul(mul(input.amount, price), rate));
    else throw new EmulatorInputError(`fee.cost: a fee in ${currency} (neither ${market.base} nor ${market.quote}) needs an explicit cost`);
  }
  return { currency, cost: canonical(cost), rate };
}

function marketOf(state: EmulatorState, exchange: EmulatorExchange, symbol: string): MarketInfo {
  const market = state.market(exchange, symbol);
  if (!market) {
    const known = state.markets(exchange).map((m) => m.symbol);
    const list = known.length > 30 ? `${known.slice(0, 30).join(', ')}, ... (${known.length - 30} more)` : known.join(', ');
    throw new EmulatorInputError(`symbol: "${symbol}" is not a market of ${exchange} (known: ${list})`);
  }
  return market;
}

function insertSorted<T extends { timestamp: number; seq: number }>(list: T[], item: T): void {
  let i = list.length;
  while (i > 0) {
    const prev = list[i - 1] as T;
    if (prev.timestamp < item.timestamp || (prev.timestamp === item.timestamp && prev.seq < item.seq)) break;
    i--;
  }
  list.splice(i, 0, item);
}

function newFill(account: Account, market: MarketInfo, input: TradeInput, price: string, at: number, fee: FeePlan, realizedPnl: string, closedSize: string): Fill {
  const h = account.history;
  const seq = h.seq++;
  const ids = fillIds(account, market, seq, input.orderId);
  return {
    seq,
    id: ids.id,
    orderId: ids.orderId,
    market,
    side: input.side,
    amount: canonical(input.amount),
    price,
    fee,
    takerOrMaker: input.takerOrMaker ?? 'taker',
    timestamp: at,
    realizedPnl,
    closedSize,
    billId: billId(at, seq),
  };
}

/** A seeded history fill (account input `trades`): validated, recorded, balances untouched. */
export function seedFill(state: EmulatorState, account: Account, input: HistoryTradeInput): Fill {
  const market = marketOf(state, account.exchange, input.symbol);
  const price = canonical(input.price);
  const fee = planFee(account, market, input, price);
  const spot = market.kind === 'spot';
  if (spot && (input.realizedPnl !== undefined || input.closedSize !== undefined)) {
    throw new EmulatorInputError(`realizedPnl and closedSize are for derivatives fills, not the spot market ${market.symbol}`);
  }
  const fill = newFill(account, market, input, price, input.at, fee, canonical(input.realizedPnl ?? '0'), canonical(input.closedSize ?? '0'));
  insertSorted(account.history.fills, fill);
  return fill;
}

function describeShort(account: Account, input: TradeInput, market: MarketInfo, price: string): string {
  return `${account.exchange} "${account.apiKey}" cannot ${input.side} ${canonical(input.amount)} ${market.symbol} at ${price}`;
}

function requireFree(wallet: Record<string, Balance>, asset: string, needed: string, what: () => string): void {
  if (cmp(freeOf(wallet, asset), needed) < 0) {
    throw new EmulatorInputError(`${what()}: it needs ${needed} ${asset} free, the wallet has ${freeOf(wallet, asset)}`);
  }
}

/** A fill now: appended and applied to the balances (and the position, for derivatives). */
export function applyTrade(state: EmulatorState, account: Account, input: TradeInput): Fill {
  const market = marketOf(state, account.exchange, input.symbol);
  const price = canonical(input.price ?? state.price(account.exchange, market.symbol));
  const at = input.at ?? Date.now();
  const fee = planFee(account, market, input, price);
  const amount = canonical(input.amount);
  const what = (): string => describeShort(account, input, market, price);

  if (market.kind === 'spot') {
    const wallet = spotWallet(account);
    const quoteAmount = mul(amount, price);
    const feeIn = (asset: string): string => (fee.currency === asset ? fee.cost : '0');
    const otherFee = fee.currency !== market.base && fee.currency !== market.quote;
    if (input.side === 'buy') {
      requireFree(wallet, market.quote, add(quoteAmount, feeIn(market.quote)), what);
      if (cmp(feeIn(market.base), amount) > 0) throw new EmulatorInputError(`${what()}: the fee ${fee.cost} ${fee.currency} exceeds the amount bought`);
    } else {
      requireFree(wallet, market.base, add(amount, feeIn(market.base)), what);
      if (cmp(feeIn(market.quote), quoteAmount) > 0) throw new EmulatorInputError(`${what()}: the fee ${fee.cost} ${fee.currency} exceeds the proceeds ${quoteAmount}`);
    }
    if (otherFee) requireFree(wallet, fee.currency, fee.cost, what);
    if (input.side === 'buy') {
      moveFree(wallet, market.base, sub(amount, feeIn(market.base)));
      moveFree(wallet, market.quote, neg(add(quoteAmount, feeIn(market.quote))));
    } else {
      moveFree(wallet, market.base, neg(add(amount, feeIn(market.base))));
      moveFree(wallet, market.quote, sub(quoteAmount, feeIn(market.quote)));
    }
    if (otherFee) moveFree(wallet, fee.currency, neg(fee.cost));
    const fill = newFill(account, market, input, price, at, fee, '0', '0');
    insertSorted(account.history.fills, fill);
    return fill;
  }

  // derivatives: the position moves, the settle wallet pays the fee and receives the realized PnL
  const plan = planPosition(account, market, input.side, amount, price);
  const wallet = derivativesWallet(account, market);
  const settle = settleOf(market);
  const change = sub(plan.realizedPnl, fee.cost);
  const needed = sub(plan.addedMargin, change);
  if (cmp(needed, '0') > 0) {
    requireFree(wallet, settle, needed, () => `${what()} (margin ${plan.addedMargin}, fee ${fee.cost}, realized ${plan.realizedPnl})`);
  }
  moveFree(wallet, settle, change);
  account.positions = plan.positions;
  if (account.exchange === 'binance') account.hasFutures = true;
  const fill = newFill(account, market, input, price, at, fee, plan.realizedPnl, plan.closedSize);
  insertSorted(account.history.fills, fill);
  return fill;
}

interface PositionPlan {
  positions: Position[];
  realizedPnl: string;
  closedSize: string;
  /** initial margin of the contracts the fill adds (checked against the wallet, not locked) */
  addedMargin: string;
}

/** PnL of closing `contracts` of a position at `price`, in the settle coin. */
function closePnl(p: Position, contracts: string, price: string): string {
  const units = mul(contracts, p.market.contractSize);
  const raw =
    p.market.kind === 'inverse'
      ? div(mul(units, sub(price, p.entryPrice)), mul(p.entryPrice, price), INVERSE_DECIMALS)
      : mul(units, sub(price, p.entryPrice));
  return p.side === 'long' ? raw : neg(raw);
}

function marginFor(market: MarketInfo, contracts: string, price: string, leverage: string): string {
  const units = mul(contracts, market.contractSize);
  return market.kind === 'inverse' ? div(units, mul(price, leverage), INVERSE_DECIMALS) : div(mul(units, price), leverage, MAX_DECIMALS);
}

function averageEntry(market: MarketInfo, c1: string, e1: string, c2: string, e2: string): string {
  if (market.kind === 'inverse') {
    // coin-margined: the average of 1/price, weighted by contracts
    return canonical(div(mul(add(c1, c2), mul(e1, e2)), add(mul(c1, e2), mul(c2, e1)), PRICE_DECIMALS));
  }
  return canonical(div(add(mul(c1, e1), mul(c2, e2)), add(c1, c2), PRICE_DECIMALS));
}

function planPosition(account: Account, market: MarketInfo, side: 'buy' | 'sell', amount: string, price: string): PositionPlan {
  const dir: Position['side'] = side === 'buy' ? 'long' : 'short';
  const positions = account.positions.map((p) => ({ ...p }));
  const i = positions.findIndex((p) => p.market.symbol === market.symbol);
  const current = i >= 0 ? positions[i] : undefined;
  if (!current) {
    positions.push({ market, side: dir, contracts: amount, entryPrice: price, leverage: DEFAULT_LEVERAGE, marginMode: 'cross' });
    return { positions, realizedPnl: '0', closedSize: '0', addedMargin: marginFor(market, amount, price, DEFAULT_LEVERAGE) };
  }
  if (current.side === dir) {
    current.entryPrice = averageEntry(market, current.contracts, current.entryPrice, amount, price);
    current.contracts = add(current.contracts, amount);
    return { positions, realizedPnl: '0', closedSize: '0', addedMargin: marginFor(market, amount, price, current.leverage) };
  }
  const closed = cmp(amount, current.contracts) <= 0 ? amount : current.contracts;
  const realizedPnl = closePnl(current, closed, price);
  const left = sub(current.contracts, closed);
  const flipped = sub(amount, closed);
  if (!isZero(left)) {
    current.contracts = left;
    return { positions, realizedPnl, closedSize: closed, addedMargin: '0' };
  }
  positions.splice(i, 1);
  if (isZero(flipped)) return { positions, realizedPnl, closedSize: closed, addedMargin: '0' };
  positions.push({ ...current, side: dir, contracts: flipped, entryPrice: price });
  return { positions, realizedPnl, closedSize: closed, addedMargin: marginFor(market, flipped, price, current.leverage) };
}

export function fillView(f: Fill): EmulatorFillView {
  return {
    id: f.id,
    orderId: f.orderId,
    symbol: f.market.symbol,
    kind: f.market.kind,
    side: f.side,
    amount: f.amount,
    contractSize: f.market.contractSize,
    price: f.price,
    cost: fillCost(f),
    fee: { ...f.fee },
    takerOrMaker: f.takerOrMaker,
    timestamp: f.timestamp,
    realizedPnl: f.realizedPnl,
    closedSize: f.closedSize,
  };
}

// --- transfers -----------------------------------------------------------------------------------

interface TransferRequest {
  type: Transfer['type'];
  currency: string;
  amount: string;
  fee?: string;
  status?: TransferStatus;
  network?: string;
  txid?: string;
  address?: string;
  at?: number;
}

function newTransfer(account: Account, r: TransferRequest): Transfer {
  const h = account.history;
  const seq = h.seq++;
  const network = r.network ?? NETWORKS[account.exchange][r.currency] ?? r.currency;
  const seed = `${account.exchange}:${account.apiKey}:${r.type}:${seq}`;
  let timestamp = r.at ?? Date.now();
  // binance reports a withdrawal's time as applyTime "YYYY-MM-DD HH:mm:ss": whole seconds
  if (account.exchange === 'binance' && r.type === 'withdrawal') timestamp -= timestamp % 1000;
  const status = r.status ?? 'ok';
  return {
    seq,
    id: transferId(account.exchange, account.apiKey, r.type, seq),
    type: r.type,
    currency: r.currency,
    amount: canonical(r.amount),
    fee: canonical(r.fee ?? '0'),
    status,
    network,
    txid: r.txid ?? hex(`${seed}:tx`, 64),
    address: r.address ?? defaultAddress(network, `${seed}:address`),
    timestamp,
    updatedAt: timestamp,
  };
}

/** A seeded history transfer (account input `transfers`): recorded, balances untouched. */
export function seedTransfer(account: Account, input: HistoryTransferInput): Transfer {
  const t = newTransfer(account, input);
  insertSorted(account.history.transfers, t);
  return t;
}

/** Moves the wallet for a transfer entering `to` from `from` (undefined: just created). */
function applyTransferStatus(account: Account, t: Transfer, from: TransferStatus | undefined, to: TransferStatus): void {
  const { balances } = transferWallet(account);
  const total = add(t.amount, t.fee);
  if (t.type === 'deposit') {
    if (to === 'ok') moveFree(balances, t.currency, t.amount);
    return;
  }
  // withdrawal: pending locks amount + fee, ok takes it, failed gives it back
  if (from === undefined) {
    if (to === 'pending') {
      moveFree(balances, t.currency, neg(total));
      moveUsed(balances, t.currency, total);
    } else if (to === 'ok') moveFree(balances, t.currency, neg(total));
    return;
  }
  // from pending
  moveUsed(balances, t.currency, neg(total));
  if (to === 'failed') moveFree(balances, t.currency, total);
}

export function applyTransfer(account: Account, r: TransferRequest): Transfer {
  const status = r.status ?? 'ok';
  if (r.type === 'withdrawal' && status !== 'failed') {
    const { balances, name } = transferWallet(account);
    const total = add(canonical(r.amount), canonical(r.fee ?? '0'));
    if (cmp(freeOf(balances, r.currency), total) < 0) {
      throw new EmulatorInputError(
        `${account.exchange} "${account.apiKey}" cannot withdraw ${canonical(r.amount)} ${r.currency} (fee ${canonical(r.fee ?? '0')}): the ${name} wallet has ${freeOf(balances, r.currency)} free`,
      );
    }
  }
  const t = newTransfer(account, { ...r, status });
  applyTransferStatus(account, t, undefined, status);
  insertSorted(account.history.transfers, t);
  return t;
}

export function setTransferStatus(account: Account, id: string, status: TransferStatus, now = Date.now()): Transfer {
  const t = account.history.transfers.find((x) => x.id === id);
  if (!t) throw new EmulatorInputError(`no transfer "${id}" on ${account.exchange} account "${account.apiKey}"`);
  if (t.status === status) return t;
  if (t.status !== 'pending') throw new EmulatorInputError(`transfer "${id}" is ${t.status}, which is final (only pending transfers change status)`);
  if (status === 'pending') return t;
  applyTransferStatus(account, t, 'pending', status);
  t.status = status;
  t.updatedAt = Math.max(now, t.timestamp);
  return t;
}

export function transferView(exchange: EmulatorExchange, account: Account, t: Transfer): EmulatorTransferView {
  return {
    id: t.id,
    type: t.type,
    currency: t.currency,
    amount: t.amount,
    fee: t.fee,
    status: t.status,
    exchangeStatus: exchangeStatus(exchange, t),
    network: t.network,
    txid: t.txid,
    address: t.address,
    timestamp: t.timestamp,
    updatedAt: t.updatedAt,
    wallet: transferWallet(account).name,
  };
}

// --- query windows -------------------------------------------------------------------------------

export const DAY_MS = 86_400_000;

export type Window = { from: number; to: number } | { error: 'invalid'; param: string } | { error: 'span' };

/**
 * The [from, to] an exchange answers for optional startTime/endTime (ms): both given must be at
 * most `maxSpan` apart; one given extends by `span` (to the other side); none: the `span` before now.
 * `startOnly` decides where a lone start ends: 'span' (start + span) or 'now' (binance's sapi default).
 */
export function timeWindow(
  start: string | null,
  end: string | null,
  now: number,
  opts: { maxSpan: number; span: number; startOnly?: 'span' | 'now' },
): Window {
  const parse = (v: string | null): number | undefined | 'bad' => {
    if (v === null || v === '') return undefined;
    return /^\d{1,16}$/.test(v) ? Number(v) : 'bad';
  };
  const s = parse(start);
  const e = parse(end);
  if (s === 'bad') return { error: 'invalid', param: 'startTime' };
  if (e === 'bad') return { error: 'invalid', param: 'endTime' };
  if (s !== undefined && e !== undefined) return e - s > opts.maxSpan ? { error: 'span' } : { from: s, to: e };
  if (s !== undefined) {
    if (opts.startOnly === 'now') return now - s > opts.maxSpan ? { error: 'span' } : { from: s, to: now };
    return { from: s, to: s + opts.span };
  }
  if (e !== undefined) return { from: e - opts.span, to: e };
  return { from: now - opts.span, to: now };
}
