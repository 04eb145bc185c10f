// Applies schema/NNN_*.sql in order, once each, recording a checksum per file. One transaction
// under an advisory lock, so concurrent `migrate` runs queue up and all succeed.
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

export async function readMigrations(dir = SCHEMA_DIR): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

export interface SchemaStatus {
  applied: string[];
  pending: string[];
  /** Applied files whose content changed since. */
  edited: string[];
  /** Applied in the database but unknown to this version (a newer version migrated it). */
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
  return {
    applied: all.filter((f) => applied.has(f.name)).map((f) => f.name),
    pending: all.filter((f) => !applied.has(f.name)).map((f) => f.name),
    edited: all.filter((f) => applied.has(f.name) && applied.get(f.name) !== f.checksum).map((f) => f.name),
    unknown: [...applied.keys()].filter((n) => !known.has(n)).sort(),
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

/** Applies pending migrations; returns the names applied by this call. */
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
      await tx.query('INSERT INTO exchange_sync.schema_migrations (name, checksum) VALUES ($1, $2)', [file.name, file.checksum]);
      done.push(file.name);
    }
    return done;
  });
}
