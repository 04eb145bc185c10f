// Rebuild: replay the whole log into fresh shadow tables, batch by batch (short transactions, so
// the live subscribers' read horizon is never held back), then swap them in one transaction that
// holds the live projector's checkpoint lock: events that land meanwhile end up in the new tables.
import type { Logger } from 'pino';
import { lockCheckpoint, saveCheckpoint } from '../events/checkpoints.js';
import { withTransaction, type PoolClient } from '../events/db.js';
import { START, cursorOf, type Cursor, type EventStore } from '../events/store.js';
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

async function replay(store: EventStore, tx: PoolClient, from: Cursor, tables: Partial<Tables>, batchSize: number, until?: Cursor) {
  let cursor = from;
  let count = 0;
  for (;;) {
    const events = until ? await store.readRange(cursor, until, batchSize, tx) : await store.readAfter(cursor, batchSize, { client: tx });
    const last = events[events.length - 1];
    if (!last) return { cursor, count };
    await project(tx, events, tables);
    cursor = cursorOf(last);
    count += events.length;
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
  const batchSize = opts.batchSize ?? 5000;
  const pool = store.pool;
  const shadow: Partial<Tables> = Object.fromEntries(selected.map((n) => [n, `exchange_sync.${shadowName(n)}`]));

  for (const name of selected) {
    // A crashed earlier rebuild may have left its shadow table behind.
    await pool.query(`DROP TABLE IF EXISTS exchange_sync.${shadowName(name)}`);
    await pool.query(`CREATE TABLE exchange_sync.${shadowName(name)} (LIKE exchange_sync.${name} INCLUDING ALL)`);
  }
  const total = Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM exchange_sync.events')).rows[0]?.n ?? 0);

  let cursor = START;
  let done = 0;
  for (;;) {
    const batch = await withTransaction(pool, async (tx) => {
      const events = await store.readAfter(cursor, batchSize, { client: tx });
      if (events.length) await project(tx, events, shadow);
      return events;
    });
    const last = batch[batch.length - 1];
    if (!last) break;
    cursor = cursorOf(last);
    done += batch.length;
    opts.onProgress?.({ done, total });
    if (batch.length < batchSize) break;
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
