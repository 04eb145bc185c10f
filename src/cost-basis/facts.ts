// What the cost-basis fold reads: fills, transfers and snapshots reduced to the fields it needs,
// each with its place in the exchange's time order (a fill recorded today may have happened
// before snapshots recorded last week).
import { z } from 'zod';
import { addDecimals, Decimal } from '../events/decimal.js';
import { Iso, MarketType, TransferStatus } from '../events/catalog.js';
import type { CurrentEvent } from '../events/typed-events.js';

const Amounts = z.record(z.string(), Decimal);
const FeeParts = z.array(z.object({ currency: z.string(), cost: Decimal }));

export const FillFact = z.object({
  kind: z.literal('fill'),
  at: Iso,
  id: z.string(),
  symbol: z.string(),
  market: MarketType,
  side: z.enum(['buy', 'sell']),
  amount: Decimal,
  cost: Decimal,
  price: Decimal,
  fees: FeeParts,
  realizedPnl: Decimal.nullable(),
});

export const TransferFact = z.object({
  kind: z.literal('transfer'),
  at: Iso,
  id: z.string(),
  type: z.enum(['deposit', 'withdrawal']),
  currency: z.string(),
  amount: Decimal,
  fee: z.object({ currency: z.string(), cost: Decimal }).nullable(),
  status: TransferStatus,
  txid: z.string().nullable(),
  /** A later event's news about a transfer already recorded (its status changed). */
  update: z.boolean(),
});

export const SnapshotPosition = z.object({
  symbol: z.string(),
  side: z.enum(['long', 'short']),
  contracts: Decimal,
  entryPrice: Decimal.nullable(),
  markPrice: Decimal.nullable(),
  notional: Decimal.nullable(),
  unrealizedPnl: Decimal.nullable(),
});

export const SnapshotFact = z.object({
  kind: z.literal('snapshot'),
  at: Iso,
  quote: z.string(),
  /** Per asset, the sum over every wallet the snapshot read. */
  totals: Amounts,
  prices: Amounts,
  positions: z.array(SnapshotPosition),
});

export const Fact = z.discriminatedUnion('kind', [FillFact, TransferFact, SnapshotFact]);
export type Fact = z.infer<typeof Fact>;
export type FillFact = z.infer<typeof FillFact>;
export type TransferFact = z.infer<typeof TransferFact>;
export type SnapshotFact = z.infer<typeof SnapshotFact>;
export type SnapshotPosition = z.infer<typeof SnapshotPosition>;

/** Where a fact stands in the fold: exchange time, then (at one instant) fills and transfers before the snapshot that shows them, then log order. */
export type FactKey = readonly [ms: number, rank: 0 | 1, position: number, index: number];

export interface PlacedFact {
  key: FactKey;
  fact: Fact;
}

export function compareKeys(a: FactKey, b: FactKey): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3];
}

export function place(fact: Fact, position: number, index: number): PlacedFact {
  return { key: [Date.parse(fact.at), fact.kind === 'snapshot' ? 1 : 0, position, index], fact };
}

export const HOLDINGS_EVENTS = ['snapshot_recorded', 'trades_recorded', 'transfers_recorded'] as const;
export type HoldingsEvent = CurrentEvent<(typeof HOLDINGS_EVENTS)[number]>;

/** The facts one event holds, in its order. */
export function factsOf(e: HoldingsEvent): Fact[] {
  switch (e.type) {
    case 'snapshot_recorded': {
      const s = e.data.snapshot;
      const totals: Record<string, string> = {};
      for (const b of s.balances) totals[b.asset] = b.asset in totals ? addDecimals(totals[b.asset]!, b.total) : b.total;
      return [
        {
          kind: 'snapshot',
          at: s.fetchedAt,
          quote: s.quote,
          totals,
          prices: s.prices,
          positions: s.positions.map((p) => ({
            symbol: p.symbol,
            side: p.side,
            contracts: p.contracts,
            entryPrice: p.entryPrice,
            markPrice: p.markPrice,
            notional: p.notional,
            unrealizedPnl: p.unrealizedPnl,
          })),
        },
      ];
    }
    case 'trades_recorded':
      return e.data.trades.map((t) => ({
        kind: 'fill',
        at: t.timestamp,
        id: t.id,
        symbol: t.symbol,
        market: t.marketType,
        side: t.side,
        amount: t.amount,
        cost: t.cost,
        price: t.price,
        fees: t.fees,
        realizedPnl: t.realizedPnl,
      }));
    case 'transfers_recorded':
      return e.data.transfers.map((t) => ({
        kind: 'transfer',
        at: t.timestamp,
        id: t.id,
        type: t.type,
        currency: t.currency,
        amount: t.amount,
        fee: t.fee,
        status: t.status,
        txid: t.txid,
        update: t.previousStatus !== null,
      }));
  }
}

/**
 * An account's facts in fold order. A transfer recorded again (its status changed) counts once,
 * as its newest record says, at its own time.
 */
export function inFoldOrder(placed: PlacedFact[]): PlacedFact[] {
  const newest = new Map<string, PlacedFact>();
  const out: PlacedFact[] = [];
  for (const p of placed) {
    if (p.fact.kind !== 'transfer') {
      out.push(p);
      continue;
    }
    const id = `${p.fact.type}|${p.fact.id}`;
    const seen = newest.get(id);
    if (!seen || p.key[2] > seen.key[2] || (p.key[2] === seen.key[2] && p.key[3] > seen.key[3])) newest.set(id, p);
  }
  out.push(...newest.values());
  return sortedByKey(out);
}

/** Sorted in fold order, in place; a list already in order (the usual case) is only checked. */
export function sortedByKey(list: PlacedFact[]): PlacedFact[] {
  for (let i = 1; i < list.length; i++) if (compareKeys(list[i - 1]!.key, list[i]!.key) > 0) return list.sort((a, b) => compareKeys(a.key, b.key));
  return list;
}
