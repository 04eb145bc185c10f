// Projection `balances`: what each account holds, per asset, as of its newest snapshot; value =
// total x price, exact, where the snapshot has a price for the asset.
import type { Balance } from '../events/catalog.js';
import type { AccountId } from '../events/streams.js';
import { replaceAccountRows, SNAPSHOT_EVENTS, SNAPSHOT_REPLAY, type RecordedSnapshot } from './account-snapshots.js';
import { defineProjection } from './projection.js';
import { byKeys, insertRows, readRows, type ColumnSpec } from './sql-rows.js';
import { holdingValue } from './value.js';

export type BalanceRow = AccountId &
  Balance & {
    /** Last price in `quote`; null when the exchange lists no market for it. */
    price: string | null;
    quote: string;
    /** total x price, exact; null when the price is unknown (never a guessed 0). */
    value: string | null;
    /** When the holding was last observed: the newest fetch of the account. */
    asOf: string;
    /** Global position of the snapshot_recorded this row comes from. */
    eventPosition: number;
  };

const COLUMNS: ColumnSpec<BalanceRow> = [
  ['exchange', 'text', 'exchange'],
  ['account', 'text', 'account'],
  ['asset', 'text', 'asset'],
  ['free', 'numeric', 'free'],
  ['used', 'numeric', 'used'],
  ['total', 'numeric', 'total'],
  ['price', 'numeric', 'price'],
  ['quote', 'text', 'quote'],
  ['value', 'numeric', 'value'],
  ['as_of', 'timestamptz', 'asOf'],
  ['event_position', 'bigint', 'eventPosition'],
];

export function balanceRows(r: RecordedSnapshot): BalanceRow[] {
  const s = r.snapshot;
  return s.balances.map((b) => {
    const price = s.prices[b.asset] ?? null;
    return {
      exchange: r.exchange,
      account: r.account,
      asset: b.asset,
      free: b.free,
      used: b.used,
      total: b.total,
      price,
      quote: s.quote,
      value: holdingValue(b.total, price),
      asOf: r.asOf,
      eventPosition: r.eventPosition,
    };
  });
}

const order = byKeys<BalanceRow>(
  (r) => r.exchange,
  (r) => r.account,
  (r) => r.asset,
);

export const balances = defineProjection({
  name: 'balances',
  tables: ['balances'],
  consumes: SNAPSHOT_EVENTS,
  replay: SNAPSHOT_REPLAY,
  apply: (tx, events, t) => replaceAccountRows(tx, t.balances, events, (recorded) => insertRows(tx, t.balances, COLUMNS, recorded.flatMap(balanceRows))),
  read: (db, t, filter) => readRows(db, t.balances, COLUMNS, filter, order),
});
