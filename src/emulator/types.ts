// The emulator's public shapes. Inputs are defined by zod schemas in schemas.ts; the types here
// are what callers read back.
import type { z } from 'zod';
import type { AccountInputSchema, FaultInputSchema, FaultKindSchema, PositionInputSchema } from './schemas.js';

export type EmulatorExchange = 'bybit' | 'binance' | 'okx';
export const EXCHANGES: readonly EmulatorExchange[] = ['bybit', 'binance', 'okx'];

export type EmulatorAccountInput = z.input<typeof AccountInputSchema>;
export type EmulatorPositionInput = z.input<typeof PositionInputSchema>;
export type FaultKind = z.infer<typeof FaultKindSchema>;
export type FaultInput = z.input<typeof FaultInputSchema>;

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
  /** Where the recorded ccxt fixtures live (default: $EXCHANGE_SYNC_FIXTURES_DIR, else ../shared/fixtures/ccxt-static next to the repo). */
  fixturesDir?: string;
}

/** A bad account, fault or price given to the emulator. The control API answers it with 400. */
export class EmulatorInputError extends Error {
  override name = 'EmulatorInputError';
}
