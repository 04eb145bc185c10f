// Projection `sync_runs`: one row per sync attempt, ok or failed, the audit trail the old module
// did not keep. Every sync event counts, so a replay reads them all.
import type { ErrorClass, SyncTrigger } from '../events/catalog.js';
import type { Queryable } from '../events/db.js';
import { parseAccountStream, type AccountId } from '../events/streams.js';
import type { CurrentEvent } from '../events/typed-events.js';
import { defineProjection, type Tables } from './projection.js';
import { byKeys, insertRows, readRows, type ColumnSpec } from './sql-rows.js';

export type SyncRunRow = AccountId & {
  syncId: string;
  trigger: SyncTrigger;
  startedAt: string;
  finishedAt: string;
  status: 'ok' | 'failed';
  /** ok: whether the snapshot differed from the one before. */
  changed: boolean | null;
  errorClass: ErrorClass | null;
  errorMessage: string | null;
  retryable: boolean | null;
  attempts: number;
  balances: number | null;
  positions: number | null;
  fetchMs: number | null;
  /** ok with history: fills and transfers this sync recorded, or why its history fetch failed. */
  newTrades: number | null;
  newTransfers: number | null;
  historyErrorClass: ErrorClass | null;
  historyError: string | null;
  eventPosition: number;
};

const COLUMNS: ColumnSpec<SyncRunRow> = [
  ['sync_id', 'uuid', 'syncId'],
  ['exchange', 'text', 'exchange'],
  ['account', 'text', 'account'],
  ['trigger', 'text', 'trigger'],
  ['started_at', 'timestamptz', 'startedAt'],
  ['finished_at', 'timestamptz', 'finishedAt'],
  ['status', 'text', 'status'],
  ['changed', 'boolean', 'changed'],
  ['error_class', 'text', 'errorClass'],
  ['error_message', 'text', 'errorMessage'],
  ['retryable', 'boolean', 'retryable'],
  ['attempts', 'integer', 'attempts'],
  ['balances', 'integer', 'balances'],
  ['positions', 'integer', 'positions'],
  ['fetch_ms', 'integer', 'fetchMs'],
  ['new_trades', 'integer', 'newTrades'],
  ['new_transfers', 'integer', 'newTransfers'],
  ['history_error_class', 'text', 'historyErrorClass'],
  ['history_error', 'text', 'historyError'],
  ['event_position', 'bigint', 'eventPosition'],
];

type SyncEvent = CurrentEvent<'sync_completed' | 'sync_failed'>;

// Every field written out, in one shape for both types: a spread in the middle of an object
// literal takes V8's slow path, and this runs once per sync in a rebuild.
export function syncRunRow(e: SyncEvent): SyncRunRow {
  const { exchange, account } = parseAccountStream(e.streamId);
  const ok = e.type === 'sync_completed' ? e.data : undefined;
  const failed = e.type === 'sync_failed' ? e.data : undefined;
  const history = ok?.history ?? null;
  return {
    syncId: e.data.syncId,
    exchange,
    account,
    trigger: e.data.trigger,
    startedAt: e.data.startedAt,
    finishedAt: e.data.finishedAt,
    status: ok ? 'ok' : 'failed',
    changed: ok ? ok.changed : null,
    errorClass: failed ? failed.errorClass : null,
    errorMessage: failed ? failed.message : null,
    retryable: failed ? failed.retryable : null,
    attempts: ok ? ok.attempts : failed!.attempt,
    balances: ok ? ok.balances : null,
    positions: ok ? ok.positions : null,
    fetchMs: ok ? ok.fetchMs : null,
    newTrades: history ? history.trades : null,
    newTransfers: history ? history.transfers : null,
    historyErrorClass: history ? history.errorClass : null,
    historyError: history ? history.message : null,
    eventPosition: e.globalPosition,
  };
}

const order = byKeys<SyncRunRow>(
  (r) => r.exchange,
  (r) => r.account,
  (r) => r.startedAt,
  (r) => r.syncId,
);

export const syncRuns = defineProjection({
  name: 'sync_runs',
  tables: ['sync_runs'],
  consumes: ['sync_completed', 'sync_failed'],
  replay: { kind: 'every' },
  // Syncs are recorded in account streams only; another stream's event is not a sync of an account.
  apply: (tx, events, t) => insertRows(tx, t.sync_runs, COLUMNS, events.filter((e) => e.streamId.indexOf(':') > 0).map(syncRunRow)),
  read: (db, t, filter) => readRows(db, t.sync_runs, COLUMNS, filter, order),
});

export interface LastSync extends AccountId {
  syncId: string;
  status: 'ok' | 'failed';
  finishedAt: string;
  errorClass: ErrorClass | null;
}

/** Each account's newest sync (for status). */
export async function lastSyncs(db: Queryable, tables: Tables = { sync_runs: 'exchange_sync.sync_runs' }): Promise<LastSync[]> {
  const { rows } = await db.query<{ exchange: string; account: string; status: 'ok' | 'failed'; finished_at: Date; sync_id: string; error_class: ErrorClass | null }>(
    `SELECT DISTINCT ON (exchange, account) exchange, account, status, finished_at, sync_id, error_class
     FROM ${tables.sync_runs} ORDER BY exchange, account, started_at DESC`,
  );
  return rows.map((r) => ({ exchange: r.exchange, account: r.account, syncId: r.sync_id, status: r.status, finishedAt: r.finished_at.toISOString(), errorClass: r.error_class }));
}
