// Appending to and reading from the log. All ordering guarantees live in schema/001_event_store.sql;
// this module validates events against the catalog and maps rows to typed records.
import { randomUUID } from 'node:crypto';
import { catalog as productCatalog, EVENT_TYPE, validateEventData, type Catalog } from './catalog.js';
import { START, type Cursor } from './cursor.js';
import { sqlState, type Pool, type Queryable } from './db.js';
import type { AccountFilter } from './streams.js';

export { START, compareCursors, cursorOf, type Cursor } from './cursor.js';

export interface NewEvent {
  /** Choose it before the first try, so a retry is recognized; generated when absent. */
  id?: string;
  type: string;
  /** The type's current version when absent. */
  version?: number;
  data: unknown;
  metadata?: Record<string, unknown>;
}

export interface RecordedEvent {
  id: string;
  type: string;
  version: number;
  streamId: string;
  streamPosition: number;
  globalPosition: number;
  /** xid8 as a decimal string: the first half of the read order. */
  transactionId: string;
  recordedAt: Date;
  data: unknown;
  metadata: Record<string, unknown>;
}

export interface AppendResult {
  streamId: string;
  /** The stream's position after the append (its last event's stream position). */
  streamPosition: number;
  events: { id: string; streamPosition: number; globalPosition: number; recordedAt: Date }[];
  /** True when every event was already stored: a retry, nothing written. */
  duplicate: boolean;
}

export interface AppendOptions {
  /** The stream's last position the caller saw (0 = no events yet). */
  expectedPosition?: number;
  /** Run inside the caller's transaction instead of one of our own. */
  client?: Queryable;
}

export class ConcurrencyError extends Error {
  override name = 'ConcurrencyError';
  constructor(
    readonly streamId: string,
    readonly expectedPosition: number,
    message: string,
  ) {
    super(message);
  }
}

export class InvalidAppendError extends Error {
  override name = 'InvalidAppendError';
}

interface EventRow {
  event_id: string;
  type: string;
  version: number;
  stream_id: string;
  stream_position: string;
  global_position: string;
  transaction_id_text: string;
  recorded_ms: number;
  data: unknown;
  metadata: Record<string, unknown>;
}

// The xid8 travels as text, under another name: an output column called transaction_id would
// capture ORDER BY transaction_id and sort the log as text ('10' before '9'). recorded_at travels
// as epoch milliseconds (floored, as a Date keeps them): pg's timestamptz text parser cost 4 us a
// row, a third of a replay's read time.
const recordedMs = (t = '') => `floor(extract(epoch FROM ${t}recorded_at) * 1000)::float8 AS recorded_ms`;
const RECORDED_MS = recordedMs();
/** The columns of an EventRow, of table alias `t` ('e.') or none. */
const headerColumns = (t = '') =>
  `${t}event_id, ${t}type, ${t}version, ${t}stream_id, ${t}stream_position, ${t}global_position, ${t}transaction_id::text AS transaction_id_text, ${recordedMs(t)}, ${t}metadata`;
const HEADER_COLUMNS = headerColumns();
const eventColumns = (t = '') => `${headerColumns(t)}, ${t}data`;
export const EVENT_COLUMNS = eventColumns();

export function toRecorded(r: EventRow): RecordedEvent {
  return {
    id: r.event_id,
    type: r.type,
    version: r.version,
    streamId: r.stream_id,
    streamPosition: Number(r.stream_position),
    globalPosition: Number(r.global_position),
    transactionId: r.transaction_id_text,
    recordedAt: new Date(r.recorded_ms),
    data: r.data,
    metadata: r.metadata,
  };
}

// Rows below the oldest running transaction only, in (transaction_id, global_position) order:
// no row can ever be inserted behind a cursor taken from this query. $1, $2: after; $3: limit.
const batchSql = (columns: string, also = '') => `
  SELECT ${columns} FROM exchange_sync.events
  WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
    AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) ${also}
  ORDER BY transaction_id, global_position
  LIMIT $3`;
// $4: the smallest global position wanted.
const READ_AFTER = batchSql(EVENT_COLUMNS, 'AND global_position >= $4');

/**
 * Which events of the log a reader wants: those of `types`; with `resetBy`, per stream only those
 * from the stream's newest `resetBy` event on (for a reader to which that event replaces all its
 * stream said before, like a full snapshot). The store knows nothing of who reads, only this.
 */
export interface Selector {
  types: readonly string[];
  resetBy?: string;
}

function checkSelector(s: Selector): void {
  for (const t of [...s.types, ...(s.resetBy ? [s.resetBy] : [])]) if (!EVENT_TYPE.test(t)) throw new Error(`not an event type: "${t}"`);
}

// A batch as READ_AFTER reads it, with only the selected events returned, and with their bodies
// fetched only for them (most of what a replay would otherwise read, send and parse). The batch's
// last row comes too, selected or not, as it carries the cursor; batch_read counts every row.
// Within a stream, stream position order is read order (the stream lock and first-write rule of
// append_events), so "from the newest reset on" is a stream position comparison.
// Parameters: $1, $2 after; $3 limit; two per selector (types, resetBy); then until, if any.
function selectedBatchSql(selectors: number, until: boolean): string {
  const wanted = Array.from({ length: selectors }, (_, i) => {
    const [types, reset] = [`$${4 + 2 * i}`, `$${5 + 2 * i}`];
    return `(b.type = ANY (${types}::text[]) AND b.stream_position >=
      coalesce(max(b.stream_position) FILTER (WHERE b.type = ${reset}::text) OVER (PARTITION BY b.stream_id), 0))`;
  });
  const u = 4 + 2 * selectors;
  const also = until ? `AND (transaction_id, global_position) <= ($${u}::xid8, $${u + 1}::bigint)` : '';
  return `
  SELECT ${HEADER_COLUMNS}, batch_read, wanted,
    CASE WHEN wanted THEN (SELECT e.data FROM exchange_sync.events e WHERE e.global_position = w.global_position) END AS data
  FROM (
    SELECT b.*, count(*) OVER () AS batch_read,
      row_number() OVER (ORDER BY b.transaction_id DESC, b.global_position DESC) = 1 AS is_last,
      ${wanted.length ? wanted.join(' OR ') : 'false'} AS wanted
    FROM (${batchSql('event_id, type, version, stream_id, stream_position, global_position, transaction_id, recorded_at, metadata', also)}) b
  ) w
  WHERE wanted OR is_last
  ORDER BY transaction_id, global_position`;
}
const selectedBatchCache = new Map<string, string>();

const STREAM_FILTER = (exchange: string, account: string, column = 'stream_id') =>
  `(${exchange}::text IS NULL OR split_part(${column}, ':', 1) = ${exchange}) AND (${account}::text IS NULL OR substr(${column}, strpos(${column}, ':') + 1) = ${account})`;

// As of a moment, with a reset type: per stream, walk back to its newest reset event recorded by
// then, and read forward from it. The reset type is written into the text (checked against the
// type pattern) so that a partial index on it (events_stream_snapshots) can serve the walk.
// recorded_at is the appending transaction's start time. $1 moment; $2 types; $3, $4 exchange, account.
const asOfResetSql = (resetBy: string) => `
  SELECT ${eventColumns('ev.')}
  FROM exchange_sync.streams s
  LEFT JOIN LATERAL (
    SELECT r.stream_position FROM exchange_sync.events r
    WHERE r.stream_id = s.stream_id AND r.type = '${resetBy}' AND r.recorded_at <= $1::timestamptz
    ORDER BY r.stream_position DESC LIMIT 1
  ) reset ON true
  CROSS JOIN LATERAL (
    SELECT * FROM exchange_sync.events e
    WHERE e.stream_id = s.stream_id AND e.stream_position >= coalesce(reset.stream_position, 1)
      AND e.type = ANY ($2::text[]) AND e.recorded_at <= $1::timestamptz
  ) ev
  WHERE ${STREAM_FILTER('$3', '$4', 's.stream_id')}
  ORDER BY ev.transaction_id, ev.global_position`;

// As of a moment, every selected event, a page at a time, in read order. No read horizon: the
// caller pages inside one REPEATABLE READ snapshot, in which nothing can appear behind a cursor
// (and an unrelated open transaction then hides nothing recorded before the moment).
// $1, $2 after; $3 limit; $4 moment; $5 types; $6, $7 exchange, account.
const AS_OF_PAGE = `
  SELECT ${EVENT_COLUMNS} FROM exchange_sync.events
  WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
    AND recorded_at <= $4::timestamptz AND type = ANY ($5::text[]) AND ${STREAM_FILTER('$6', '$7')}
  ORDER BY transaction_id, global_position
  LIMIT $3`;

// Held back: committed or not, rows at or above the read horizon, which no reader may pass yet.
const HAS_HELD_BACK = `
  SELECT EXISTS (
    SELECT 1 FROM exchange_sync.events WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())
  ) AS held_back`;

/**
 * The events at these global positions, in read order. For a subscriber that keeps which events it
 * has seen (the holdings projection, which folds an account again when an older fact arrives):
 * the log never changes, so the same positions always read the same events. Runs on `db`, the
 * caller's transaction.
 */
export async function readEventsAt(db: Queryable, positions: readonly number[]): Promise<RecordedEvent[]> {
  if (positions.length === 0) return [];
  const { rows } = await db.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM exchange_sync.events WHERE global_position = ANY ($1::bigint[]) ORDER BY transaction_id, global_position`,
    [positions],
  );
  return rows.map(toRecorded);
}

export class EventStore {
  constructor(
    readonly pool: Pool,
    private readonly catalog: Catalog = productCatalog,
  ) {}

  async append(streamId: string, events: NewEvent[], opts: AppendOptions = {}): Promise<AppendResult> {
    if (events.length === 0) throw new InvalidAppendError('append needs at least one event');
    if (!/^[^\s]+$/.test(streamId)) throw new InvalidAppendError(`invalid stream id "${streamId}"`);
    const prepared = events.map((e) => {
      // An unknown type is reported by the validation below, with the version asked for.
      const version = e.version ?? (Object.hasOwn(this.catalog, e.type) ? this.catalog[e.type]!.current : 1);
      let data: unknown;
      try {
        data = validateEventData(this.catalog, e.type, version, e.data);
      } catch (err) {
        throw new InvalidAppendError(`${e.type} v${version}: ${(err as Error).message}`);
      }
      return { id: e.id ?? randomUUID(), type: e.type, version, data, metadata: e.metadata ?? {} };
    });
    const params = [
      streamId,
      opts.expectedPosition ?? null,
      prepared.map((e) => e.id),
      prepared.map((e) => e.type),
      prepared.map((e) => e.version),
      prepared.map((e) => JSON.stringify(e.data)),
      prepared.map((e) => JSON.stringify(e.metadata)),
    ];
    // recorded_at as the readers get it (RECORDED_MS), so an appended event's time equals its time
    // read back. A named statement: each connection parses and plans it once, not per append.
    const sql = `SELECT event_id, stream_position, global_position, ${RECORDED_MS}, duplicate
      FROM exchange_sync.append_events($1, $2, $3::uuid[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[])`;
    let rows;
    try {
      ({ rows } = await (opts.client ?? this.pool).query<{
        event_id: string;
        stream_position: string;
        global_position: string;
        recorded_ms: number;
        duplicate: boolean;
      }>({ name: 'exchange_sync.append_events', text: sql, values: params }));
    } catch (err) {
      const state = sqlState(err);
      if (state === 'ES409') throw new ConcurrencyError(streamId, opts.expectedPosition ?? -1, (err as Error).message);
      if (state === 'ES422') throw new InvalidAppendError((err as Error).message);
      throw err;
    }
    const last = rows[rows.length - 1];
    return {
      streamId,
      streamPosition: Number(last?.stream_position ?? 0),
      duplicate: rows.every((r) => r.duplicate),
      events: rows.map((r) => ({
        id: r.event_id,
        streamPosition: Number(r.stream_position),
        globalPosition: Number(r.global_position),
        recordedAt: new Date(r.recorded_ms),
      })),
    };
  }

  /**
   * Events after `cursor` in commit-safe order, at most `limit`. `fromGlobalPosition` skips
   * older events for a reader that starts somewhere in the middle (the CLI's --from).
   */
  async readAfter(cursor: Cursor, limit = 500, opts: { client?: Queryable; fromGlobalPosition?: number } = {}): Promise<RecordedEvent[]> {
    const { rows } = await (opts.client ?? this.pool).query<EventRow>(READ_AFTER, [
      cursor.transactionId,
      cursor.globalPosition,
      limit,
      opts.fromGlobalPosition ?? 0,
    ]);
    return rows.map(toRecorded);
  }

  /**
   * A batch as readAfter reads it, but only the events some selector wants come back (with their
   * bodies). `end` is the cursor after the whole batch, left-out events included; `read` counts
   * them all. With `until`, the batch stops there: (after, until].
   */
  async readSelected(
    after: Cursor,
    limit: number,
    opts: { select: readonly Selector[]; until?: Cursor; client?: Queryable },
  ): Promise<{ events: RecordedEvent[]; read: number; end: Cursor | undefined }> {
    const { until } = opts;
    // Readers with the same needs (balances and positions) share one condition.
    const select = [...new Map(opts.select.map((s) => [`${s.types.join(',')}|${s.resetBy ?? ''}`, s])).values()];
    for (const s of select) checkSelector(s);
    const key = `${select.length}:${until ? 1 : 0}`;
    let sql = selectedBatchCache.get(key);
    if (!sql) selectedBatchCache.set(key, (sql = selectedBatchSql(select.length, until !== undefined)));
    const params: unknown[] = [after.transactionId, after.globalPosition, limit];
    for (const s of select) params.push(s.types, s.resetBy ?? null);
    if (until) params.push(until.transactionId, until.globalPosition);
    const { rows } = await (opts.client ?? this.pool).query<EventRow & { wanted: boolean; batch_read: string }>(sql, params);
    const last = rows[rows.length - 1];
    return {
      events: rows.filter((r) => r.wanted).map(toRecorded),
      read: Number(last?.batch_read ?? 0),
      end: last ? { transactionId: last.transaction_id_text, globalPosition: Number(last.global_position) } : undefined,
    };
  }

  /**
   * The selected events recorded at or before `at`, in read order, of the accounts `streams`
   * selects: with a reset type in one read (per stream, from its newest reset on), otherwise a
   * page of `limit` after `after` (an empty page ends it; page inside one REPEATABLE READ
   * transaction).
   */
  async readSelectedAsOf(
    at: Date | string,
    select: Selector,
    opts: { streams?: AccountFilter; after?: Cursor; limit?: number; client?: Queryable } = {},
  ): Promise<RecordedEvent[]> {
    checkSelector(select);
    const db = opts.client ?? this.pool;
    const [exchange, account] = [opts.streams?.exchange ?? null, opts.streams?.account ?? null];
    if (select.resetBy) {
      const { rows } = await db.query<EventRow>(asOfResetSql(select.resetBy), [at, select.types, exchange, account]);
      return rows.map(toRecorded);
    }
    const after = opts.after ?? START;
    const { rows } = await db.query<EventRow>(AS_OF_PAGE, [after.transactionId, after.globalPosition, opts.limit ?? 10_000, at, select.types, exchange, account]);
    return rows.map(toRecorded);
  }

  /** True while events are held back: a transaction that may still add events below the read horizon is open. */
  async hasHeldBack(client?: Queryable): Promise<boolean> {
    const { rows } = await (client ?? this.pool).query<{ held_back: boolean }>(HAS_HELD_BACK);
    return rows[0]?.held_back ?? false;
  }

  /** One stream's events from `fromPosition` (inclusive), in stream order. */
  async readStream(streamId: string, opts: { fromPosition?: number; limit?: number; client?: Queryable } = {}): Promise<RecordedEvent[]> {
    const { rows } = await (opts.client ?? this.pool).query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM exchange_sync.events
       WHERE stream_id = $1 AND stream_position >= $2 ORDER BY stream_position LIMIT $3`,
      [streamId, opts.fromPosition ?? 1, opts.limit ?? 1000],
    );
    return rows.map(toRecorded);
  }

  /** The stream's newest event of one of `types`, if any. */
  async lastOfTypes(streamId: string, types: string[], client?: Queryable): Promise<RecordedEvent | undefined> {
    const { rows } = await (client ?? this.pool).query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM exchange_sync.events
       WHERE stream_id = $1 AND type = ANY ($2::text[]) ORDER BY stream_position DESC LIMIT 1`,
      [streamId, types],
    );
    return rows[0] ? toRecorded(rows[0]) : undefined;
  }

  /** Events in the log (for progress). */
  async countEvents(client?: Queryable): Promise<number> {
    const { rows } = await (client ?? this.pool).query<{ n: string }>('SELECT count(*) AS n FROM exchange_sync.events');
    return Number(rows[0]?.n ?? 0);
  }

  /** The stream's last position (0 when it has no events). */
  async streamPosition(streamId: string, client?: Queryable): Promise<number> {
    const { rows } = await (client ?? this.pool).query<{ position: string }>(
      'SELECT coalesce(max(stream_position), 0) AS position FROM exchange_sync.events WHERE stream_id = $1',
      [streamId],
    );
    return Number(rows[0]?.position ?? 0);
  }
}
