import { loadConfig } from '../config.js';
import { createPool } from '../events/db.js';
import { migrate as applyMigrations } from '../events/migrate.js';
import type { Command } from './command.js';

export const migrate: Command = {
  name: 'migrate',
  help: `Usage: exchange-sync migrate

Applies the SQL files in schema/ that the database has not seen yet, in order, in one
transaction. Safe to run again (nothing to do) and from two processes at once (one waits).
A file changed after it was applied is refused: add a new migration instead.

Database: DATABASE_URL, or DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME.`,
  options: {},
  async run() {
    const config = loadConfig();
    const pool = createPool(config.database.connectionString, { max: 1 });
    try {
      const applied = await applyMigrations(pool);
      process.stdout.write(applied.length ? `applied ${applied.join(', ')}\n` : 'schema is current; nothing to apply\n');
      return 0;
    } finally {
      await pool.end();
    }
  },
};
