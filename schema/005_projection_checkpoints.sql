-- Each projection has its own checkpoint ('projection:<name>') instead of one shared
-- 'projections' row, so a projection added later catches up from the start on its own while the
-- others go on. The tables are already projected up to the shared checkpoint: each projection
-- starts from there, not from the beginning (which would insert every sync_runs row twice).
INSERT INTO exchange_sync.checkpoints (subscriber, transaction_id, global_position, updated_at)
SELECT 'projection:' || n.name, c.transaction_id, c.global_position, c.updated_at
FROM exchange_sync.checkpoints c, unnest(ARRAY['balances', 'positions', 'sync_runs']) AS n (name)
WHERE c.subscriber = 'projections'
ON CONFLICT (subscriber) DO NOTHING;

DELETE FROM exchange_sync.checkpoints WHERE subscriber = 'projections';

-- sync_runs rows are made by the sync_runs projection module now (src/projections/sync-runs.ts),
-- the one place that maps sync events to rows, live, in a rebuild and as of a moment.
DROP FUNCTION exchange_sync.sync_run_rows(bigint[]);
