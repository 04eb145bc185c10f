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
const LAG = `
  WITH cp AS (
    SELECT coalesce((SELECT transaction_id FROM exchange_sync.checkpoints WHERE subscriber = $1), '0'::xid8) AS transaction_id,
           coalesce((SELECT global_position FROM exchange_sync.checkpoints WHERE subscriber = $1), 0) AS global_position
  )
  SELECT count(*)::bigint AS events,
         coalesce(extract(epoch FROM clock_timestamp() - min(e.recorded_at)), 0)::float8 AS seconds
  FROM exchange_sync.events e, cp
  WHERE (e.transaction_id, e.global_position) > (cp.transaction_id, cp.global_position)
    AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())`;

export async function subscriberLag(db: Queryable, subscriber: string): Promise<SubscriberLag> {
  const { rows } = await db.query<{ events: string; seconds: number }>(LAG, [subscriber]);
  const row = rows[0];
  return { events: Number(row?.events ?? 0), seconds: Math.max(0, row?.seconds ?? 0) };
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
