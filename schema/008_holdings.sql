-- Cost basis and PnL (projection `holdings`, src/projections/holdings.ts; rules in
-- docs/cost-basis.md). `holdings` is what users read; the other three tables are the projection's
-- working state, kept so a fill recorded late (a backfill) can be folded in at its own time.

CREATE TABLE exchange_sync.holdings (
  exchange              text    NOT NULL,
  account               text    NOT NULL,
  -- Both methods are kept; EXCHANGE_SYNC_COST_BASIS says which one the portfolio shows.
  method                text    NOT NULL CHECK (method IN ('average', 'fifo')),
  -- An asset code (BTC), or for kind 'position' a derivatives symbol (BTC/USDT:USDT).
  asset                 text    NOT NULL,
  kind                  text    NOT NULL CHECK (kind IN ('asset', 'position')),
  quote                 text    NOT NULL,
  quantity              numeric NOT NULL,
  cost_basis            numeric,
  entry_price           numeric,
  current_price         numeric,
  value                 numeric,
  pnl                   numeric,
  pnl_percentage        numeric,
  realized_pnl          numeric NOT NULL,
  -- Units in opening lots (held or deposited with no history of their cost), or still unpriced.
  unknown_cost_quantity numeric NOT NULL,
  -- Net quantity snapshots added or removed that fills and transfers do not explain.
  drift                 numeric NOT NULL,
  -- A fill of this asset was valued through another currency's recorded price (ETH/BTC).
  conversion            boolean NOT NULL,
  -- Fees in a currency with no recorded price, kept apart: {"BNB": "0.01"}.
  unvalued_fees         jsonb   NOT NULL,
  as_of                 timestamptz,
  PRIMARY KEY (exchange, account, method, asset)
);

-- Per account: the ledger after its newest fact, so the next sync folds only what is new. JSON
-- as text: written and read whole by the projection only, never queried inside (jsonb would be
-- parsed on every write).
CREATE TABLE exchange_sync.holdings_state (
  exchange text  NOT NULL,
  account  text  NOT NULL,
  state    text  NOT NULL,
  PRIMARY KEY (exchange, account)
);

-- Per account, the events folded into it (by global position): when a fact arrives older than
-- the account's newest one, the account is folded again from these, read back from the log.
CREATE TABLE exchange_sync.holdings_events (
  exchange        text   NOT NULL,
  account         text   NOT NULL,
  global_position bigint NOT NULL,
  PRIMARY KEY (exchange, account, global_position)
);

-- Withdrawals and deposits with a txid, so a deposit carries the cost of the withdrawal (from
-- another account) it came from.
CREATE TABLE exchange_sync.holdings_links (
  currency     text    NOT NULL,
  txid         text    NOT NULL,
  direction    text    NOT NULL CHECK (direction IN ('withdrawal', 'deposit')),
  exchange     text    NOT NULL,
  account      text    NOT NULL,
  -- The withdrawing account's quote, the currency of its cost.
  quote        text,
  quantity     numeric,
  cost_average numeric,
  cost_fifo    numeric,
  PRIMARY KEY (currency, txid, direction, exchange, account)
);
CREATE INDEX holdings_links_account_idx ON exchange_sync.holdings_links (exchange, account);
