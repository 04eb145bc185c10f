// The emulator's public shapes. Inputs are defined by zod schemas in schemas.ts; the types here
// are what callers read back.
import type { z } from 'zod';
import type {
  AccountInputSchema,
  DepositInputSchema,
  FaultInputSchema,
  FaultKindSchema,
  HistoryTradeSchema,
  HistoryTransferSchema,
  PositionInputSchema,
  TradeInputSchema,
  WithdrawInputSchema,
} from './schemas.js';

export type EmulatorExchange = 'bybit' | 'binance' | 'okx';
export const EXCHANGES: readonly EmulatorExchange[] = ['bybit', 'binance', 'okx'];

export type EmulatorAccountInput = z.input<typeof AccountInputSchema>;
export type EmulatorPositionInput = z.input<typeof PositionInputSchema>;
export type FaultKind = z.infer<typeof FaultKindSchema>;
export type FaultInput = z.input<typeof FaultInputSchema>;
export type EmulatorTradeInput = z.input<typeof TradeInputSchema>;
export type EmulatorHistoryTradeInput = z.input<typeof HistoryTradeSchema>;
export type EmulatorDepositInput = z.input<typeof DepositInputSchema>;
export type EmulatorWithdrawInput = z.input<typeof WithdrawInputSchema>;
export type EmulatorHistoryTransferInput = z.input<typeof HistoryTransferSchema>;
export type EmulatorTransferStatus = 'pending' | 'ok' | 'failed';

/** One fill of an account, as the emulator holds it (exact decimals). */
export interface EmulatorFillView {
  /** The exchange's trade id: bybit execId (spot numeric, derivatives uuid), binance id (increasing per symbol), okx tradeId (increasing per instrument). */
  id: string;
  /** The exchange's order id. */
  orderId: string;
  symbol: string;
  /** The market's kind. */
  kind: 'spot' | 'linear' | 'inverse';
  side: 'buy' | 'sell';
  /** Base units (spot); contracts of contractSize (derivatives). ccxt's `amount`. */
  amount: string;
  contractSize: string;
  price: string;
  /**
   * amount * contractSize * price (spot, linear; quote/settle currency); inverse: amount * contractSize / price in the coin,
   * 8 decimals half-up (bybit execValue, binance baseQty; okx sends none and ccxt computes its own).
   */
  cost: string;
  fee: { currency: string; cost: string; rate: string };
  takerOrMaker: 'taker' | 'maker';
  /** ms since epoch */
  timestamp: number;
  /** Derivatives: PnL realized by the closing part of the fill, gross of the fee, in the settle coin ("0" for spot and opening fills). */
  realizedPnl: string;
  /** Derivatives: contracts this fill closed ("0" otherwise). */
  closedSize: string;
}

/** One deposit or withdrawal of an account. */
export interface EmulatorTransferView {
  /** The exchange's id: bybit deposit id / withdrawId, binance id, okx depId / wdId. */
  id: string;
  type: 'deposit' | 'withdrawal';
  currency: string;
  /** What arrives (deposit) or leaves to the address (withdrawal); the fee comes on top. */
  amount: string;
  /** Withdrawal fee in `currency` ("0" for deposits). */
  fee: string;
  status: EmulatorTransferStatus;
  /** The exchange's own status code or word for `status` (bybit 1/3/4, "Pending"/"success"/"Fail"; binance 0/1/2, 4/6/5; okx "0"/"2"/"11", "0"/"2"/"-1"). */
  exchangeStatus: string;
  /** As the exchange names the network (okx: the part of `chain` after the currency). */
  network: string;
  txid: string;
  address: string;
  /** ms since epoch (binance withdrawals: whole seconds, as binance's applyTime). */
  timestamp: number;
  /** Last status change, ms since epoch. */
  updatedAt: number;
  /** The wallet it credits or debits: bybit FUND, binance spot, okx funding. */
  wallet: 'funding' | 'spot';
}

export interface EmulatorBalanceView {
  free: string;
  used: string;
  /** free + used, exact. */
  total: string;
}

export interface EmulatorPositionView {
  symbol: string;
  side: 'long' | 'short';
  contracts: string;
  /** Per contract: base units for linear markets (1 on bybit and binance), USD for inverse ones (bybit 1, binance BTCUSD_PERP 100). */
  contractSize: string;
  /** An inverse (coin-margined) perpetual: notional, positionValue and unrealizedPnl are in the coin. */
  inverse: boolean;
  entryPrice: string;
  leverage: string;
  marginMode: 'cross' | 'isolated';
  /** Settlement currency, e.g. USDT for BTC/USDT:USDT. */
  settle: string;
  /** The current price of the symbol (the emulator uses last price as mark price). */
  markPrice: string;
  /**
   * contracts * contractSize * markPrice (unsigned). Binance reports this as `notional`.
   * Inverse: contracts * contractSize / markPrice in the coin, 8 decimals half-up (binance `notionalValue`).
   */
  notional: string;
  /**
   * contracts * contractSize * entryPrice. Bybit reports this as `positionValue`, which ccxt maps to `notional`.
   * Inverse: contracts * contractSize / entryPrice in the coin, 8 decimals half-up.
   */
  positionValue: string;
  /**
   * (markPrice - entryPrice) * contracts * contractSize, negated for shorts; exact.
   * Inverse: contracts * contractSize * (1/entryPrice - 1/markPrice) in the coin, negated for shorts,
   * computed exactly and rounded once to 8 decimals half-up.
   */
  unrealizedPnl: string;
}

export interface EmulatorAccountView {
  exchange: EmulatorExchange;
  apiKey: string;
  /** Bybit: the unified wallet. Binance: the spot wallet (/api/v3/account). */
  balances: Record<string, EmulatorBalanceView>;
  /** Binance only: the USD-M futures wallet (/fapi/v2|v3/account). Empty for bybit. */
  futuresBalances: Record<string, EmulatorBalanceView>;
  /** The funding wallet: bybit FUND, binance funding wallet, okx funding account. */
  fundingBalances: Record<string, EmulatorBalanceView>;
  /** Binance only: the COIN-M futures wallet (/dapi/v1/account). */
  deliveryBalances: Record<string, EmulatorBalanceView>;
  /** Bybit only: the CONTRACT account (classic and UTA 1.0 accounts). */
  contractBalances: Record<string, EmulatorBalanceView>;
  positions: EmulatorPositionView[];
}

export interface RequestCountFilter {
  exchange?: EmulatorExchange;
  path?: string;
  apiKey?: string;
}

export interface Emulator {
  /** 'http://127.0.0.1:<port>' */
  url: string;
  /** Stops the server; also ends hung and delayed requests. */
  close(): Promise<void>;
  /** Creates or replaces an account. Throws EmulatorInputError on a bad input. */
  setAccount(input: EmulatorAccountInput): void;
  removeAccount(exchange: EmulatorExchange, apiKey: string): void;
  /** Balances with exact totals, positions with current markPrice/notional/unrealizedPnl. */
  account(exchange: EmulatorExchange, apiKey: string): EmulatorAccountView;
  /** Current last price of a unified symbol. */
  price(exchange: EmulatorExchange, symbol: string): string;
  setPrice(exchange: EmulatorExchange, symbol: string, price: string): void;
  freezePrices(frozen: boolean): void;
  injectFault(fault: FaultInput): void;
  clearFaults(): void;
  requestCount(filter?: RequestCountFilter): number;
  resetRequestCounts(): void;
  /**
   * A fill now (or at `at`): appended to the account's history AND applied. Spot: buy credits
   * amount (minus a base fee) and debits amount * price (plus a quote fee); sell the reverse.
   * Derivatives: opens, increases, reduces, closes or flips the position (closing realizes PnL
   * into the settle wallet) and charges the fee in the settle coin. Throws EmulatorInputError when
   * the wallet cannot pay.
   */
  trade(exchange: EmulatorExchange, apiKey: string, input: EmulatorTradeInput): EmulatorFillView;
  /** A deposit into the wallet the exchange credits (bybit FUND, binance spot, okx funding); credited when ok. */
  deposit(exchange: EmulatorExchange, apiKey: string, input: EmulatorDepositInput): EmulatorTransferView;
  /** A withdrawal from that wallet: pending locks amount + fee (free -> used), ok debits it, failed releases it. */
  withdraw(exchange: EmulatorExchange, apiKey: string, input: EmulatorWithdrawInput): EmulatorTransferView;
  /** pending -> ok | failed (ok and failed are final). pending -> ok credits a deposit / debits a withdrawal. */
  setTransferStatus(exchange: EmulatorExchange, apiKey: string, id: string, status: EmulatorTransferStatus): EmulatorTransferView;
  /** The account's fills, oldest first. */
  fills(exchange: EmulatorExchange, apiKey: string): EmulatorFillView[];
  /** The account's deposits and withdrawals, oldest first. */
  transfers(exchange: EmulatorExchange, apiKey: string): EmulatorTransferView[];
}

export interface StartOptions {
  /** 0 = a free port (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** 'default' (demo accounts, see DEMO_ACCOUNTS) or 'empty' (no accounts). */
  scenario?: 'default' | 'empty';
  /** Seed of the price random walk (default 1). */
  seed?: number;
  /** Milliseconds per price step; 0 = prices never drift (default 1000). */
  driftMs?: number;
  /**
   * Extra bybit USDT linear perpetuals SYN001USDT, SYN002USDT, ... (unified SYN001/USDT:USDT, ...),
   * cloned from the recorded BTCUSDT instrument, for tests that need many markets or positions.
   * Default 0.
   */
  syntheticLinearMarkets?: number;
  /**
   * Demo activity: every tradeEveryMs one demo account (round-robin bybit, binance, okx) makes a
   * small spot fill (BTC or ETH against USDT at the current price, within its balances), and every
   * fourth round a deposit. 0 = never (default).
   */
  tradeEveryMs?: number;
  /** Where the recorded ccxt fixtures live (default: $EXCHANGE_SYNC_FIXTURES_DIR, else ../shared/fixtures/ccxt-static next to the repo). */
  fixturesDir?: string;
}

/** A bad account, fault or price given to the emulator. The control API answers it with 400. */
export class EmulatorInputError extends Error {
  override name = 'EmulatorInputError';
}
