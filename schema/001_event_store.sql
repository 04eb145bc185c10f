-- The event log: the one source of truth. Every other table is derived from it and can be rebuilt.

CREATE SCHEMA IF NOT EXISTS exchange_sync;

-- Every stream that has events, written once by its first append, so readers can list the
-- accounts without scanning the log. (A stream's position is max(stream_position), one index probe.)
CREATE TABLE exchange_sync.streams (
  stream_id  text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE exchange_sync.events (
  -- Taken at INSERT, visible at COMMIT: not a safe resume point on its own (see transaction_id).
  global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- '<exchange>:<account>'
  stream_id       text   NOT NULL,
  -- 1, 2, 3, ... per stream, gapless.
  stream_position bigint NOT NULL CHECK (stream_position > 0),
  -- snake_case; it becomes a NATS subject token.
  type            text   NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]*$'),
  version         integer NOT NULL CHECK (version > 0),
  data            jsonb  NOT NULL,
  metadata        jsonb  NOT NULL DEFAULT '{}'::jsonb,
  -- Chosen by the writer, so a retried append is recognized instead of stored twice.
  event_id        uuid   NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  -- The writing transaction. Readers only take rows whose transaction_id is below the oldest
  -- running transaction (pg_snapshot_xmin) and order by (transaction_id, global_position):
  -- everything below that horizon is decided, so nothing can appear behind a reader's cursor.
  transaction_id  xid8   NOT NULL DEFAULT pg_current_xact_id(),
  CONSTRAINT events_event_id_unique UNIQUE (event_id),
  CONSTRAINT events_stream_position_unique UNIQUE (stream_id, stream_position)
);

CREATE INDEX events_transaction_order ON exchange_sync.events (transaction_id, global_position);

-- Append-only, enforced by the database itself (owners and superusers included).
CREATE FUNCTION exchange_sync.refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'exchange_sync.events is append-only: % refused', TG_OP
    USING ERRCODE = 'ESAPP', HINT = 'record a new event instead';
END
$$;

CREATE TRIGGER events_append_only
  BEFORE UPDATE OR DELETE ON exchange_sync.events
  FOR EACH STATEMENT EXECUTE FUNCTION exchange_sync.refuse_event_change();

CREATE TRIGGER events_no_truncate
  BEFORE TRUNCATE ON exchange_sync.events
  FOR EACH STATEMENT EXECUTE FUNCTION exchange_sync.refuse_event_change();

-- Appends events to one stream atomically, in one round trip.
--  * p_expected: the stream's last position the caller saw (0 = empty stream), or NULL for any.
--    A mismatch raises SQLSTATE ES409 (optimistic concurrency).
--  * Idempotent by event id: if these ids are already stored in this stream, the stored rows
--    are returned and nothing is written. Ids stored partly, or in another stream, raise ES422.
--  * Notifies 'exchange_sync_events' (delivered at COMMIT) to wake subscribers.
--  * Must be the first write of its transaction, and one stream per transaction (see below).
CREATE FUNCTION exchange_sync.append_events(
  p_stream   text,
  p_expected bigint,
  p_ids      uuid[],
  p_types    text[],
  p_versions integer[],
  p_data     jsonb[],
  p_metadata jsonb[]
) RETURNS TABLE (event_id uuid, stream_position bigint, global_position bigint, recorded_at timestamptz, duplicate boolean)
LANGUAGE plpgsql
-- A plan cached while the log was nearly empty (a sequential scan) would otherwise be kept as
-- the log grows, making every append slower than the last; plan each call for the table it has.
SET plan_cache_mode = force_custom_plan
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

  SELECT count(*) INTO stored FROM exchange_sync.events e WHERE e.event_id = ANY (p_ids);
  IF stored > 0 THEN
    IF stored < n OR EXISTS (SELECT 1 FROM exchange_sync.events e WHERE e.event_id = ANY (p_ids) AND e.stream_id <> p_stream) THEN
      RAISE EXCEPTION 'append_events: event ids already used by other appends' USING ERRCODE = 'ES422';
    END IF;
    RETURN QUERY
      SELECT e.event_id, e.stream_position, e.global_position, e.recorded_at, true
      FROM exchange_sync.events e WHERE e.event_id = ANY (p_ids) ORDER BY e.stream_position;
    RETURN;
  END IF;

  -- Under the stream lock every earlier append to this stream has committed, and this statement's
  -- snapshot (READ COMMITTED) sees it. Cheaper than keeping a counter row updated on every append.
  SELECT coalesce(max(e.stream_position), 0) INTO previous FROM exchange_sync.events e WHERE e.stream_id = p_stream;
  IF previous = 0 THEN
    INSERT INTO exchange_sync.streams (stream_id) VALUES (p_stream) ON CONFLICT DO NOTHING;
  END IF;

  IF p_expected IS NOT NULL AND previous <> p_expected THEN
    RAISE EXCEPTION 'stream % is at position %, expected %', p_stream, previous, p_expected
      USING ERRCODE = 'ES409';
  END IF;

  RETURN QUERY
    INSERT INTO exchange_sync.events AS e (stream_id, stream_position, type, version, data, metadata, event_id)
    SELECT p_stream, previous + u.ord, u.type, u.version, u.data, u.metadata, u.id
    FROM unnest(p_ids, p_types, p_versions, p_data, p_metadata) WITH ORDINALITY AS u (id, type, version, data, metadata, ord)
    ORDER BY u.ord
    RETURNING e.event_id, e.stream_position, e.global_position, e.recorded_at, false;

  PERFORM pg_notify('exchange_sync_events', p_stream);
END
$$;

-- One row per subscriber (projections, relay): the (transaction_id, global_position) of the last
-- event it handled, written in the same transaction as the handler's own writes.
CREATE TABLE exchange_sync.checkpoints (
  subscriber      text PRIMARY KEY,
  transaction_id  xid8   NOT NULL DEFAULT '0',
  global_position bigint NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
