// What the emulated exchanges hold: accounts (keyed by exchange and API key), markets from the
// fixtures, and a price book per exchange. Everything derived (totals, mark value, PnL) is
// computed here with exact decimals, so the HTTP replies and the programmatic view agree.
import { add, canonical, div, mul, neg, round, sub } from './decimal.js';
import type { Fixtures, MarketInfo, MarketKind } from './fixtures.js';
import {
  applyTrade,
  applyTransfer,
  emptyHistory,
  fillView,
  seedFill,
  seedTransfer,
  setTransferStatus,
  transferView,
  type Fill,
  type History,
  type Transfer,
} from './history.js';
import { PriceBook } from './prices.js';
import {
  AccountInputSchema,
  DepositInputSchema,
  describeIssues,
  TradeInputSchema,
  TransferStatusSchema,
  WithdrawInputSchema,
  type AccountInput,
  type WalletName,
} from './schemas.js';
import {
  EmulatorInputError,
  EXCHANGES,
  type EmulatorAccountView,
  type EmulatorBalanceView,
  type EmulatorExchange,
  type EmulatorFillView,
  type EmulatorPositionView,
  type EmulatorTransferView,
} from './types.js';
import type { z } from 'zod';

export interface Balance {
  free: string;
  used: string;
}

export interface Position {
  market: MarketInfo;
  side: 'long' | 'short';
  contracts: string;
  entryPrice: string;
  leverage: string;
  marginMode: 'cross' | 'isolated';
}

export type BybitAccountMode = 'uta2' | 'uta1' | 'classic';
export type BybitMarginMode = 'REGULAR_MARGIN' | 'ISOLATED_MARGIN' | 'PORTFOLIO_MARGIN';

export interface Account {
  exchange: EmulatorExchange;
  apiKey: string;
  secret: string;
  /** okx only */
  passphrase: string | undefined;
  /** bybit: UNIFIED (SPOT for classic accounts); binance: spot */
  balances: Record<string, Balance>;
  /** binance USD-M */
  futuresBalances: Record<string, Balance>;
  /** bybit FUND, binance funding wallet, okx funding account */
  fundingBalances: Record<string, Balance>;
  /** binance COIN-M */
  deliveryBalances: Record<string, Balance>;
  /** bybit CONTRACT (classic, uta1) */
  contractBalances: Record<string, Balance>;
  bybitAccountMode: BybitAccountMode;
  bybitMarginMode: BybitMarginMode;
  portfolioMargin: boolean;
  /** wallets the key may not read */
  denied: ReadonlySet<WalletName>;
  /** binance: whether the account has a futures account at all (/fapi and /dapi answer -2015 otherwise) */
  hasFutures: boolean;
  positions: Position[];
  /** ms since epoch when set; exchanges report it as position creation / update time */
  createdAt: number;
  /** fills and deposits/withdrawals (history.ts) */
  history: History;
}

/** Decimals of inverse position values and PnL (coin amounts), as bybit and binance write them. */
const INVERSE_DECIMALS = 8;

/** Quote currencies that count as one US dollar when an exchange reports a USD value. */
const DOLLARS = new Set(['USDT', 'USDC', 'USD']);

export class EmulatorState {
  readonly prices: Record<EmulatorExchange, PriceBook>;
  private readonly accounts = new Map<string, Account>();
  private readonly marketsBySymbol: Record<EmulatorExchange, Map<string, MarketInfo>>;

  constructor(
    readonly fixtures: Fixtures,
    opts: {
      seed: number;
      driftMs: number;
      initialPrices: Record<string, string>;
      now?: () => number;
      /** markets beyond the recorded ones (synthetic markets), per exchange */
      extraMarkets?: Partial<Record<EmulatorExchange, MarketInfo[]>>;
    },
  ) {
    const now = opts.now ?? Date.now;
    this.marketsBySymbol = perExchange(() => new Map<string, MarketInfo>());
    this.prices = perExchange((exchange) => new PriceBook(exchange, opts.seed, opts.driftMs, now));
    const extra = opts.extraMarkets ?? {};
    for (const exchange of EXCHANGES) {
      for (const m of [...fixtures.markets[exchange], ...(extra[exchange] ?? [])]) {
        this.marketsBySymbol[exchange].set(m.symbol, m);
        this.prices[exchange].add(m.symbol, opts.initialPrices[m.base] ?? '1', m.tick);
      }
    }
  }

  markets(exchange: EmulatorExchange, kind?: MarketKind): MarketInfo[] {
    const all = [...this.marketsBySymbol[exchange].values()];
    return kind ? all.filter((m) => m.kind === kind) : all;
  }

  market(exchange: EmulatorExchange, symbol: string): MarketInfo | undefined {
    return this.marketsBySymbol[exchange].get(symbol);
  }

  marketById(exchange: EmulatorExchange, kind: MarketKind, id: string): MarketInfo | undefined {
    return this.markets(exchange, kind).find((m) => m.id === id);
  }

  price(exchange: EmulatorExchange, symbol: string): string {
    return this.prices[exchange].price(symbol);
  }

  /** USD value of one unit of an asset on that exchange's spot book, if it has a USDT pair. */
  usdPrice(exchange: EmulatorExchange, asset: string): string | undefined {
    if (DOLLARS.has(asset)) return '1';
    const pair = this.market(exchange, `${asset}/USDT`);
    return pair ? this.price(exchange, pair.symbol) : undefined;
  }

  setAccount(input: unknown): Account {
    const parsed = AccountInputSchema.safeParse(input);
    if (!parsed.success) throw new EmulatorInputError(`invalid account: ${describeIssues(parsed.error)}`);
    const account = this.toAccount(parsed.data);
    this.accounts.set(key(account.exchange, account.apiKey), account);
    return account;
  }

  private mustAccount(exchange: EmulatorExchange, apiKey: string): Account {
    const account = this.getAccount(exchange, apiKey);
    if (!account) throw new EmulatorInputError(`no ${exchange} account with API key "${apiKey}"`);
    return account;
  }

  /** A fill that moves the balances (and the position); see Emulator.trade. */
  trade(exchange: EmulatorExchange, apiKey: string, input: unknown): EmulatorFillView {
    const account = this.mustAccount(exchange, apiKey);
    const parsed = parseInput(TradeInputSchema, input, 'trade');
    return fillView(applyTrade(this, account, parsed));
  }

  deposit(exchange: EmulatorExchange, apiKey: string, input: unknown): EmulatorTransferView {
    const account = this.mustAccount(exchange, apiKey);
    const parsed = parseInput(DepositInputSchema, input, 'deposit');
    return transferView(exchange, account, applyTransfer(account, { type: 'deposit', ...parsed }));
  }

  withdraw(exchange: EmulatorExchange, apiKey: string, input: unknown): EmulatorTransferView {
    const account = this.mustAccount(exchange, apiKey);
    const parsed = parseInput(WithdrawInputSchema, input, 'withdrawal');
    return transferView(exchange, account, applyTransfer(account, { type: 'withdrawal', ...parsed }));
  }

  setTransferStatus(exchange: EmulatorExchange, apiKey: string, id: string, status: unknown): EmulatorTransferView {
    const account = this.mustAccount(exchange, apiKey);
    const parsed = TransferStatusSchema.safeParse(status);
    if (!parsed.success) throw new EmulatorInputError(`invalid status: expected pending, ok or failed, got ${JSON.stringify(status)}`);
    return transferView(exchange, account, setTransferStatus(account, id, parsed.data));
  }

  fillViews(exchange: EmulatorExchange, apiKey: string): EmulatorFillView[] {
    return this.mustAccount(exchange, apiKey).history.fills.map(fillView);
  }

  transferViews(exchange: EmulatorExchange, apiKey: string): EmulatorTransferView[] {
    const account = this.mustAccount(exchange, apiKey);
    return account.history.transfers.map((t) => transferView(exchange, account, t));
  }

  /** The account's fills (oldest first), for the exchange modules. */
  fills(account: Account): readonly Fill[] {
    return account.history.fills;
  }

  transfers(account: Account): readonly Transfer[] {
    return account.history.transfers;
  }

  private toAccount(a: AccountInput): Account {
    const seen = new Set<string>();
    const positions = a.positions.map((p, i): Position => {
      const market = this.market(a.exchange, p.symbol);
      if (!market || market.kind === 'spot') {
        const perpetuals = this.markets(a.exchange)
          .filter((m) => m.kind !== 'spot')
          .map((m) => m.symbol);
        // synthetic markets can make the list long: name the first few
        const known = perpetuals.length > 30 ? `${perpetuals.slice(0, 30).join(', ')}, ... (${perpetuals.length - 30} more)` : perpetuals.join(', ');
        throw new EmulatorInputError(`invalid account: positions.${i}.symbol: "${p.symbol}" is not a perpetual on ${a.exchange} (known: ${known})`);
      }
      if (seen.has(p.symbol)) throw new EmulatorInputError(`invalid account: positions.${i}.symbol: "${p.symbol}" appears twice (accounts are in one-way mode)`);
      seen.add(p.symbol);
      return {
        market,
        side: p.side,
        contracts: canonical(p.contracts),
        entryPrice: canonical(p.entryPrice),
        leverage: canonical(p.leverage),
        marginMode: p.marginMode,
      };
    });
    const account: Account = {
      exchange: a.exchange,
      apiKey: a.apiKey,
      secret: a.secret,
      passphrase: a.passphrase,
      balances: canonicalBalances(a.balances),
      futuresBalances: canonicalBalances(a.futuresBalances ?? {}),
      fundingBalances: canonicalBalances(a.fundingBalances ?? {}),
      deliveryBalances: canonicalBalances(a.deliveryBalances ?? {}),
      contractBalances: canonicalBalances(a.contractBalances ?? {}),
      bybitAccountMode: a.bybitAccountMode ?? 'uta2',
      bybitMarginMode: a.bybitMarginMode ?? 'REGULAR_MARGIN',
      portfolioMargin: a.portfolioMargin ?? false,
      denied: new Set(a.denied),
      hasFutures: a.futuresBalances !== undefined || a.deliveryBalances !== undefined || positions.length > 0,
      positions,
      createdAt: Date.now(),
      history: emptyHistory(),
    };
    // the seeded history in time order, so per-symbol ids increase with time
    const trades = a.trades.map((t, i) => ({ t, i })).sort((x, y) => x.t.at - y.t.at || x.i - y.i);
    for (const { t, i } of trades) {
      try {
        seedFill(this, account, t);
      } catch (err) {
        if (err instanceof EmulatorInputError) throw new EmulatorInputError(`invalid account: trades.${i}.${err.message}`);
        throw err;
      }
    }
    const transfers = a.transfers.map((t, i) => ({ t, i })).sort((x, y) => x.t.at - y.t.at || x.i - y.i);
    for (const { t } of transfers) seedTransfer(account, t);
    return account;
  }

  removeAccount(exchange: EmulatorExchange, apiKey: string): boolean {
    return this.accounts.delete(key(exchange, apiKey));
  }

  getAccount(exchange: EmulatorExchange, apiKey: string): Account | undefined {
    return this.accounts.get(key(exchange, apiKey));
  }

  listAccounts(): Account[] {
    return [...this.accounts.values()];
  }

  /** Derived position values at the current price. */
  positionView(exchange: EmulatorExchange, p: Position): EmulatorPositionView {
    const markPrice = this.price(exchange, p.market.symbol);
    const common = {
      symbol: p.market.symbol,
      side: p.side,
      contracts: p.contracts,
      contractSize: p.market.contractSize,
      inverse: p.market.kind === 'inverse',
      entryPrice: p.entryPrice,
      leverage: p.leverage,
      marginMode: p.marginMode,
      settle: p.market.settle ?? p.market.quote,
      markPrice,
    };
    if (p.market.kind === 'inverse') {
      // contracts are worth contractSize USD each; values and PnL are in the coin, as both
      // exchanges write them: 8 decimals, half-up
      const usd = mul(p.contracts, p.market.contractSize);
      const pnl = div(mul(usd, sub(markPrice, p.entryPrice)), mul(p.entryPrice, markPrice), INVERSE_DECIMALS);
      return {
        ...common,
        notional: div(usd, markPrice, INVERSE_DECIMALS),
        positionValue: div(usd, p.entryPrice, INVERSE_DECIMALS),
        unrealizedPnl: p.side === 'long' ? pnl : neg(pnl),
      };
    }
    const size = p.market.contractSize;
    const diff = mul(sub(markPrice, p.entryPrice), size);
    return {
      ...common,
      notional: mul(mul(p.contracts, size), markPrice),
      positionValue: mul(mul(p.contracts, size), p.entryPrice),
      unrealizedPnl: mul(p.side === 'long' ? diff : neg(diff), p.contracts),
    };
  }

  view(exchange: EmulatorExchange, apiKey: string): EmulatorAccountView {
    const account = this.getAccount(exchange, apiKey);
    if (!account) throw new EmulatorInputError(`no ${exchange} account with API key "${apiKey}"`);
    return {
      exchange,
      apiKey,
      balances: balanceViews(account.balances),
      futuresBalances: balanceViews(account.futuresBalances),
      fundingBalances: balanceViews(account.fundingBalances),
      deliveryBalances: balanceViews(account.deliveryBalances),
      contractBalances: balanceViews(account.contractBalances),
      positions: account.positions.map((p) => this.positionView(exchange, p)),
    };
  }
}

function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new EmulatorInputError(`invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

function perExchange<T>(make: (exchange: EmulatorExchange) => T): Record<EmulatorExchange, T> {
  return Object.fromEntries(EXCHANGES.map((ex) => [ex, make(ex)])) as Record<EmulatorExchange, T>;
}

function key(exchange: EmulatorExchange, apiKey: string): string {
  return `${exchange}\u0000${apiKey}`;
}

function canonicalBalances(input: Record<string, Balance>): Record<string, Balance> {
  const out: Record<string, Balance> = {};
  for (const [asset, b] of Object.entries(input)) out[asset] = { free: canonical(b.free), used: canonical(b.used) };
  return out;
}

function balanceViews(balances: Record<string, Balance>): Record<string, EmulatorBalanceView> {
  const out: Record<string, EmulatorBalanceView> = {};
  for (const [asset, b] of Object.entries(balances)) out[asset] = { free: b.free, used: b.used, total: add(b.free, b.used) };
  return out;
}

/** Sum of unrealized PnL of the positions that settle in `asset`. */
export function unrealizedIn(views: EmulatorPositionView[], asset: string): string {
  let total = '0';
  for (const v of views) if (v.settle === asset) total = add(total, v.unrealizedPnl);
  return total;
}
