// Every read model the daemon keeps. The live projector, `rebuild`, `rebuild --projection`, lag in
// status and metrics, and the tests take the list from here; adding a projection is adding it here.
import { balances } from './balances.js';
import { holdings } from './holdings.js';
import { positions } from './positions.js';
import type { Projection } from './projection.js';
import { syncRuns } from './sync-runs.js';
import { trades } from './trades.js';
import { transfers } from './transfers.js';

export const PROJECTIONS: readonly Projection[] = [balances, positions, syncRuns, trades, transfers, holdings];

export const PROJECTION_NAMES = PROJECTIONS.map((p) => p.name);

