// The default world: one demo account per exchange with documented keys, so the demo and the
// tests run without set-up. Amounts are chosen to exercise the edges a client must get right:
// an 18-decimal balance, a used (locked) part, a long and a short, cross and isolated margin.
import type { EmulatorAccountInput, EmulatorExchange } from './types.js';

export const DEMO_ACCOUNTS = {
  bybit: { apiKey: 'demo-bybit-key', secret: 'demo-bybit-secret' },
  binance: { apiKey: 'demo-binance-key', secret: 'demo-binance-secret' },
  // okx keys have a passphrase too; ccxt takes it as `password`
  okx: { apiKey: 'demo-okx-key', secret: 'demo-okx-secret', passphrase: 'demo-okx-passphrase' },
} as const satisfies Record<EmulatorExchange, { apiKey: string; secret: string; passphrase?: string }>;

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
      fundingBalances: {
        USDT: { free: '500', used: '0' },
        BTC: { free: '0.01', used: '0' },
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
      fundingBalances: {
        USDT: { free: '250.5', used: '0' },
      },
      deliveryBalances: {
        BTC: { free: '0.2', used: '0' },
      },
      positions: [
        { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.1', entryPrice: '63000', leverage: '20', marginMode: 'cross' },
        { symbol: 'ETH/USDT:USDT', side: 'short', contracts: '2', entryPrice: '3450.5', leverage: '10', marginMode: 'isolated' },
        // COIN-M: 10 contracts of 100 USD
        { symbol: 'BTC/USD:BTC', side: 'long', contracts: '10', entryPrice: '60000', leverage: '5', marginMode: 'cross' },
      ],
    },
    {
      exchange: 'okx',
      ...DEMO_ACCOUNTS.okx,
      // the trading account (/api/v5/account/balance)
      balances: {
        USDT: { free: '15000.25', used: '300' },
        BTC: { free: '0.4', used: '0' },
        ETH: { free: '2.5', used: '0' },
      },
      // the funding account (/api/v5/asset/balances)
      fundingBalances: {
        USDT: { free: '1000', used: '0' },
      },
      positions: [
        // okx counts contracts: BTC-USDT-SWAP is 0.01 BTC each (0.05 BTC), BTC-USD-SWAP 100 USD each
        { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '5', entryPrice: '64500', leverage: '10', marginMode: 'cross' },
        { symbol: 'BTC/USD:BTC', side: 'short', contracts: '20', entryPrice: '66000', leverage: '3', marginMode: 'isolated' },
      ],
    },
  ];
}
