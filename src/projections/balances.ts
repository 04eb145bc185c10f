// Projection `balances`: what each account holds, per wallet and asset, as of its newest
// snapshot; value = total x price, exact, where the snapshot has a price for the asset.
import type { Balance } from '../events/catalog.js';
import type { AccountId } from '../events/streams.js';
import { replaceAccountRows, SNAPSHOT_EVENTS, SNAPSHOT_REPLAY, type RecordedSnapshot } from './account-snapshots.js';
import { defineProjection } from './projection.js';
import { byKeys, insertRows, readRows, type ColumnSpec } from './sql-rows.js';
import { addDecimals } from '../events/decimal.js';
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
  ['wallet', 'text', 'wallet'],
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
      wallet: b.wallet,
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
  (r) => r.wallet,
);

export const balances = defineProjection({
  name: 'balances',
  tables: ['balances'],
  consumes: SNAPSHOT_EVENTS,
  replay: SNAPSHOT_REPLAY,
  apply: (tx, events, t) => replaceAccountRows(tx, t.balances, events, (recorded) => insertRows(tx, t.balances, COLUMNS, recorded.flatMap(balanceRows))),
  read: (db, t, filter) => readRows(db, t.balances, COLUMNS, filter, order),
});

/** One asset of one account over all its wallets (`balances --by-asset`). */
export type AssetTotalRow = Omit<BalanceRow, 'wallet' | 'eventPosition'> & {
  /** The wallets holding it, in order. */
  wallets: BalanceRow['wallet'][];
};

/**
 * Sums an account's wallets per asset, exactly. A part unknown in one wallet (free or used null)
 * is unknown in the total; value is null when the price is (it is the same price in every wallet
 * of one snapshot). `rows` in the projection's order: account, then asset, then wallet.
 */
export function totalsByAsset(rows: BalanceRow[]): AssetTotalRow[] {
  const out: AssetTotalRow[] = [];
  let last: AssetTotalRow | undefined;
  const plus = (a: string | null, b: string | null) => (a === null || b === null ? null : addDecimals(a, b));
  for (const r of rows) {
    if (last && last.exchange === r.exchange && last.account === r.account && last.asset === r.asset) {
      last.free = plus(last.free, r.free);
      last.used = plus(last.used, r.used);
      last.total = addDecimals(last.total, r.total);
      last.value = plus(last.value, r.value);
      last.wallets.push(r.wallet);
      continue;
    }
    last = {
      exchange: r.exchange,
      account: r.account,
      asset: r.asset,
      wallets: [r.wallet],
      free: r.free,
      used: r.used,
      total: r.total,
      price: r.price,
      quote: r.quote,
      value: r.value,
      asOf: r.asOf,
    };
    out.push(last);
  }
  return out;
}
