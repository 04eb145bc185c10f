// The names of a projection's tables: live, the shadow copies a rebuild fills before swapping them
// in, and the temporary copies an --at answer is projected into.
import type { Projection, Tables } from './projection.js';

export const SCHEMA = 'exchange_sync';

function named(p: Pick<Projection, 'tables'>, name: (table: string) => string): Tables {
  return Object.fromEntries(p.tables.map((t) => [t, name(t)]));
}

export const shadowName = (table: string) => `${table}_rebuild`;

export const liveTables = (p: Pick<Projection, 'tables'>) => named(p, (t) => `${SCHEMA}.${t}`);
export const shadowTables = (p: Pick<Projection, 'tables'>) => named(p, (t) => `${SCHEMA}.${shadowName(t)}`);
export const asOfTables = (p: Pick<Projection, 'tables'>) => named(p, (t) => `pg_temp.${t}_at`);
