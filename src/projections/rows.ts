// Snapshot -> table rows. Shared by the live projector, rebuild, and `--at` answers from the log,
// so all three say the same thing about the same snapshot.
import type { Snapshot } from '../events/catalog.js';
import { holdingValue } from './value.js';

export interface BalanceRow {
  exchange: string;
  account: string;
  asset: string;
  free: string | null;
  used: string | null;
  total: string;
  price: string | null;
  quote: string;
  /** total x price, exact; null when the price is unknown. */
  value: string | null;
  asOf: string;
  eventPosition: number;
}

export interface PositionRow {
  exchange: string;
  account: string;
  symbol: string;
  side: 'long' | 'short';
  contracts: string;
  contractSize: string | null;
  entryPrice: string | null;
  markPrice: string | null;
  liquidationPrice: string | null;
  notional: string | null;
  unrealizedPnl: string | null;
  leverage: string | null;
  marginMode: 'cross' | 'isolated' | null;
  asOf: string;
  eventPosition: number;
}

export function balanceRows(s: Snapshot, asOf: string, eventPosition: number): BalanceRow[] {
  return s.balances.map((b) => ({
    exchange: s.exchange,
    account: s.account,
    asset: b.asset,
    free: b.free,
    used: b.used,
    total: b.total,
    price: s.prices[b.asset] ?? null,
    quote: s.quote,
    value: holdingValue(b.total, s.prices[b.asset] ?? null),
    asOf,
    eventPosition,
  }));
}

export function positionRows(s: Snapshot, asOf: string, eventPosition: number): PositionRow[] {
  return s.positions.map((p) => ({ exchange: s.exchange, account: s.account, ...p, asOf, eventPosition }));
}
