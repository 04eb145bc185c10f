// One attempt at an account snapshot: which ccxt calls, with which parameters, per exchange.
// The calls run one after another, not in parallel: a rejected key then costs one request
// instead of three (Binance bans IPs that keep sending bad keys), and the price request needs
// the balance first to know which assets to price.
import type { AccountId } from '../events/streams.js';
import type { Snapshot } from '../events/catalog.js';
import { Precise } from './ccxt-modules.js';
import { MalformedReplyError } from './errors.js';
import type { Instance } from './instances.js';
import { buildSnapshot, exchangeTime, mapBalances, mapPositions, mapPrices, priceSymbols } from './snapshot.js';

interface Plan {
  balance(inst: Instance): Promise<unknown>;
  /** Open derivatives positions, or [] where the exchange (or our plan for it) has none. */
  positions(inst: Instance): Promise<unknown[]>;
}

type Dict = Record<string, unknown>;

const bybit: Plan = {
  async balance(inst) {
    // Unified account wallet (accountType UNIFIED, set up by the enableUnifiedAccount preset).
    const balance = (await inst.fetchBalance()) as unknown as Dict;
    const result = (balance.info as Dict | undefined)?.result as Dict | undefined;
    if (!Array.isArray(result?.list)) throw new MalformedReplyError('bybit wallet-balance reply has no result.list');
    return balance;
  },
  async positions(inst) {
    // Linear USDT-settled perpetuals and futures (category=linear&settleCoin=USDT).
    const positions = (await inst.fetchPositions(undefined, { subType: 'linear' })) as unknown as Dict[];
    return positions.map(notionalAtMark);
  },
};

/**
 * ccxt maps Bybit's `positionValue` (size x entry price) to `notional`, while Binance's
 * `notional` is size x mark price. A snapshot's notional means the latter everywhere, so for
 * Bybit's linear contracts it is recomputed, exactly, from the same reply.
 */
function notionalAtMark(p: Dict): Dict {
  const { contracts, contractSize, markPrice } = p;
  if (typeof contracts !== 'string' || typeof markPrice !== 'string') return p;
  const size = typeof contractSize === 'string' ? contractSize : '1';
  const notional = Precise.stringAbs(Precise.stringMul(Precise.stringMul(contracts, size), markPrice));
  return { ...p, notional };
}

const binance: Plan = {
  async balance(inst) {
    // The spot wallet (GET /api/v3/account).
    const balance = (await inst.fetchBalance({ type: 'spot' })) as unknown as Dict;
    if (!Array.isArray((balance.info as Dict | undefined)?.balances)) throw new MalformedReplyError('binance account reply has no balances list');
    return balance;
  },
  async positions(inst) {
    // USD-M futures (GET /fapi/v3/positionRisk); ccxt keeps only rows with an entry price.
    return inst.fetchPositions(undefined, { subType: 'linear' }) as Promise<unknown[]>;
  },
};

// Errors that mean "this exchange cannot list positions like that", not "the call failed".
const NO_POSITIONS = new Set(['NotSupported', 'ArgumentsRequired', 'BadRequest', 'BadSymbol']);

const generic: Plan = {
  async balance(inst) {
    return inst.fetchBalance();
  },
  async positions(inst) {
    if (inst.has.fetchPositions !== true) return [];
    try {
      return (await inst.fetchPositions()) as unknown[];
    } catch (err) {
      if (err instanceof Error && NO_POSITIONS.has(err.constructor.name)) return [];
      throw err;
    }
  },
};

function plan(exchangeId: string): Plan {
  return exchangeId === 'bybit' ? bybit : exchangeId === 'binance' ? binance : generic;
}

export async function fetchOnce(inst: Instance, account: AccountId, quote: string): Promise<Snapshot> {
  const p = plan(account.exchange);
  const balance = (await p.balance(inst)) as Dict;
  const balances = mapBalances(balance);
  const positions = mapPositions(await p.positions(inst));
  const held = balances.map((b) => b.asset);
  const symbols = priceSymbols(held, quote, inst.markets);
  // One request for all prices: with a symbol list ccxt asks Bybit for the spot category and
  // Binance for exactly those symbols, instead of a ticker call per asset.
  const tickers = symbols.size > 0 && inst.has.fetchTickers ? await inst.fetchTickers([...symbols.keys()]) : {};
  return buildSnapshot({
    exchange: account.exchange,
    account: account.account,
    quote,
    balances,
    positions,
    prices: mapPrices(tickers, symbols, quote, held),
    exchangeTime: exchangeTime(balance.timestamp),
  });
}
