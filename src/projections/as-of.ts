// A projection as of a past moment: the projection's own apply, over the events recorded by then,
// into temporary copies of its tables, read back with its own read. So `--at` cannot disagree with
// the live tables about what the same events mean. A since-reset projection reads per account
// only from the newest reset by then (an index walk, not a log scan).
import { cursorOf, type Cursor } from '../events/cursor.js';
import type { EventStore } from '../events/store.js';
import type { AccountFilter } from '../events/streams.js';
import type { Projection } from './projection.js';
import { asOfTables, SCHEMA } from './tables.js';

const PAGE = 10_000;

export async function projectionAt<R>(store: EventStore, p: Projection<R>, at: Date | string, filter: AccountFilter = {}): Promise<R[]> {
  const tx = await store.pool.connect();
  let broken = false;
  try {
    await tx.query('BEGIN');
    const tables = asOfTables(p);
    for (const table of p.tables) {
      await tx.query(`CREATE TEMPORARY TABLE ${table}_at (LIKE ${SCHEMA}.${table} INCLUDING ALL) ON COMMIT DROP`);
    }
    if (p.replay.kind === 'since-reset') {
      await p.apply(tx, await store.readSelectedAsOf(at, p.selector, { streams: filter, client: tx }), tables);
    } else {
      let after: Cursor | undefined;
      for (;;) {
        const page = await store.readSelectedAsOf(at, p.selector, { streams: filter, after, limit: PAGE, client: tx });
        const last = page[page.length - 1];
        if (!last) break;
        await p.apply(tx, page, tables);
        after = cursorOf(last);
      }
    }
    return await p.read(tx, tables, filter);
  } finally {
    // Nothing of it is kept: the temporary tables go with the transaction.
    await tx.query('ROLLBACK').catch(() => (broken = true));
    tx.release(broken);
  }
}
