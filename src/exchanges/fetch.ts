// One attempt at an account snapshot: the exchange's plan reads every wallet and position, then
// one request prices the held assets. The calls run one after another, not in parallel: a rejected
// key then costs one request instead of several (binance bans IPs that keep sending bad keys), and
// the price request needs the balances first to know which assets to price.
import type { Account } from '../config.js';
import type { Snapshot } from '../events/catalog.js';
import type { AccountFacts } from './account-facts.js';
import type { Instance } from './instances.js';
import { planFor } from './plans/index.js';
import { buildSnapshot, exchangeTime, mapBalances, mapPositions, mapPrices, priceSymbols, sortBalances } from './snapshot.js';
import { WalletReads } from './wallet-reads.js';

export async function fetchOnce(inst: Instance, account: Account, quote: string, facts: AccountFacts): Promise<Snapshot> {
  const { wallets, positions } = await planFor(account.exchange).holdings({ inst, account, facts, reads: new WalletReads(account.exchange) });
  const balances = sortBalances(wallets.flatMap((w) => mapBalances(w.balance, w.wallet)));
  const held = [...new Set(balances.map((b) => b.asset))];
  const symbols = priceSymbols(held, quote, inst.markets);
  // One request for all prices: with a symbol list ccxt asks bybit for the spot category and
  // binance for exactly those symbols, instead of a ticker call per asset.
  const tickers = symbols.size > 0 && inst.has.fetchTickers ? await inst.fetchTickers([...symbols.keys()]) : {};
  return buildSnapshot({
    exchange: account.exchange,
    account: account.account,
    quote,
    wallets: [...new Set(wallets.map((w) => w.wallet))].sort(),
    balances,
    positions: mapPositions(positions, inst.markets),
    prices: mapPrices(tickers, symbols, quote, held),
    exchangeTime: exchangeTime(wallets[0]?.balance.timestamp),
  });
}
