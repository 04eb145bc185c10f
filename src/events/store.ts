// Appending to and reading from the log. All ordering guarantees live in schema/001_event_store.sql;
// this module validates events against the catalog and maps rows to typed records.
import { randomUUID } from 'node:crypto';
import { catalog as productCatalog, validateEventData, type Catalog } from './catalog.js';
import { sqlState, type Pool, type Queryable } from './db.js';

export interface NewEvent {
  /** Choose it before the first try, so a retry is recognized; generated when absent. */
  id?: string;
  type: string;
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

/** Cursor in read order. The zero cursor reads from the beginning. */
export interface Cursor {
  transactionId: string;
  globalPosition: number;
}
export const START: Cursor = { transactionId: '0', globalPosition: 0 };

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
const RECORDED_MS = 'floor(extract(epoch FROM recorded_at) * 1000)::float8 AS recorded_ms';
const HEADER_COLUMNS = `event_id, type, version, stream_id, stream_position, global_position, transaction_id::text AS transaction_id_text, ${RECORDED_MS}, metadata`;
export const EVENT_COLUMNS = `${HEADER_COLUMNS}, data`;

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

export function cursorOf(e: Pick<RecordedEvent, 'transactionId' | 'globalPosition'>): Cursor {
  return { transactionId: e.transactionId, globalPosition: e.globalPosition };
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

// A batch as READ_AFTER reads it, for a replay: of the types in $4 only each stream's newest
// event in the batch is wanted (highest stream position, which the stream lock and
// first-write rule of append_events make the last in read order too), and only those come with
// their bodies, most of what a replay would otherwise read, send and parse. The others of those
// types are left out, except the batch's last row, which carries the cursor (marked superseded);
// batch_read counts them all.
const readReplaySql = (also?: string) => `
  SELECT ${HEADER_COLUMNS}, superseded, batch_read,
    CASE WHEN w.type = ANY ($4) AND NOT w.superseded THEN (SELECT e.data FROM exchange_sync.events e WHERE e.global_position = w.global_position) END AS data
  FROM (
    SELECT b.*, count(*) OVER () AS batch_read,
      row_number() OVER (ORDER BY b.transaction_id DESC, b.global_position DESC) = 1 AS is_last,
      b.type = ANY ($4) AND b.stream_position < max(b.stream_position) OVER (PARTITION BY b.stream_id, b.type) AS superseded
    FROM (${batchSql('event_id, type, version, stream_id, stream_position, global_position, transaction_id, recorded_at, metadata', also)}) b
  ) w
  WHERE NOT superseded OR is_last
  ORDER BY transaction_id, global_position`;
const READ_REPLAY = readReplaySql();
// Bounded above, (after, until], for a reader that must stop exactly where another one is; $5, $6: until.
const READ_REPLAY_RANGE = readReplaySql('AND (transaction_id, global_position) <= ($5::xid8, $6::bigint)');

const HAS_UNDECIDED = `
  SELECT EXISTS (
    SELECT 1 FROM exchange_sync.events WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())
  ) AS undecided`;

export class EventStore {
  constructor(
    readonly pool: Pool,
    private readonly catalog: Catalog = productCatalog,
  ) {}

  async append(streamId: string, events: NewEvent[], opts: AppendOptions = {}): Promise<AppendResult> {
    if (events.length === 0) throw new InvalidAppendError('append needs at least one event');
    if (!/^[^\s]+$/.test(streamId)) throw new InvalidAppendError(`invalid stream id "${streamId}"`);
    const prepared = events.map((e) => {
      const version = e.version ?? 1;
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
   * A batch for a replay that needs the bodies of just each stream's newest event of each of
   * `bodiesOf` (a snapshot that a later one replaces): older events of those types are left out
   * of `events`, and events of other types come without a body (`data` undefined). `end` is the
   * cursor after the whole batch, left-out events included; `read` counts them all.
   */
  async readForReplay(
    after: Cursor,
    limit: number,
    opts: { bodiesOf: string[]; until?: Cursor; client?: Queryable },
  ): Promise<{ events: RecordedEvent[]; read: number; end: Cursor | undefined }> {
    const { until } = opts;
    const params = [after.transactionId, after.globalPosition, limit, opts.bodiesOf, ...(until ? [until.transactionId, until.globalPosition] : [])];
    const { rows } = await (opts.client ?? this.pool).query<EventRow & { superseded: boolean; batch_read: string }>(
      until ? READ_REPLAY_RANGE : READ_REPLAY,
      params,
    );
    const last = rows[rows.length - 1];
    return {
      events: rows.filter((r) => !r.superseded).map((r) => toRecorded(r.data === null ? { ...r, data: undefined } : r)),
      read: Number(last?.batch_read ?? 0),
      end: last ? { transactionId: last.transaction_id_text, globalPosition: Number(last.global_position) } : undefined,
    };
  }

  /** True while some transaction that may still add events below the horizon is open. */
  async hasUndecided(client?: Queryable): Promise<boolean> {
    const { rows } = await (client ?? this.pool).query<{ undecided: boolean }>(HAS_UNDECIDED);
    return rows[0]?.undecided ?? false;
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

  /** The stream's last position (0 when it has no events). */
  async streamPosition(streamId: string, client?: Queryable): Promise<number> {
    const { rows } = await (client ?? this.pool).query<{ position: string }>(
      'SELECT coalesce(max(stream_position), 0) AS position FROM exchange_sync.events WHERE stream_id = $1',
      [streamId],
    );
    return Number(rows[0]?.position ?? 0);
  }
}
