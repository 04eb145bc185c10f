// How far a checkpointed subscriber (relay, projector) is behind the log, for metrics and status.
import type { Queryable } from './db.js';

export interface SubscriberLag {
  /** Committed events after the subscriber's checkpoint. */
  events: number;
  /** Age of the oldest of them (0 when none): how stale the subscriber's view is. */
  seconds: number;
}

// Same horizon and order as the subscription's own read, so "0 behind" means the subscriber
// has everything it could have read. A subscriber without a checkpoint row is at the start.
const LAGS = `
  WITH cp AS (
    SELECT n.subscriber, coalesce(c.transaction_id, '0'::xid8) AS transaction_id, coalesce(c.global_position, 0) AS global_position
    FROM unnest($1::text[]) AS n (subscriber) LEFT JOIN exchange_sync.checkpoints c USING (subscriber)
  )
  SELECT cp.subscriber, count(e.global_position)::bigint AS events,
         coalesce(extract(epoch FROM clock_timestamp() - min(e.recorded_at)), 0)::float8 AS seconds
  FROM cp LEFT JOIN exchange_sync.events e
    ON (e.transaction_id, e.global_position) > (cp.transaction_id, cp.global_position)
   AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  GROUP BY cp.subscriber`;

/** The lag of each subscriber, in one query. */
export async function subscriberLags(db: Queryable, subscribers: readonly string[]): Promise<Map<string, SubscriberLag>> {
  const { rows } = await db.query<{ subscriber: string; events: string; seconds: number }>(LAGS, [subscribers]);
  return new Map(rows.map((r) => [r.subscriber, { events: Number(r.events), seconds: Math.max(0, r.seconds) }]));
}

export async function subscriberLag(db: Queryable, subscriber: string): Promise<SubscriberLag> {
  return (await subscriberLags(db, [subscriber])).get(subscriber) ?? { events: 0, seconds: 0 };
}

/** The lag of the subscriber furthest behind (oldest unread event, then most events). */
export function worstLag(lags: Iterable<SubscriberLag>): SubscriberLag {
  let worst: SubscriberLag = { events: 0, seconds: 0 };
  for (const l of lags) if (l.seconds > worst.seconds || (l.seconds === worst.seconds && l.events > worst.events)) worst = l;
  return worst;
}

/**
 * Committed events that no subscriber can read yet, because a write transaction with an older
 * transaction id is still open. The horizon is the whole server's (pg_snapshot_xmin is
 * cluster-wide), so a long write transaction in any database on it holds these back; subscriber
 * lag does not count them.
 */
export interface HeldBack {
  events: number;
  /** Time since the oldest of them was recorded (its appending transaction's start); 0 when none. */
  seconds: number;
}

const HELD_BACK = `
  SELECT count(*)::bigint AS events,
         coalesce(extract(epoch FROM clock_timestamp() - min(recorded_at)), 0)::float8 AS seconds
  FROM exchange_sync.events
  WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())`;

export async function heldBack(db: Queryable): Promise<HeldBack> {
  const { rows } = await db.query<{ events: string; seconds: number }>(HELD_BACK);
  const row = rows[0];
  return { events: Number(row?.events ?? 0), seconds: Math.max(0, row?.seconds ?? 0) };
}
