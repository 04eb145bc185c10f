// The read models: the registry, the live projector, rebuild, and queries now and as of a moment.
import type { Queryable } from '../events/db.js';
import { subscriberLags, worstLag, type SubscriberLag } from '../events/lag.js';
import type { AccountFilter } from '../events/streams.js';
import type { Projection } from './projection.js';
import { PROJECTIONS } from './registry.js';
import { liveTables } from './tables.js';

export { PROJECTIONS, PROJECTION_NAMES } from './registry.js';
export { defineProjection, type Projection, type ProjectionDefinition, type Replay, type Tables } from './projection.js';
export { createProjector, catchUpProjections, Projector, type ProjectorOptions } from './projector.js';
export { rebuild, UnknownProjectionError, type RebuildProgress, type RebuildOptions, type RebuildResult } from './rebuild.js';
export { projectionAt } from './as-of.js';
export { liveTables, shadowTables } from './tables.js';
export { trades, singleFee, type TradeRow } from './trades.js';
export { transfers, type TransferRow } from './transfers.js';
export { balances, totalsByAsset, type AssetTotalRow, type BalanceRow } from './balances.js';
export { positions, type PositionRow } from './positions.js';
export { holdings, readHoldings, type HoldingRow } from './holdings.js';
export { syncRuns, lastSyncs, type SyncRunRow } from './sync-runs.js';

/** A projection's rows now, from its live tables (catch it up first to include the newest events). */
export function projectionNow<R>(db: Queryable, p: Projection<R>, filter: AccountFilter = {}): Promise<R[]> {
  return p.read(db, liveTables(p), filter);
}

/** Each projection's lag, by name, and the lag of the one furthest behind: one query for all. */
export async function projectionLags(
  db: Queryable,
  projections: readonly Pick<Projection, 'name' | 'checkpoint'>[] = PROJECTIONS,
): Promise<{ worst: SubscriberLag; byName: Record<string, SubscriberLag> }> {
  const lags = await subscriberLags(db, projections.map((p) => p.checkpoint));
  const byName = Object.fromEntries(projections.map((p) => [p.name, lags.get(p.checkpoint) ?? { events: 0, seconds: 0 }]));
  return { worst: worstLag(Object.values(byName)), byName };
}
