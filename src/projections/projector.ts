// Applies a batch of events to the projection tables inside the subscriber's transaction.
// Per account only the batch's newest full snapshot matters (it replaces the account's rows) and
// the newest observation time after it, so a rebuild writes each account's rows once per batch,
// in a few statements per batch rather than per account.
import type { EventData } from '../events/catalog.js';
import type { PoolClient } from '../events/db.js';
import type { RecordedEvent } from '../events/store.js';
import { parseAccountStream } from '../events/streams.js';
import { balanceRows, positionRows, type BalanceRow, type PositionRow } from './rows.js';
import type { ProjectionName, Tables } from './tables.js';

interface AccountChange {
  /** The newest snapshot_recorded of the batch, if any. */
  recorded?: RecordedEvent;
  /** Fetch time of the newest snapshot (recorded or unchanged) of the batch. */
  observedAt?: string;
}

function accountChanges(events: RecordedEvent[]): Map<string, AccountChange> {
  const changes = new Map<string, AccountChange>();
  for (const e of events) {
    if (e.type !== 'snapshot_recorded' && e.type !== 'snapshot_unchanged') continue;
    const c = changes.get(e.streamId) ?? {};
    if (e.type === 'snapshot_recorded') {
      c.recorded = e;
      c.observedAt = (e.data as EventData<'snapshot_recorded'>).snapshot.fetchedAt;
    } else {
      c.observedAt = (e.data as EventData<'snapshot_unchanged'>).fetchedAt;
    }
    changes.set(e.streamId, c);
  }
  return changes;
}

type Recorded = { exchange: string; account: string; snapshot: EventData<'snapshot_recorded'>['snapshot']; asOf: string; position: number };

/**
 * Per batch, three statements per table whatever the number of accounts: accounts with a new
 * full snapshot lose all their rows and get the snapshot's (so what they no longer hold is
 * gone); accounts with only unchanged snapshots get their as_of moved.
 */
async function replaceAccountRows(tx: PoolClient, table: string, changes: Map<string, AccountChange>, insert: (r: Recorded[]) => Promise<void>): Promise<void> {
  const recorded: Recorded[] = [];
  const touched: { exchange: string; account: string; asOf: string }[] = [];
  for (const [stream, c] of changes) {
    const { exchange, account } = parseAccountStream(stream);
    if (c.recorded) {
      const { snapshot } = c.recorded.data as EventData<'snapshot_recorded'>;
      recorded.push({ exchange, account, snapshot, asOf: c.observedAt!, position: c.recorded.globalPosition });
    } else {
      touched.push({ exchange, account, asOf: c.observedAt! });
    }
  }
  if (touched.length) {
    await tx.query(
      `UPDATE ${table} t SET as_of = u.as_of FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u (exchange, account, as_of)
       WHERE t.exchange = u.exchange AND t.account = u.account`,
      [touched.map((t) => t.exchange), touched.map((t) => t.account), touched.map((t) => t.asOf)],
    );
  }
  if (recorded.length) {
    await tx.query(
      `DELETE FROM ${table} t USING unnest($1::text[], $2::text[]) AS u (exchange, account) WHERE t.exchange = u.exchange AND t.account = u.account`,
      [recorded.map((r) => r.exchange), recorded.map((r) => r.account)],
    );
    await insert(recorded);
  }
}

function insertBalances(tx: PoolClient, table: string) {
  return async (recorded: Recorded[]) => {
    // The stream names the account; the snapshot's own fields say the same but are not the key.
    const rows = recorded.flatMap((r) => balanceRows(r.snapshot, r.asOf, r.position).map((b) => ({ ...b, exchange: r.exchange, account: r.account })));
    if (rows.length === 0) return;
    const col = <K extends keyof BalanceRow>(k: K) => rows.map((r) => r[k]);
    await tx.query(
      `INSERT INTO ${table} (exchange, account, asset, free, used, total, price, quote, value, as_of, event_position)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::numeric[], $7::numeric[], $8::text[],
         $9::numeric[], $10::timestamptz[], $11::bigint[])`,
      [
        col('exchange'),
        col('account'),
        col('asset'),
        col('free'),
        col('used'),
        col('total'),
        col('price'),
        col('quote'),
        col('value'),
        col('asOf'),
        col('eventPosition'),
      ],
    );
  };
}

function insertPositions(tx: PoolClient, table: string) {
  return async (recorded: Recorded[]) => {
    const rows = recorded.flatMap((r) => positionRows(r.snapshot, r.asOf, r.position).map((p) => ({ ...p, exchange: r.exchange, account: r.account })));
    if (rows.length === 0) return;
    const col = <K extends keyof PositionRow>(k: K) => rows.map((r) => r[k]);
    await tx.query(
      `INSERT INTO ${table} (exchange, account, symbol, side, contracts, contract_size, entry_price, mark_price, liquidation_price,
         notional, unrealized_pnl, leverage, margin_mode, as_of, event_position)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::numeric[], $8::numeric[],
         $9::numeric[], $10::numeric[], $11::numeric[], $12::numeric[], $13::text[], $14::timestamptz[], $15::bigint[])`,
      [
        col('exchange'),
        col('account'),
        col('symbol'),
        col('side'),
        col('contracts'),
        col('contractSize'),
        col('entryPrice'),
        col('markPrice'),
        col('liquidationPrice'),
        col('notional'),
        col('unrealizedPnl'),
        col('leverage'),
        col('marginMode'),
        col('asOf'),
        col('eventPosition'),
      ],
    );
  };
}

// The rows are made in SQL from the stored events (schema/003_sync_run_rows.sql): only their
// positions travel. A rebuild reads these events without their bodies.
async function applySyncRuns(tx: PoolClient, table: string, events: Pick<RecordedEvent, 'type' | 'globalPosition'>[]): Promise<void> {
  const positions = events.filter((e) => e.type === 'sync_completed' || e.type === 'sync_failed').map((e) => e.globalPosition);
  if (positions.length) {
    await tx.query(
      `INSERT INTO ${table} (sync_id, exchange, account, trigger, started_at, finished_at, status, changed, error_class, error_message,
         retryable, attempts, balances, positions, fetch_ms, event_position)
       SELECT * FROM exchange_sync.sync_run_rows($1::bigint[])`,
      [positions],
    );
  }
}

/** Applies `events` to the named projections in `tables`. */
export async function project(tx: PoolClient, events: RecordedEvent[], tables: Partial<Tables>): Promise<void> {
  const changes = accountChanges(events);
  const jobs: [ProjectionName, () => Promise<void>][] = [
    ['balances', () => replaceAccountRows(tx, tables.balances!, changes, insertBalances(tx, tables.balances!))],
    ['positions', () => replaceAccountRows(tx, tables.positions!, changes, insertPositions(tx, tables.positions!))],
    ['sync_runs', () => applySyncRuns(tx, tables.sync_runs!, events)],
  ];
  for (const [name, job] of jobs) if (tables[name]) await job();
}
