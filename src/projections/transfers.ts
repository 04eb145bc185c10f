// Projection `transfers`: every deposit and withdrawal, one row each with its newest status (a
// status change is recorded as an event of its own, which updates the row).
import type { Transfer } from '../events/catalog.js';
import { parseAccountStream, type AccountId } from '../events/streams.js';
import { defineProjection } from './projection.js';
import { byKeys, readRows, upsertRows, type ColumnSpec } from './sql-rows.js';

export type TransferRow = AccountId & {
  transferId: string;
  type: Transfer['type'];
  currency: string;
  amount: string;
  fee: string | null;
  feeCurrency: string | null;
  status: Transfer['status'];
  network: string | null;
  txid: string | null;
  occurredAt: string;
  globalPosition: number;
};

const COLUMNS: ColumnSpec<TransferRow> = [
  ['exchange', 'text', 'exchange'],
  ['account', 'text', 'account'],
  ['transfer_id', 'text', 'transferId'],
  ['type', 'text', 'type'],
  ['currency', 'text', 'currency'],
  ['amount', 'numeric', 'amount'],
  ['fee', 'numeric', 'fee'],
  ['fee_currency', 'text', 'feeCurrency'],
  ['status', 'text', 'status'],
  ['network', 'text', 'network'],
  ['txid', 'text', 'txid'],
  ['occurred_at', 'timestamptz', 'occurredAt'],
  ['global_position', 'bigint', 'globalPosition'],
];

export function transferRow(id: AccountId, t: Transfer, globalPosition: number): TransferRow {
  return {
    exchange: id.exchange,
    account: id.account,
    transferId: t.id,
    type: t.type,
    currency: t.currency,
    amount: t.amount,
    fee: t.fee ? t.fee.cost : null,
    feeCurrency: t.fee ? t.fee.currency : null,
    status: t.status,
    network: t.network,
    txid: t.txid,
    occurredAt: t.timestamp,
    globalPosition,
  };
}

const order = byKeys<TransferRow>(
  (r) => r.exchange,
  (r) => r.account,
  (r) => r.occurredAt,
  (r) => r.type,
  (r) => r.transferId,
);

export const transfers = defineProjection({
  name: 'transfers',
  tables: ['transfers'],
  consumes: ['transfers_recorded'],
  replay: { kind: 'every' },
  apply: (tx, events, t) => {
    // The newest of each transfer in the batch (events come in log order).
    const latest = new Map<string, TransferRow>();
    for (const e of events) {
      const id = parseAccountStream(e.streamId);
      for (const x of e.data.transfers) latest.set(`${e.streamId}|${x.type}|${x.id}`, transferRow(id, x, e.globalPosition));
    }
    return upsertRows(tx, t.transfers, COLUMNS, [...latest.values()], ['exchange', 'account', 'type', 'transfer_id']);
  },
  read: (db, t, filter) => readRows(db, t.transfers, COLUMNS, filter, order),
});
