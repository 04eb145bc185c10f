// Applies schema/NNN_*.sql in order, once each, recording a checksum per file. One transaction
// under an advisory lock, so concurrent `migrate` runs queue up and all succeed.
//
// schema/functions/<name>.sql holds the current body of one SQL function (Message DB style), so
// a function's code is read and changed in one place rather than pieced together from the
// migrations that redefined it. Unlike a numbered file it is meant to change: `migrate` re-applies
// it, after the numbered files, whenever its checksum differs from the one recorded (under the
// name `functions/<name>.sql`).
// CREATE OR REPLACE cannot change a result type (new argument types add an overload): DROP it in a numbered migration.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTransaction, type Pool, type Queryable } from './db.js';

export const SCHEMA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schema');
// Any constant works; it only has to be the same in every process that migrates.
const MIGRATION_LOCK = 7_284_190_013;

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

const FUNCTIONS = 'functions/';

function isFunctionFile(name: string): boolean {
  return name.startsWith(FUNCTIONS);
}

/** The numbered files in order, then the function files (`functions/<file>`) in name order. */
export async function readMigrations(dir = SCHEMA_DIR): Promise<MigrationFile[]> {
  const numbered = (await readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const functions = (await readdir(join(dir, FUNCTIONS)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  }))
    .filter((f) => /^[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => FUNCTIONS + f);
  return Promise.all(
    [...numbered, ...functions].map(async (name) => {
      const sql = await readFile(join(dir, name), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

export interface SchemaStatus {
  /** Applied files; a function file only when the body applied is this one. */
  applied: string[];
  /** Files never applied, and function files whose body changed since it was applied. */
  pending: string[];
  /** Applied numbered files whose content changed since (function files never are). */
  edited: string[];
  /**
   * Numbered files applied in the database but unknown to this version (a newer version migrated
   * it). A recorded function file this version lacks is left out: dropped since, or a newer one's.
   */
  unknown: string[];
}

async function appliedChecksums(db: Queryable): Promise<Map<string, string>> {
  const exists = await db.query(`SELECT to_regclass('exchange_sync.schema_migrations') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return new Map();
  const { rows } = await db.query<{ name: string; checksum: string }>('SELECT name, checksum FROM exchange_sync.schema_migrations');
  return new Map(rows.map((r) => [r.name, r.checksum]));
}

export async function schemaStatus(db: Queryable, files?: MigrationFile[]): Promise<SchemaStatus> {
  const all = files ?? (await readMigrations());
  const applied = await appliedChecksums(db);
  const known = new Set(all.map((f) => f.name));
  // A numbered file is applied once, whatever it says now; a function file only as it is now.
  const isApplied = (f: MigrationFile) => applied.has(f.name) && (!isFunctionFile(f.name) || applied.get(f.name) === f.checksum);
  return {
    applied: all.filter(isApplied).map((f) => f.name),
    pending: all.filter((f) => !isApplied(f)).map((f) => f.name),
    edited: all
      .filter((f) => !isFunctionFile(f.name) && applied.has(f.name) && applied.get(f.name) !== f.checksum)
      .map((f) => f.name),
    unknown: [...applied.keys()].filter((n) => !known.has(n) && !isFunctionFile(n)).sort(),
  };
}

/** Throws MigrationError unless every known migration is applied, unedited. */
export function assertCurrent(status: SchemaStatus): void {
  if (status.edited.length) throw new MigrationError(editedMessage(status.edited));
  if (status.pending.length) {
    throw new MigrationError(`database schema is not current: ${status.pending.join(', ')} not applied (run "exchange-sync migrate")`);
  }
}

function editedMessage(edited: string[]): string {
  return `schema/${edited.join(', schema/')} changed after it was applied (checksum differs); restore it and add a new migration instead`;
}

/**
 * Applies pending numbered migrations, then the function files that changed (or are new);
 * returns the names applied by this call in that order.
 */
export async function migrate(pool: Pool, dir = SCHEMA_DIR): Promise<string[]> {
  const files = await readMigrations(dir);
  return withTransaction(pool, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.query('CREATE SCHEMA IF NOT EXISTS exchange_sync');
    await tx.query(`CREATE TABLE IF NOT EXISTS exchange_sync.schema_migrations (
      name       text PRIMARY KEY,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const status = await schemaStatus(tx, files);
    if (status.edited.length) throw new MigrationError(editedMessage(status.edited));
    const done: string[] = [];
    for (const file of files.filter((f) => status.pending.includes(f.name))) {
      try {
        await tx.query(file.sql);
      } catch (err) {
        throw new MigrationError(`schema/${file.name} failed: ${(err as Error).message}`);
      }
      await tx.query(
        `INSERT INTO exchange_sync.schema_migrations (name, checksum) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now()`,
        [file.name, file.checksum],
      );
      done.push(file.name);
    }
    return done;
  });
}
