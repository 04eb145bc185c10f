// ccxt's unified balance/position/ticker structures -> our Snapshot. Everything here is pure:
// the fetching lives in fetch.ts, so this mapping can be read (and trusted) on its own.
import { SnapshotSchema, type Balance, type Position, type Snapshot, type Wallet } from '../events/catalog.js';
import { multiplyDecimals, toDecimal } from '../events/decimal.js';
import { MalformedReplyError } from './errors.js';

/** Stablecoins and fiat are not priced through a market when they are the quote itself. */
export const QUOTE_PRICE = '1';

// Keys of a ccxt balance structure that are not currency codes.
const BALANCE_META = new Set(['info', 'timestamp', 'datetime', 'free', 'used', 'total', 'debt']);

/**
 * An exact decimal or null. ccxt with `number = String` gives strings; an integer number can
 * only come from integer fields and is exact; any other number means a float got through.
 */
export function decimalOrNull(value: unknown, what: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'string') return toDecimal(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new MalformedReplyError(`${what}: expected a decimal string, got ${typeof value} ${String(value)}`);
}

function isZero(d: string | null): boolean {
  return d === null || d === '0';
}

export function mapBalances(balance: unknown, wallet: Wallet): Balance[] {
  if (balance === null || typeof balance !== 'object') throw new MalformedReplyError('balance reply is not an object');
  const out: Balance[] = [];
  for (const [asset, entry] of Object.entries(balance as Record<string, unknown>)) {
    if (BALANCE_META.has(asset) || entry === null || typeof entry !== 'object') continue;
    const e = entry as Record<string, unknown>;
    const free = decimalOrNull(e.free, `balance ${asset}.free`);
    const used = decimalOrNull(e.used, `balance ${asset}.used`);
    const total = decimalOrNull(e.total, `balance ${asset}.total`);
    if (total === null) {
      // ccxt derives total from free+used when it can; a row with a part but no total is a
      // reply we do not understand, and guessing would record a wrong holding.
      if (isZero(free) && isZero(used)) continue;
      throw new MalformedReplyError(`balance ${asset}: free/used without a total`);
    }
    if (total === '0') continue;
    out.push({ wallet, asset, free, used, total });
  }
  return out.sort((a, b) => cmp(a.asset, b.asset));
}

type Dict = Record<string, unknown>;
interface MarketFacts {
  option?: boolean;
  spot?: boolean;
  linear?: boolean;
  inverse?: boolean;
  contractSize?: unknown;
}

/**
 * A position's notional means one thing on every exchange: its value in the market's quote
 * currency at the mark price. Linear: contracts x contract size x mark. Inverse (the contract is a
 * fixed amount of the quote, e.g. 100 USD): contracts x contract size, whatever the mark.
 * Exchanges report other figures under that name (bybit: size x entry price; okx: a USD value;
 * ccxt for bybit inverse: a coin amount), so it is recomputed, exactly, from the same reply.
 * Options (whose mark is a premium) and margin positions on spot markets keep what ccxt reports.
 */
export function notionalOf(p: Dict, market: MarketFacts | undefined, contracts: string): string | null {
  if (market?.option === true || market?.spot === true) return decimalOrNull(p.notional, `position ${String(p.symbol)}.notional`);
  const size = decimalOrNull(p.contractSize ?? market?.contractSize, `position ${String(p.symbol)}.contractSize`) ?? '1';
  if (market?.inverse === true) return multiplyDecimals(contracts, size);
  const mark = decimalOrNull(p.markPrice, `position ${String(p.symbol)}.markPrice`);
  if (market?.linear === true) return mark === null ? null : multiplyDecimals(multiplyDecimals(contracts, size), mark);
  return decimalOrNull(p.notional, `position ${String(p.symbol)}.notional`);
}

export function mapPositions(positions: unknown, markets?: Record<string, unknown>): Position[] {
  if (!Array.isArray(positions)) throw new MalformedReplyError('positions reply is not a list');
  const out: Position[] = [];
  for (const raw of positions as Array<Record<string, unknown>>) {
    const symbol = typeof raw.symbol === 'string' ? raw.symbol : undefined;
    const contracts = decimalOrNull(raw.contracts, `position ${symbol}.contracts`);
    // Closed positions linger in some replies (Bybit one-way mode lists every symbol traded).
    if (contracts === null || contracts === '0') continue;
    if (!symbol) throw new MalformedReplyError('open position without a symbol');
    if (raw.side !== 'long' && raw.side !== 'short') throw new MalformedReplyError(`position ${symbol}: side is ${String(raw.side)}`);
    const marginMode = raw.marginMode === 'cross' || raw.marginMode === 'isolated' || raw.marginMode === 'portfolio' ? raw.marginMode : null;
    // ccxt reports size as a magnitude and the direction in `side`.
    const size = contracts.startsWith('-') ? contracts.slice(1) : contracts;
    out.push({
      symbol,
      side: raw.side,
      contracts: size,
      contractSize: decimalOrNull(raw.contractSize, `position ${symbol}.contractSize`),
      entryPrice: decimalOrNull(raw.entryPrice, `position ${symbol}.entryPrice`),
      markPrice: decimalOrNull(raw.markPrice, `position ${symbol}.markPrice`),
      liquidationPrice: decimalOrNull(raw.liquidationPrice, `position ${symbol}.liquidationPrice`),
      notional: notionalOf(raw, markets?.[symbol] as MarketFacts | undefined, size),
      unrealizedPnl: decimalOrNull(raw.unrealizedPnl, `position ${symbol}.unrealizedPnl`),
      leverage: decimalOrNull(raw.leverage, `position ${symbol}.leverage`),
      marginMode,
    });
  }
  return out.sort((a, b) => cmp(a.symbol, b.symbol) || cmp(a.side, b.side));
}

/** Balances of every wallet read, in the snapshot's order (wallet, then asset). */
export function sortBalances(balances: Balance[]): Balance[] {
  return balances.sort((a, b) => cmp(a.wallet, b.wallet) || cmp(a.asset, b.asset));
}

/**
 * The spot symbols to ask a price for: each held asset against the quote, where such a market
 * exists. The quote itself is priced at 1 without a request.
 */
export function priceSymbols(assets: string[], quote: string, markets: Record<string, unknown> | undefined): Map<string, string> {
  const symbols = new Map<string, string>();
  for (const asset of assets) {
    if (asset === quote) continue;
    const symbol = `${asset}/${quote}`;
    const m = markets?.[symbol] as { spot?: boolean; active?: boolean } | undefined;
    if (m && m.spot !== false) symbols.set(symbol, asset);
  }
  return symbols;
}

/** asset -> last price, from a ccxt tickers dictionary. */
export function mapPrices(tickers: unknown, symbols: Map<string, string>, quote: string, heldAssets: string[]): Record<string, string> {
  const prices: Record<string, string> = {};
  if (heldAssets.includes(quote)) prices[quote] = QUOTE_PRICE;
  if (symbols.size === 0) return prices;
  if (tickers === null || typeof tickers !== 'object') throw new MalformedReplyError('tickers reply is not an object');
  for (const [symbol, asset] of symbols) {
    const t = (tickers as Record<string, Record<string, unknown> | undefined>)[symbol];
    if (!t) continue;
    // `last` is the last trade; `close` is ccxt's alias for it on exchanges that only send that.
    const price = decimalOrNull(t.last ?? t.close, `ticker ${symbol}.last`);
    if (price !== null && price !== '0') prices[asset] = price;
  }
  return sortKeys(prices);
}

export function exchangeTime(timestamp: unknown): string | null {
  if (typeof timestamp === 'string' && /^\d+$/.test(timestamp)) timestamp = Number(timestamp);
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp) || timestamp <= 0) return null;
  return new Date(timestamp).toISOString();
}

export function buildSnapshot(parts: Omit<Snapshot, 'fetchedAt'> & { fetchedAt?: string }): Snapshot {
  // Validated here so a reply that slipped past the mapping surfaces as bad_response now,
  // not as a rejected event in the store later.
  return SnapshotSchema.parse({ ...parts, fetchedAt: parts.fetchedAt ?? new Date().toISOString() });
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => cmp(a, b)));
}
