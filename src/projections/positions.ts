// Projection `positions`: each account's open derivatives positions as of its newest snapshot,
// as the exchange reported them.
import type { Position } from '../events/catalog.js';
import type { AccountId } from '../events/streams.js';
import { replaceAccountRows, SNAPSHOT_EVENTS, SNAPSHOT_REPLAY, type RecordedSnapshot } from './account-snapshots.js';
import { defineProjection } from './projection.js';
import { byKeys, insertRows, readRows, type ColumnSpec } from './sql-rows.js';

export type PositionRow = AccountId & Position & { asOf: string; eventPosition: number };

const COLUMNS: ColumnSpec<PositionRow> = [
  ['exchange', 'text', 'exchange'],
  ['account', 'text', 'account'],
  ['symbol', 'text', 'symbol'],
  ['side', 'text', 'side'],
  ['contracts', 'numeric', 'contracts'],
  ['contract_size', 'numeric', 'contractSize'],
  ['entry_price', 'numeric', 'entryPrice'],
  ['mark_price', 'numeric', 'markPrice'],
  ['liquidation_price', 'numeric', 'liquidationPrice'],
  ['notional', 'numeric', 'notional'],
  ['unrealized_pnl', 'numeric', 'unrealizedPnl'],
  ['leverage', 'numeric', 'leverage'],
  ['margin_mode', 'text', 'marginMode'],
  ['as_of', 'timestamptz', 'asOf'],
  ['event_position', 'bigint', 'eventPosition'],
];

export function positionRows(r: RecordedSnapshot): PositionRow[] {
  return r.snapshot.positions.map((p) => ({
    exchange: r.exchange,
    account: r.account,
    symbol: p.symbol,
    side: p.side,
    contracts: p.contracts,
    contractSize: p.contractSize,
    entryPrice: p.entryPrice,
    markPrice: p.markPrice,
    liquidationPrice: p.liquidationPrice,
    notional: p.notional,
    unrealizedPnl: p.unrealizedPnl,
    leverage: p.leverage,
    marginMode: p.marginMode,
    asOf: r.asOf,
    eventPosition: r.eventPosition,
  }));
}

const order = byKeys<PositionRow>(
  (r) => r.exchange,
  (r) => r.account,
  (r) => r.symbol,
  (r) => r.side,
);

export const positions = defineProjection({
  name: 'positions',
  tables: ['positions'],
  consumes: SNAPSHOT_EVENTS,
  replay: SNAPSHOT_REPLAY,
  apply: (tx, events, t) => replaceAccountRows(tx, t.positions, events, (recorded) => insertRows(tx, t.positions, COLUMNS, recorded.flatMap(positionRows))),
  read: (db, t, filter) => readRows(db, t.positions, COLUMNS, filter, order),
});
