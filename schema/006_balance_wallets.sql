-- Balances are held per wallet from snapshot_recorded v2 on (spot, unified, funding, futures, ...;
-- see Wallet in src/events/catalog.ts), so the wallet is part of a balance's key.
--
-- The rows here came from v1 snapshots, each of which read a single wallet. They are labelled by
-- the rule the v1 upcaster uses (v1Wallet in src/events/catalog.ts): bybit's unified account,
-- binance's spot wallet, ccxt's default balance elsewhere. So the rows stay what a rebuild from the
-- log would make, and nothing needs replaying.
ALTER TABLE exchange_sync.balances ADD COLUMN wallet text;
UPDATE exchange_sync.balances SET wallet = CASE exchange WHEN 'bybit' THEN 'unified' WHEN 'binance' THEN 'spot' ELSE 'default' END;
ALTER TABLE exchange_sync.balances ALTER COLUMN wallet SET NOT NULL;

-- A rebuild swaps in tables made with LIKE ... INCLUDING ALL, whose constraints carry generated
-- names, so the constraints are found by what they are rather than by name.
DO $$
DECLARE
  c text;
BEGIN
  SELECT conname INTO c FROM pg_constraint WHERE conrelid = 'exchange_sync.balances'::regclass AND contype = 'p';
  EXECUTE format('ALTER TABLE exchange_sync.balances DROP CONSTRAINT %I', c);
  FOR c IN
    SELECT conname FROM pg_constraint
    WHERE conrelid = 'exchange_sync.positions'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%margin_mode%'
  LOOP
    EXECUTE format('ALTER TABLE exchange_sync.positions DROP CONSTRAINT %I', c);
  END LOOP;
END
$$;

ALTER TABLE exchange_sync.balances ADD PRIMARY KEY (exchange, account, wallet, asset);

-- v2 positions may say `portfolio`: the account's margin mode where the exchange margins the
-- whole portfolio at once (bybit unified accounts in portfolio margin mode).
ALTER TABLE exchange_sync.positions ADD CONSTRAINT positions_margin_mode_check
  CHECK (margin_mode IN ('cross', 'isolated', 'portfolio'));
