// The read side of balances and positions: what accounts hold now (the projection tables) and
// what they held at a past moment (the log itself). Both answers have the same shape and the same
// text for the same state, so `--at <now>` and a caught-up table print identically.
import type { EventData } from '../events/catalog.js';
import { toDecimal } from '../events/decimal.js';
import type { Queryable } from '../events/db.js';
import { parseAccountStream } from '../events/streams.js';
import { balanceRows, positionRows, type BalanceRow, type PositionRow } from './rows.js';
import { LIVE } from './tables.js';

/** Narrows a query to one exchange and/or one account name; absent fields match everything. */
export interface AccountFilter {
  exchange?: string;
  account?: string;
}

export type BalanceView = BalanceRow;
export type PositionView = PositionRow;

// numeric comes back as text in the scale it was computed with ("0.10" for 0.5 x 0.2); the
// canonical form is what the log holds and what the --at path computes.
function canonical(v: string | null): string | null {
  return v === null ? null : toDecimal(v);
}

function iso(t: Date | string): string {
  return new Date(t).toISOString();
}

// Code-unit order, not the database collation: both paths sort here, so they agree.
function byKeys<T>(...keys: ((row: T) => string)[]): (a: T, b: T) => number {
  return (a, b) => {
    for (const key of keys) {
      const x = key(a);
      const y = key(b);
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  };
}
const balanceOrder = byKeys<BalanceView>(
  (r) => r.exchange,
  (r) => r.account,
  (r) => r.asset,
);
const positionOrder = byKeys<PositionView>(
  (r) => r.exchange,
  (r) => r.account,
  (r) => r.symbol,
  (r) => r.side,
);

const FILTER = `($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR account = $2)`;

function filterParams(f: AccountFilter): [string | null, string | null] {
  return [f.exchange ?? null, f.account ?? null];
}

interface BalanceTableRow {
  exchange: string;
  account: string;
  asset: string;
  free: string | null;
  used: string | null;
  total: string;
  price: string | null;
  quote: string;
  value: string | null;
  as_of: Date;
  event_position: string;
}

/** Current balances from the projection table (catch the projections up first to include the newest events). */
export async function currentBalances(db: Queryable, filter: AccountFilter = {}): Promise<BalanceView[]> {
  const { rows } = await db.query<BalanceTableRow>(
    `SELECT exchange, account, asset, free, used, total, price, quote, value, as_of, event_position
     FROM ${LIVE.balances} WHERE ${FILTER}`,
    filterParams(filter),
  );
  return rows
    .map((r) => ({
      exchange: r.exchange,
      account: r.account,
      asset: r.asset,
      free: canonical(r.free),
      used: canonical(r.used),
      total: toDecimal(r.total),
      price: canonical(r.price),
      quote: r.quote,
      value: canonical(r.value),
      asOf: iso(r.as_of),
      eventPosition: Number(r.event_position),
    }))
    .sort(balanceOrder);
}

interface PositionTableRow {
  exchange: string;
  account: string;
  symbol: string;
  side: 'long' | 'short';
  contracts: string;
  contract_size: string | null;
  entry_price: string | null;
  mark_price: string | null;
  liquidation_price: string | null;
  notional: string | null;
  unrealized_pnl: string | null;
  leverage: string | null;
  margin_mode: 'cross' | 'isolated' | null;
  as_of: Date;
  event_position: string;
}

/** Current open positions from the projection table. */
export async function currentPositions(db: Queryable, filter: AccountFilter = {}): Promise<PositionView[]> {
  const { rows } = await db.query<PositionTableRow>(
    `SELECT exchange, account, symbol, side, contracts, contract_size, entry_price, mark_price, liquidation_price,
       notional, unrealized_pnl, leverage, margin_mode, as_of, event_position
     FROM ${LIVE.positions} WHERE ${FILTER}`,
    filterParams(filter),
  );
  return rows
    .map((r) => ({
      exchange: r.exchange,
      account: r.account,
      symbol: r.symbol,
      side: r.side,
      contracts: toDecimal(r.contracts),
      contractSize: canonical(r.contract_size),
      entryPrice: canonical(r.entry_price),
      markPrice: canonical(r.mark_price),
      liquidationPrice: canonical(r.liquidation_price),
      notional: canonical(r.notional),
      unrealizedPnl: canonical(r.unrealized_pnl),
      leverage: canonical(r.leverage),
      marginMode: r.margin_mode,
      asOf: iso(r.as_of),
      eventPosition: Number(r.event_position),
    }))
    .sort(positionOrder);
}

// Per account stream: the newest full snapshot recorded by `at`, and the fetch time of the newest
// observation (full or unchanged) from there up to `at`, which is what the projector's as_of
// would have said at that moment. The first lateral walks the events_stream_snapshots partial
// index backwards; the type literal must stay in the query for the planner to use it.
// recorded_at is the appending transaction's start time.
const SNAPSHOTS_AT = `
  SELECT s.stream_id, snap.global_position, snap.data -> 'snapshot' AS snapshot, seen.fetched_at
  FROM exchange_sync.streams s
  CROSS JOIN LATERAL (
    SELECT e.stream_position, e.global_position, e.data
    FROM exchange_sync.events e
    WHERE e.stream_id = s.stream_id AND e.type = 'snapshot_recorded' AND e.recorded_at <= $1::timestamptz
    ORDER BY e.stream_position DESC
    LIMIT 1
  ) snap
  CROSS JOIN LATERAL (
    SELECT CASE e.type WHEN 'snapshot_recorded' THEN e.data -> 'snapshot' ->> 'fetchedAt' ELSE e.data ->> 'fetchedAt' END AS fetched_at
    FROM exchange_sync.events e
    WHERE e.stream_id = s.stream_id AND e.stream_position >= snap.stream_position
      AND e.type IN ('snapshot_recorded', 'snapshot_unchanged') AND e.recorded_at <= $1::timestamptz
    ORDER BY e.stream_position DESC
    LIMIT 1
  ) seen
  WHERE ($2::text IS NULL OR split_part(s.stream_id, ':', 1) = $2)
    AND ($3::text IS NULL OR substr(s.stream_id, strpos(s.stream_id, ':') + 1) = $3)`;

interface SnapshotAt {
  stream: { exchange: string; account: string };
  snapshot: EventData<'snapshot_recorded'>['snapshot'];
  asOf: string;
  eventPosition: number;
}

async function snapshotsAt(db: Queryable, at: Date | string, filter: AccountFilter): Promise<SnapshotAt[]> {
  const { rows } = await db.query<{ stream_id: string; global_position: string; snapshot: SnapshotAt['snapshot']; fetched_at: string }>(
    SNAPSHOTS_AT,
    [at, filter.exchange ?? null, filter.account ?? null],
  );
  return rows.map((r) => ({
    stream: parseAccountStream(r.stream_id),
    snapshot: r.snapshot,
    asOf: iso(r.fetched_at),
    eventPosition: Number(r.global_position),
  }));
}

/**
 * Balances as of `at`, from the log: each account's newest snapshot recorded by then. Accounts
 * with no snapshot by then are absent. Exchange and account come from the stream id, as in
 * the projector.
 */
export async function balancesAt(db: Queryable, at: Date | string, filter: AccountFilter = {}): Promise<BalanceView[]> {
  const snapshots = await snapshotsAt(db, at, filter);
  return snapshots
    .flatMap(({ stream, snapshot, asOf, eventPosition }) =>
      balanceRows(snapshot, asOf, eventPosition).map((r) => ({
        exchange: stream.exchange,
        account: stream.account,
        asset: r.asset,
        free: r.free,
        used: r.used,
        total: r.total,
        price: r.price,
        quote: r.quote,
        value: r.value,
        asOf: r.asOf,
        eventPosition: r.eventPosition,
      })),
    )
    .sort(balanceOrder);
}

/** Open positions as of `at`, from the log (see balancesAt). */
export async function positionsAt(db: Queryable, at: Date | string, filter: AccountFilter = {}): Promise<PositionView[]> {
  const snapshots = await snapshotsAt(db, at, filter);
  return snapshots
    .flatMap(({ stream, snapshot, asOf, eventPosition }) => positionRows(snapshot, asOf, eventPosition).map((r) => ({ ...r, ...stream })))
    .sort(positionOrder);
}
