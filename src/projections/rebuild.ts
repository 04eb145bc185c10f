// Rebuild: replay the whole log into fresh shadow tables, batch by batch (short transactions, so
// the live subscribers' read horizon is never held back), then swap them in one transaction that
// holds the live projector's checkpoint lock: events that land meanwhile end up in the new tables.
import type { Logger } from 'pino';
import { lockCheckpoint, saveCheckpoint } from '../events/checkpoints.js';
import { withTransaction, type PoolClient } from '../events/db.js';
import { START, type Cursor, type EventStore } from '../events/store.js';
import { project } from './projector.js';
import { LIVE, PROJECTIONS, PROJECTOR_SUBSCRIBER, shadowName, type ProjectionName, type Tables } from './tables.js';

export interface RebuildProgress {
  done: number;
  /** Events in the log when the rebuild started (more may arrive). */
  total: number;
}

export interface RebuildOptions {
  projections?: ProjectionName[];
  batchSize?: number;
  onProgress?: (p: RebuildProgress) => void;
  logger?: Logger;
}

export interface RebuildResult {
  events: number;
  ms: number;
  projections: ProjectionName[];
}

const compare = (a: Cursor, b: Cursor) => {
  const tx = BigInt(a.transactionId) - BigInt(b.transactionId);
  return tx !== 0n ? (tx < 0n ? -1 : 1) : a.globalPosition - b.globalPosition;
};

// project() applies only each account's newest snapshot of a batch, and makes sync_runs rows from
// the stored events in SQL: so older snapshots are skipped unread, and no other body is read.
const readBatch = (store: EventStore, tx: PoolClient, after: Cursor, batchSize: number, until?: Cursor) =>
  store.readForReplay(after, batchSize, { bodiesOf: ['snapshot_recorded', 'snapshot_unchanged'], client: tx, ...(until ? { until } : {}) });

async function replay(store: EventStore, tx: PoolClient, from: Cursor, tables: Partial<Tables>, batchSize: number, until?: Cursor) {
  let cursor = from;
  let count = 0;
  for (;;) {
    const batch = await readBatch(store, tx, cursor, batchSize, until);
    if (!batch.end) return { cursor, count };
    await project(tx, batch.events, tables);
    cursor = batch.end;
    count += batch.read;
  }
}

async function renameIndexes(tx: PoolClient, name: ProjectionName): Promise<void> {
  const shadow = shadowName(name);
  const { rows } = await tx.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = 'exchange_sync' AND tablename = $1`, [name]);
  for (const { indexname } of rows) {
    if (indexname.startsWith(shadow)) await tx.query(`ALTER INDEX exchange_sync."${indexname}" RENAME TO "${name}${indexname.slice(shadow.length)}"`);
  }
}

export async function rebuild(store: EventStore, opts: RebuildOptions = {}): Promise<RebuildResult> {
  const started = performance.now();
  const selected = opts.projections ?? [...PROJECTIONS];
  const batchSize = opts.batchSize ?? 10000;
  const pool = store.pool;
  const shadow: Partial<Tables> = Object.fromEntries(selected.map((n) => [n, `exchange_sync.${shadowName(n)}`]));

  const total = await withTransaction(pool, async (tx) => {
    await tx.query('SET LOCAL synchronous_commit = off');
    for (const name of selected) {
      // A crashed earlier rebuild may have left its shadow table behind.
      await tx.query(`DROP TABLE IF EXISTS exchange_sync.${shadowName(name)}`);
      await tx.query(`CREATE TABLE exchange_sync.${shadowName(name)} (LIKE exchange_sync.${name} INCLUDING ALL)`);
    }
    return Number((await tx.query<{ n: string }>('SELECT count(*) AS n FROM exchange_sync.events')).rows[0]?.n ?? 0);
  });

  let cursor = START;
  let done = 0;
  for (;;) {
    const batch = await withTransaction(pool, async (tx) => {
      // Only shadow tables change here: a crash loses them whatever the commit waited for.
      await tx.query('SET LOCAL synchronous_commit = off');
      const b = await readBatch(store, tx, cursor, batchSize);
      await project(tx, b.events, shadow);
      return b;
    });
    if (!batch.end) break;
    cursor = batch.end;
    done += batch.read;
    opts.onProgress?.({ done, total });
    if (batch.read < batchSize) break;
  }

  const swapped = await withTransaction(pool, async (tx) => {
    const live = await lockCheckpoint(tx, PROJECTOR_SUBSCRIBER);
    // With the live projector held, bring the shadow tables to the end of the log...
    const tail = await replay(store, tx, cursor, shadow, batchSize);
    const end = tail.cursor;
    if (compare(live, end) > 0) throw new Error('live projections are ahead of the log end seen by the rebuild; retry the rebuild');
    // ...and the live tables that are not being replaced to the very same point.
    const others = PROJECTIONS.filter((n) => !selected.includes(n));
    if (others.length) await replay(store, tx, live, Object.fromEntries(others.map((n) => [n, LIVE[n]])), batchSize, end);
    for (const name of selected) {
      await tx.query(`DROP TABLE exchange_sync.${name}`);
      await tx.query(`ALTER TABLE exchange_sync.${shadowName(name)} RENAME TO ${name}`);
      await renameIndexes(tx, name);
    }
    await saveCheckpoint(tx, PROJECTOR_SUBSCRIBER, end);
    return tail.count;
  });
  done += swapped;
  opts.onProgress?.({ done, total: Math.max(total, done) });
  opts.logger?.info({ events: done, projections: selected }, 'projections rebuilt');
  return { events: done, ms: Math.round(performance.now() - started), projections: selected };
}
