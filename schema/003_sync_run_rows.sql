-- sync_runs rows, made from the log rows where they lie: the projector and a rebuild insert
-- `SELECT * FROM exchange_sync.sync_run_rows(positions)`, so the event bodies never travel to the
-- daemon and back (it halved a rebuild's time). One mapping for both, and this is it.
-- Field names are those of sync_completed / sync_failed v1 (src/events/catalog.ts). The columns are
-- sync_runs' own, in its order; spelled out rather than `SETOF sync_runs`, which would stop a
-- rebuild from dropping the table it replaces.
CREATE FUNCTION exchange_sync.sync_run_rows(p_positions bigint[]) RETURNS TABLE (
  sync_id uuid, exchange text, account text, trigger text, started_at timestamptz, finished_at timestamptz,
  status text, changed boolean, error_class text, error_message text, retryable boolean, attempts integer,
  balances integer, positions integer, fetch_ms integer, event_position bigint
)
LANGUAGE sql STABLE AS $$
  SELECT
    (e.data ->> 'syncId')::uuid,
    split_part(e.stream_id, ':', 1),                        -- stream '<exchange>:<account>'
    substr(e.stream_id, strpos(e.stream_id, ':') + 1),
    e.data ->> 'trigger',
    (e.data ->> 'startedAt')::timestamptz,
    (e.data ->> 'finishedAt')::timestamptz,
    CASE e.type WHEN 'sync_completed' THEN 'ok' ELSE 'failed' END,
    (e.data ->> 'changed')::boolean,
    e.data ->> 'errorClass',
    e.data ->> 'message',
    (e.data ->> 'retryable')::boolean,
    coalesce((e.data ->> 'attempts')::integer, (e.data ->> 'attempt')::integer),
    (e.data ->> 'balances')::integer,
    (e.data ->> 'positions')::integer,
    (e.data ->> 'fetchMs')::integer,
    e.global_position
  FROM exchange_sync.events e
  WHERE e.global_position = ANY (p_positions)
    AND e.type IN ('sync_completed', 'sync_failed')
    AND strpos(e.stream_id, ':') > 1                        -- syncs are recorded in account streams only
  ORDER BY e.global_position
$$;
