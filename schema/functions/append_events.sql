-- The current body of exchange_sync.append_events(): edit it here, and `migrate` re-applies it.
-- 001 created it and 004 rewrote it; those files stay as they were applied (history, checksummed).
-- A changed argument list or result columns cannot be done by CREATE OR REPLACE: DROP the old
-- one in a numbered migration, which `migrate` runs before this file.
--
-- Appends events to one stream atomically, in one round trip.
--  * p_expected: the stream's last position the caller saw (0 = empty stream), or NULL for any.
--    A mismatch raises SQLSTATE ES409 (optimistic concurrency).
--  * Idempotent by event id: if these ids are already stored in this stream, the stored rows are
--    returned (duplicate = true) and nothing is written, even when p_expected has gone stale
--    since. Ids stored partly, in another stream, or repeated within one call raise ES422.
--  * Notifies 'exchange_sync_events' (delivered at COMMIT) to wake subscribers.
--  * Must be the first write of its transaction, and one stream per transaction (see the lock).
-- Idempotency comes from the insert itself (ON CONFLICT on the id's unique index), not a look-up
-- before every insert: the look-up runs only when nothing was written (`npm run bench -- --only
-- append`). Plans may be cached: every statement has an index to use, and enable_seqscan = off
-- keeps a plan made while the log was nearly empty from being a sequential scan that stays as
-- the log grows.
CREATE OR REPLACE FUNCTION exchange_sync.append_events(
  p_stream   text,
  p_expected bigint,
  p_ids      uuid[],
  p_types    text[],
  p_versions integer[],
  p_data     jsonb[],
  p_metadata jsonb[]
) RETURNS TABLE (event_id uuid, stream_position bigint, global_position bigint, recorded_at timestamptz, duplicate boolean)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
  n        integer := cardinality(p_ids);
  stored   integer;
  previous bigint;
BEGIN
  IF n IS NULL OR n = 0 THEN
    RAISE EXCEPTION 'append_events: no events' USING ERRCODE = 'ES422';
  END IF;
  IF cardinality(p_types) <> n OR cardinality(p_versions) <> n OR cardinality(p_data) <> n OR cardinality(p_metadata) <> n THEN
    RAISE EXCEPTION 'append_events: argument arrays differ in length' USING ERRCODE = 'ES422';
  END IF;

  -- Readers order by (transaction_id, global_position), so the transaction that appends to a
  -- stream later must also hold the larger transaction id. A transaction id is assigned at a
  -- transaction's first write; taking the stream's lock before any write (an advisory lock
  -- assigns none) makes the waiter's id larger than the holder's. Row locks would not do: a
  -- waiter on a row lock already holds its id.
  IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
    RAISE EXCEPTION 'append_events must be the first write of its transaction (per-stream read order depends on it)'
      USING ERRCODE = 'ES422';
  END IF;
  PERFORM pg_advisory_xact_lock(1163086674, hashtext(p_stream));  -- 1163086674 = 'ESLG': the log's lock space

  -- Under the stream lock every earlier append to this stream has committed, and this statement's
  -- snapshot (READ COMMITTED) sees it.
  SELECT coalesce(max(e.stream_position), 0) INTO previous FROM exchange_sync.events e WHERE e.stream_id = p_stream;

  IF p_expected IS NULL OR previous = p_expected THEN
    IF previous = 0 THEN
      INSERT INTO exchange_sync.streams (stream_id) VALUES (p_stream) ON CONFLICT DO NOTHING;
    END IF;
    RETURN QUERY
      INSERT INTO exchange_sync.events AS e (stream_id, stream_position, type, version, data, metadata, event_id)
      SELECT p_stream, previous + u.ord, u.type, u.version, u.data, u.metadata, u.id
      FROM unnest(p_ids, p_types, p_versions, p_data, p_metadata) WITH ORDINALITY AS u (id, type, version, data, metadata, ord)
      ORDER BY u.ord
      ON CONFLICT ON CONSTRAINT events_event_id_unique DO NOTHING
      RETURNING e.event_id, e.stream_position, e.global_position, e.recorded_at, false;
    GET DIAGNOSTICS stored = ROW_COUNT;
    IF stored = n THEN
      PERFORM pg_notify('exchange_sync_events', p_stream);
      RETURN;
    END IF;
    IF stored > 0 THEN  -- the exception undoes the part that was written
      RAISE EXCEPTION 'append_events: event ids repeated, or already used by other appends' USING ERRCODE = 'ES422';
    END IF;
  END IF;

  -- Nothing written: a retry of an append that went through (answered with the stored rows, even
  -- when its expected position has gone stale since), or a stale expected position.
  SELECT count(*) INTO stored FROM exchange_sync.events e WHERE e.event_id = ANY (p_ids);
  IF stored = 0 THEN
    RAISE EXCEPTION 'stream % is at position %, expected %', p_stream, previous, p_expected
      USING ERRCODE = 'ES409';
  END IF;
  IF stored < n OR EXISTS (SELECT 1 FROM exchange_sync.events e WHERE e.event_id = ANY (p_ids) AND e.stream_id <> p_stream) THEN
    RAISE EXCEPTION 'append_events: event ids repeated, or already used by other appends' USING ERRCODE = 'ES422';
  END IF;
  RETURN QUERY
    SELECT e.event_id, e.stream_position, e.global_position, e.recorded_at, true
    FROM exchange_sync.events e WHERE e.event_id = ANY (p_ids) ORDER BY e.stream_position;
END
$$;
