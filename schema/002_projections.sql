-- Read models projected from the event log by the 'projections' subscriber. They hold nothing
-- the log does not: `exchange-sync rebuild` throws them away and replays them, identical.

-- What each account holds now, as of its newest snapshot. An asset missing from the newest
-- snapshot is not here: the table says what the account holds, not what it once held.
CREATE TABLE exchange_sync.balances (
  exchange       text    NOT NULL,
  account        text    NOT NULL,
  asset          text    NOT NULL,
  free           numeric,
  used           numeric,
  total          numeric NOT NULL,
  -- Last price in `quote`, where the exchange lists a market for it; NULL otherwise.
  price          numeric,
  quote          text    NOT NULL,
  -- total x price, NULL when the price is unknown (never a guessed 0).
  value          numeric,
  -- When this holding was last observed: the fetch time of the newest snapshot that had it.
  as_of          timestamptz NOT NULL,
  -- Global position of the event this row was last changed by.
  event_position bigint  NOT NULL,
  PRIMARY KEY (exchange, account, asset)
);

-- Open derivatives positions as of each account's newest snapshot.
CREATE TABLE exchange_sync.positions (
  exchange          text    NOT NULL,
  account           text    NOT NULL,
  symbol            text    NOT NULL,
  side              text    NOT NULL CHECK (side IN ('long', 'short')),
  contracts         numeric NOT NULL,
  contract_size     numeric,
  entry_price       numeric,
  mark_price        numeric,
  liquidation_price numeric,
  notional          numeric,
  unrealized_pnl    numeric,
  leverage          numeric,
  margin_mode       text CHECK (margin_mode IN ('cross', 'isolated')),
  as_of             timestamptz NOT NULL,
  event_position    bigint  NOT NULL,
  PRIMARY KEY (exchange, account, symbol, side)
);

-- One row per sync attempt, ok or failed: the audit trail the old module did not keep.
CREATE TABLE exchange_sync.sync_runs (
  sync_id        uuid PRIMARY KEY,
  exchange       text    NOT NULL,
  account        text    NOT NULL,
  trigger        text    NOT NULL,
  started_at     timestamptz NOT NULL,
  finished_at    timestamptz NOT NULL,
  status         text    NOT NULL CHECK (status IN ('ok', 'failed')),
  -- ok: whether the snapshot differed from the one before.
  changed        boolean,
  error_class    text,
  error_message  text,
  retryable      boolean,
  attempts       integer NOT NULL,
  balances       integer,
  positions      integer,
  fetch_ms       integer,
  event_position bigint  NOT NULL
);

CREATE INDEX sync_runs_exchange_account_started_at_idx ON exchange_sync.sync_runs (exchange, account, started_at DESC);

-- `balances --at`: a stream's newest full snapshot before a moment, without walking back over
-- every unchanged-snapshot event in between. Partial, so other appends do not pay for it.
CREATE INDEX events_stream_snapshots ON exchange_sync.events (stream_id, stream_position)
  WHERE type = 'snapshot_recorded';
