-- Fills, deposits and withdrawals (projections `trades` and `transfers`, src/projections/), and
-- what sync_runs says about each sync's history fetch (sync_completed v2).

CREATE TABLE exchange_sync.trades (
  exchange        text    NOT NULL,
  account         text    NOT NULL,
  -- The exchange's trade id; unique per symbol (binance numbers fills per symbol).
  trade_id        text    NOT NULL,
  order_id        text,
  symbol          text    NOT NULL,
  market_type     text    NOT NULL CHECK (market_type IN ('spot', 'margin', 'swap', 'future', 'option')),
  side            text    NOT NULL CHECK (side IN ('buy', 'sell')),
  amount          numeric NOT NULL,
  price           numeric NOT NULL,
  cost            numeric NOT NULL,
  -- The fee when it is in one currency (the usual case); NULL for none, or for a fee in several
  -- currencies, which `fees` lists whole.
  fee_currency    text,
  fee_cost        numeric,
  fees            jsonb   NOT NULL,
  taker_or_maker  text,
  realized_pnl    numeric,
  traded_at       timestamptz NOT NULL,
  -- The trades_recorded event the fill came in.
  global_position bigint  NOT NULL,
  PRIMARY KEY (exchange, account, symbol, trade_id)
);
CREATE INDEX trades_account_traded_at_idx ON exchange_sync.trades (exchange, account, traded_at);

CREATE TABLE exchange_sync.transfers (
  exchange        text    NOT NULL,
  account         text    NOT NULL,
  transfer_id     text    NOT NULL,
  type            text    NOT NULL CHECK (type IN ('deposit', 'withdrawal')),
  currency        text    NOT NULL,
  amount          numeric NOT NULL,
  fee             numeric,
  fee_currency    text,
  -- The newest recorded status: a change is recorded as an event of its own and updates the row.
  status          text    NOT NULL CHECK (status IN ('pending', 'ok', 'failed', 'canceled')),
  network         text,
  txid            text,
  occurred_at     timestamptz NOT NULL,
  global_position bigint  NOT NULL,
  PRIMARY KEY (exchange, account, type, transfer_id)
);
CREATE INDEX transfers_account_occurred_at_idx ON exchange_sync.transfers (exchange, account, occurred_at);

ALTER TABLE exchange_sync.sync_runs
  ADD COLUMN new_trades integer,
  ADD COLUMN new_transfers integer,
  ADD COLUMN history_error_class text,
  ADD COLUMN history_error text;

-- A sync reads the newest coverage of its account's history (its last trades_recorded and
-- transfers_recorded) without walking back over every snapshot event in between.
CREATE INDEX events_stream_history ON exchange_sync.events (stream_id, type, stream_position)
  WHERE type IN ('trades_recorded', 'transfers_recorded');
