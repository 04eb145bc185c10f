// A projection as of a past moment: the projection's own apply, over the events recorded by then,
// into temporary copies of its tables, read back with its own read. So `--at` cannot disagree with
// the live tables about what the same events mean. A since-reset projection reads per account
// only from the newest reset by then (an index walk, not a log scan).
import { cursorOf, type Cursor } from '../events/cursor.js';
import { sqlState } from '../events/db.js';
import type { EventStore } from '../events/store.js';
import type { AccountFilter } from '../events/streams.js';
import type { Projection } from './projection.js';
import { asOfTables, liveTables } from './tables.js';

const PAGE = 10_000;

export class AsOfError extends Error {
  override name = 'AsOfError';
}

export async function projectionAt<R>(store: EventStore, p: Projection<R>, at: Date | string, filter: AccountFilter = {}): Promise<R[]> {
  const tables = asOfTables(p);
  const tx = await store.pool.connect();
  let broken = false;
  try {
    // Created before the replay's transaction, not in it: LIKE locks the live table, and held for
    // a whole replay that lock would stall a rebuild's swap (and every projector waiting on it).
    // A table created in pg_temp is a temporary one.
    const live = liveTables(p);
    for (const [table, temporary] of Object.entries(tables)) {
      try {
        await tx.query(`CREATE TABLE ${temporary} (LIKE ${live[table]} INCLUDING ALL)`);
      } catch (err) {
        if (sqlState(err) === '25006') throw new AsOfError('--at projects into temporary tables, which a read-only session (a hot standby) cannot create; ask the primary');
        if (sqlState(err) === '42501') throw new AsOfError('--at projects into temporary tables: this role needs the TEMPORARY privilege on the database');
        throw err;
      }
    }
    // One snapshot for every page, so paging by cursor misses nothing and needs no read horizon.
    await tx.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const streams = p.crossAccount ? {} : filter;
    try {
      if (p.replay.kind === 'since-reset') {
        await p.apply(tx, await store.readSelectedAsOf(at, p.selector, { streams, client: tx }), tables, { replay: true });
      } else {
        let after: Cursor | undefined;
        for (;;) {
          const page = await store.readSelectedAsOf(at, p.selector, { streams, after, limit: PAGE, client: tx });
          const last = page[page.length - 1];
          if (!last) break;
          await p.apply(tx, page, tables, { replay: true });
          after = cursorOf(last);
        }
      }
      await p.finish(tx, tables);
      return await p.read(tx, tables, filter);
    } finally {
      await tx.query('ROLLBACK');
    }
  } catch (err) {
    broken = sqlState(err) === undefined && !(err instanceof AsOfError);
    throw err;
  } finally {
    // Nothing of it is kept: the session goes back to the pool without its temporary tables.
    if (!broken) await tx.query(`DROP TABLE IF EXISTS ${Object.values(tables).join(', ')}`).catch(() => (broken = true));
    tx.release(broken);
  }
}
