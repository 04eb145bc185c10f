// The default world: one demo account per exchange with documented keys, so the demo and the
// tests run without set-up. Amounts are chosen to exercise the edges a client must get right:
// an 18-decimal balance, a used (locked) part, a long and a short, cross and isolated margin.
import type { EmulatorAccountInput } from './types.js';

export const DEMO_ACCOUNTS = {
  bybit: { apiKey: 'demo-bybit-key', secret: 'demo-bybit-secret' },
  binance: { apiKey: 'demo-binance-key', secret: 'demo-binance-secret' },
} as const satisfies Record<'bybit' | 'binance', { apiKey: string; secret: string }>;

/** Starting price per base asset (USD-ish); every market of that base starts there, rounded to its tick. */
export const INITIAL_PRICES: Record<string, string> = {
  BTC: '65000',
  ETH: '3400',
  LTC: '85',
  ADA: '0.45',
  XRP: '0.52',
  DOGE: '0.15',
  TRX: '0.12',
  ZRX: '0.45',
  SOL: '150',
};

export function defaultAccounts(): EmulatorAccountInput[] {
  return [
    {
      exchange: 'bybit',
      ...DEMO_ACCOUNTS.bybit,
      balances: {
        USDT: { free: '25000.5', used: '1250.25' },
        BTC: { free: '0.5', used: '0' },
        ETH: { free: '3.123456789012345678', used: '0.25' },
        USDC: { free: '1000', used: '0' },
      },
      positions: [
        { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.05', entryPrice: '64000.5', leverage: '10', marginMode: 'cross' },
        { symbol: 'ETH/USDT:USDT', side: 'short', contracts: '1.5', entryPrice: '3500.25', leverage: '5', marginMode: 'isolated' },
      ],
    },
    {
      exchange: 'binance',
      ...DEMO_ACCOUNTS.binance,
      balances: {
        BTC: { free: '0.75', used: '0.05' },
        ETH: { free: '4.5', used: '0' },
        USDT: { free: '12000.123456789012345678', used: '500' },
        LTC: { free: '10', used: '0' },
      },
      futuresBalances: {
        USDT: { free: '8000', used: '1200.5' },
      },
      positions: [
        { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.1', entryPrice: '63000', leverage: '20', marginMode: 'cross' },
        { symbol: 'ETH/USDT:USDT', side: 'short', contracts: '2', entryPrice: '3450.5', leverage: '10', marginMode: 'isolated' },
      ],
    },
  ];
}
