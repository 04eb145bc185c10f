// The projection tables, and the shadow names a rebuild writes into before swapping them in.

export const PROJECTIONS = ['balances', 'positions', 'sync_runs'] as const;
export type ProjectionName = (typeof PROJECTIONS)[number];

/** Checkpoint name of the live projector (one checkpoint for all three tables). */
export const PROJECTOR_SUBSCRIBER = 'projections';

export type Tables = Record<ProjectionName, string>;

export const LIVE: Tables = {
  balances: 'exchange_sync.balances',
  positions: 'exchange_sync.positions',
  sync_runs: 'exchange_sync.sync_runs',
};

export function shadowName(name: ProjectionName): string {
  return `${name}_rebuild`;
}
