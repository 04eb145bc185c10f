-- The current body of exchange_sync.refuse_event_change(): edit it here, and `migrate` re-applies
-- it (001 created it; the triggers that call it stay in 001, and keep calling whatever body is here).
-- The log is append-only, enforced by the database itself (owners and superusers included), so no
-- bug or hand-typed statement can rewrite what happened: a correction is a new event.
CREATE OR REPLACE FUNCTION exchange_sync.refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'exchange_sync.events is append-only: % refused', TG_OP
    USING ERRCODE = 'ESAPP', HINT = 'record a new event instead';
END
$$;
