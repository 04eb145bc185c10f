import { loadConfig } from '../config.js';
import { createPool } from '../events/db.js';
import { assertCurrent, schemaStatus } from '../events/migrate.js';
import { EventStore } from '../events/store.js';
import { PROJECTION_NAMES, rebuild as rebuildProjections } from '../projections/index.js';
import { stringFlag, UsageError, type Command } from './command.js';

export const rebuild: Command = {
  name: 'rebuild',
  help: `Usage: exchange-sync rebuild [--projection NAME]

Replays the whole event log into fresh copies of the projection tables and swaps them in
atomically. Safe while a daemon is running: syncs recorded during the rebuild end up in the
new tables. Shows progress on a terminal.

Options:
  --projection NAME   one of ${PROJECTION_NAMES.join(', ')}; default all`,
  options: { projection: { type: 'string' } },
  async run(values) {
    const name = stringFlag(values, 'projection');
    if (name !== undefined && !PROJECTION_NAMES.includes(name)) {
      throw new UsageError(`--projection must be one of ${PROJECTION_NAMES.join(', ')}, got "${name}"`);
    }
    const config = loadConfig();
    const pool = createPool(config.database.connectionString, { max: 2 });
    try {
      assertCurrent(await schemaStatus(pool));
      const tty = process.stderr.isTTY === true;
      const started = performance.now();
      const result = await rebuildProjections(new EventStore(pool), {
        projections: name ? [name] : undefined,
        onProgress: ({ done, total }) => {
          if (!tty) return;
          const pct = total ? Math.min(100, Math.floor((done / total) * 100)) : 100;
          const rate = Math.round(done / ((performance.now() - started) / 1000));
          process.stderr.write(`\rrebuilding: ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} events (${pct}%, ${rate.toLocaleString('en-US')}/s)  `);
        },
      });
      if (tty) process.stderr.write('\n');
      const rate = result.ms > 0 ? Math.round((result.events / result.ms) * 1000) : result.events;
      process.stdout.write(`rebuilt ${result.projections.join(', ')} from ${result.events} events in ${result.ms} ms (${rate} events/s)\n`);
      return 0;
    } finally {
      await pool.end();
    }
  },
};
