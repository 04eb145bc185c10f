-- The fleet's schedule (src/schedule/): one row per account, shared by every daemon on this
-- database. A daemon claims due rows with FOR UPDATE SKIP LOCKED, holds a lease while it syncs,
-- and records the sync and the row's next due time in one transaction that checks its fencing
-- token; a daemon whose lease was taken over records nothing. See README "Running several daemons".

CREATE TABLE exchange_sync.schedule (
  exchange      text        NOT NULL,
  account       text        NOT NULL,
  -- The tick it is due for: on the account's own grid (offset + k x interval), never drifting.
  tick_at       timestamptz NOT NULL,
  -- When it may next be claimed: its tick, or while a daemon holds it, the end of that lease (so
  -- a lease that runs out makes the row due again, and claims read one index range).
  due_at        timestamptz NOT NULL,
  interval_ms   bigint      NOT NULL CHECK (interval_ms > 0),
  -- Where on the interval the account's ticks fall, from its identity: an even spread.
  offset_ms     bigint      NOT NULL CHECK (offset_ms >= 0),
  -- The daemon syncing it now, until lease_until; NULL when nobody is.
  owner         text,
  lease_until   timestamptz,
  -- Raised by every claim: a sync may record only with the token its claim got.
  fence         bigint      NOT NULL DEFAULT 0,
  -- Backoff, so it survives restarts and moves with the account.
  failures      integer     NOT NULL DEFAULT 0,
  last_error_class text,
  last_synced_at timestamptz,
  PRIMARY KEY (exchange, account)
);
-- The claim: due rows in due order.
CREATE INDEX schedule_due_idx ON exchange_sync.schedule (due_at);
CREATE INDEX schedule_owner_idx ON exchange_sync.schedule (owner) WHERE owner IS NOT NULL;

-- Which daemon has credentials for which account (its account file): a daemon claims only
-- accounts it registered, and an account with no live registration is not served.
CREATE TABLE exchange_sync.schedule_registrations (
  daemon   text NOT NULL,
  exchange text NOT NULL,
  account  text NOT NULL,
  PRIMARY KEY (exchange, account, daemon)
);
CREATE INDEX schedule_registrations_daemon_idx ON exchange_sync.schedule_registrations (daemon);

-- The daemons of the fleet: a heartbeat each, and what each holds (for status and metrics).
CREATE TABLE exchange_sync.daemons (
  daemon       text        PRIMARY KEY,
  host         text        NOT NULL,
  pid          integer     NOT NULL,
  started_at   timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL,
  -- A registration counts while its daemon's heartbeat is younger than this.
  ttl_ms       bigint      NOT NULL,
  scheduling   boolean     NOT NULL,
  leases       integer     NOT NULL DEFAULT 0,
  in_flight    integer     NOT NULL DEFAULT 0
);
