// The read models: the registry, the live projector, rebuild, and queries now and as of a moment.
import type { Queryable } from '../events/db.js';
import type { AccountFilter } from '../events/streams.js';
import type { Projection } from './projection.js';
import { liveTables } from './tables.js';

export { PROJECTIONS, PROJECTION_NAMES } from './registry.js';
export { defineProjection, type Projection, type ProjectionDefinition, type Replay, type Tables } from './projection.js';
export { createProjector, catchUpProjections, Projector, type ProjectorOptions } from './projector.js';
export { rebuild, UnknownProjectionError, type RebuildProgress, type RebuildOptions, type RebuildResult } from './rebuild.js';
export { projectionAt } from './as-of.js';
export { liveTables, shadowTables } from './tables.js';
export { balances, type BalanceRow } from './balances.js';
export { positions, type PositionRow } from './positions.js';
export { syncRuns, lastSyncs, type SyncRunRow } from './sync-runs.js';

/** A projection's rows now, from its live tables (catch it up first to include the newest events). */
export function projectionNow<R>(db: Queryable, p: Projection<R>, filter: AccountFilter = {}): Promise<R[]> {
  return p.read(db, liveTables(p), filter);
}
