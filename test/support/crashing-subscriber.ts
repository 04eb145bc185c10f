// Child process for the crash test: applies events to a table and SIGKILLs itself after the
// handler's writes of its CRASH_AT-th event, before the checkpoint commits.
import { createPool } from '../../src/events/db.js';
import { EventStore } from '../../src/events/store.js';
import { Subscription } from '../../src/events/subscription.js';
import { testCatalog } from './test-catalog.js';

const [url, name, crashAt] = process.argv.slice(2) as [string, string, string];
const pool = createPool(url);
const store = new EventStore(pool, testCatalog);
let handled = 0;
const sub = new Subscription(store, undefined, {
  name,
  batchSize: 10,
  pollMs: 50,
  handler: async (events, tx) => {
    for (const e of events) {
      await tx.query('INSERT INTO crash_applied (event_id) VALUES ($1)', [e.id]);
      handled += 1;
      if (handled === Number(crashAt)) process.kill(process.pid, 'SIGKILL');
    }
  },
});
sub.start();
