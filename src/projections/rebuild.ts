// Rebuild: replay the log into fresh shadow tables, batch by batch (short transactions, so the
// live subscribers' read horizon is never held back), then swap them in, in one transaction that
// holds every projection's checkpoint lock: events that land meanwhile end up in the new tables,
// and the projections not rebuilt are brought to the same point of the log, so all the tables
// agree with each other afterwards.
import type { Logger } from 'pino';
import { lockCheckpoint, saveCheckpoint } from '../events/checkpoints.js';
import { compareCursors, START, type Cursor } from '../events/cursor.js';
import { withTransaction, type PoolClient } from '../events/db.js';
import type { EventStore } from '../events/store.js';
import type { Projection, Tables } from './projection.js';
import { catchUpProjections } from './projector.js';
import { PROJECTIONS } from './registry.js';
import { liveTables, SCHEMA, shadowName, shadowTables } from './tables.js';

export interface RebuildProgress {
  done: number;
  /** Events in the log when the rebuild started (more may arrive). */
  total: number;
}

export interface RebuildOptions {
  /** Names of the projections to rebuild; default all. */
  projections?: readonly string[];
  /** Where the names are looked up, and which projections are kept at the same point; default the product's. */
  registry?: readonly Projection[];
  batchSize?: number;
  onProgress?: (p: RebuildProgress) => void;
  logger?: Logger;
}

export interface RebuildResult {
  events: number;
  ms: number;
  projections: string[];
}

export class UnknownProjectionError extends Error {
  override name = 'UnknownProjectionError';
}

type Target = { projection: Projection; tables: Tables };

async function applyBatch(tx: PoolClient, targets: Target[], events: Parameters<Projection['apply']>[1], replay = false): Promise<void> {
  for (const t of targets) await t.projection.apply(tx, events, t.tables, { replay });
}

/** Replays (from, until] (or to the end) into the targets; one read serves them all. `asReplay`: the shadow tables, finished afterwards. */
async function replay(store: EventStore, tx: PoolClient, from: Cursor, targets: Target[], batchSize: number, until?: Cursor, asReplay = false) {
  let cursor = from;
  let count = 0;
  const select = targets.map((t) => t.projection.selector);
  for (;;) {
    const batch = await store.readSelected(cursor, batchSize, { select, client: tx, ...(until ? { until } : {}) });
    if (!batch.end) return { cursor, count };
    await applyBatch(tx, targets, batch.events, asReplay);
    cursor = batch.end;
    count += batch.read;
  }
}

async function renameIndexes(tx: PoolClient, table: string): Promise<void> {
  const shadow = shadowName(table);
  const { rows } = await tx.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2`, [SCHEMA, table]);
  for (const { indexname } of rows) {
    if (indexname.startsWith(shadow)) await tx.query(`ALTER INDEX ${SCHEMA}."${indexname}" RENAME TO "${table}${indexname.slice(shadow.length)}"`);
  }
}

export async function rebuild(store: EventStore, opts: RebuildOptions = {}): Promise<RebuildResult> {
  const started = performance.now();
  const registry = opts.registry ?? PROJECTIONS;
  const names = opts.projections ?? registry.map((p) => p.name);
  const unknown = names.filter((n) => !registry.some((p) => p.name === n));
  if (unknown.length) throw new UnknownProjectionError(`unknown projection ${unknown.join(', ')}; known: ${registry.map((p) => p.name).join(', ')}`);
  const selected = registry.filter((p) => names.includes(p.name));
  const others = registry.filter((p) => !names.includes(p.name));
  const batchSize = opts.batchSize ?? 10000;
  const pool = store.pool;
  const targets: Target[] = selected.map((projection) => ({ projection, tables: shadowTables(projection) }));

  const total = await withTransaction(pool, async (tx) => {
    await tx.query('SET LOCAL synchronous_commit = off');
    for (const table of selected.flatMap((p) => p.tables)) {
      // A crashed earlier rebuild may have left its shadow table behind.
      await tx.query(`DROP TABLE IF EXISTS ${SCHEMA}.${shadowName(table)}`);
      await tx.query(`CREATE TABLE ${SCHEMA}.${shadowName(table)} (LIKE ${SCHEMA}.${table} INCLUDING ALL)`);
    }
    return store.countEvents(tx);
  });

  let cursor = START;
  let done = 0;
  const select = targets.map((t) => t.projection.selector);
  // The next batch is read while this one is applied: PostgreSQL reading and Node folding overlap.
  const read = (after: Cursor) => store.readSelected(after, batchSize, { select });
  let next: ReturnType<typeof read> | undefined = read(cursor);
  while (next) {
    const batch: Awaited<ReturnType<typeof read>> = await next;
    if (!batch.end) break;
    cursor = batch.end;
    next = batch.read < batchSize ? undefined : read(cursor);
    // A failed apply must not leave the prefetch's rejection unhandled.
    next?.catch(() => {});
    await withTransaction(pool, async (tx) => {
      // Only shadow tables change here: a crash loses them whatever the commit waited for.
      await tx.query('SET LOCAL synchronous_commit = off');
      await applyBatch(tx, targets, batch.events, true);
    });
    done += batch.read;
    opts.onProgress?.({ done, total });
  }

  // The projections not rebuilt are caught up first in their own short passes: the swap below
  // holds every checkpoint lock, so it should only have the last few events left to apply (a
  // projection added a moment ago would otherwise replay the whole log under those locks).
  if (others.length) await catchUpProjections(store, opts.logger, { projections: others });

  const swapped = await withTransaction(pool, async (tx) => {
    // Every checkpoint, in registry order (two rebuilds then never deadlock): the live projectors
    // wait until the swap is committed.
    const checkpoints = new Map<string, Cursor>();
    for (const p of registry) checkpoints.set(p.name, await lockCheckpoint(tx, p.checkpoint));
    // With the live projectors held, bring the shadow tables to the end of the log...
    const tail = await replay(store, tx, cursor, targets, batchSize, undefined, true);
    for (const t of targets) await t.projection.finish(tx, t.tables);
    const end = tail.cursor;
    for (const p of selected) {
      if (compareCursors(checkpoints.get(p.name)!, end) > 0) throw new Error(`live projection ${p.name} is ahead of the log end seen by the rebuild; retry the rebuild`);
    }
    // ...and the projections not being replaced to the very same point.
    for (const p of others) {
      const at = checkpoints.get(p.name)!;
      if (compareCursors(at, end) >= 0) continue;
      await replay(store, tx, at, [{ projection: p, tables: liveTables(p) }], batchSize, end);
      await saveCheckpoint(tx, p.checkpoint, end);
    }
    for (const table of selected.flatMap((p) => p.tables)) {
      await tx.query(`DROP TABLE ${SCHEMA}.${table}`);
      await tx.query(`ALTER TABLE ${SCHEMA}.${shadowName(table)} RENAME TO ${table}`);
      await renameIndexes(tx, table);
    }
    for (const p of selected) await saveCheckpoint(tx, p.checkpoint, end);
    return tail.count;
  });
  done += swapped;
  opts.onProgress?.({ done, total: Math.max(total, done) });
  const rebuilt = selected.map((p) => p.name);
  opts.logger?.info({ events: done, projections: rebuilt }, 'projections rebuilt');
  return { events: done, ms: Math.round(performance.now() - started), projections: rebuilt };
}
