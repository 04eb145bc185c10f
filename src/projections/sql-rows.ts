// Rows to and from projection tables, the same way for every projection: many rows in one INSERT
// (one JSON document), and reads whose numeric columns come back canonical.
import { toDecimal } from '../events/decimal.js';
import type { QueryResultRow } from 'pg';
import type { Queryable } from '../events/db.js';
import type { AccountFilter } from '../events/streams.js';

/** [column, PostgreSQL type, the row field it comes from]. */
export type ColumnSpec<R> = readonly (readonly [string, string, keyof R & string])[];

/**
 * One INSERT for all `rows`, whatever their number. The rows travel as one JSON document, which
 * both sides turn into rows several times faster than one PostgreSQL array per column.
 */
export async function insertRows<R>(tx: Queryable, table: string, columns: ColumnSpec<R>, rows: readonly R[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(insertSql(table, columns), [JSON.stringify(rows)]);
}

/** INSERT of the rows of one JSON document ($1), with an optional ON CONFLICT clause. */
function insertSql<R>(table: string, columns: ColumnSpec<R>, onConflict = ''): string {
  const names = columns.map(([c]) => c).join(', ');
  const fields = columns.map(([, , key]) => `"${key}"`).join(', ');
  const record = columns.map(([, type, key]) => `"${key}" ${type}`).join(', ');
  return `INSERT INTO ${table} (${names}) SELECT ${fields} FROM json_to_recordset($1::json) AS r (${record})${onConflict}`;
}

/**
 * insertRows that updates the row with `key` instead where it exists: a later event about the same
 * thing (a transfer's new status) wins. `rows` must not repeat a key (one statement cannot update
 * a row twice); keep the newest of each.
 */
export async function upsertRows<R>(tx: Queryable, table: string, columns: ColumnSpec<R>, rows: readonly R[], key: readonly string[]): Promise<void> {
  if (rows.length === 0) return;
  const updates = columns
    .map(([c]) => c)
    .filter((c) => !key.includes(c))
    .map((c) => `${c} = EXCLUDED.${c}`)
    .join(', ');
  await tx.query(insertSql(table, columns, ` ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${updates}`), [JSON.stringify(rows)]);
}

/** `column AS "field"` for each column, numeric as text: a SELECT list that reads rows back as R. */
export function selectList<R>(columns: ColumnSpec<R>): string {
  return columns.map(([c, type, key]) => `${type === 'numeric' ? `${c}::text` : c} AS "${key}"`).join(', ');
}

// numeric comes back in the scale it was computed with ("0.10" for 0.5 x 0.2); the log holds the
// canonical form, and so do the rows read back.
export function canonicalRow<R>(row: R, columns: ColumnSpec<R>): R {
  const out = { ...row } as Record<string, unknown>;
  for (const [, type, key] of columns) {
    const v = out[key];
    if (type === 'numeric' && typeof v === 'string') out[key] = toDecimal(v);
    else if (type === 'timestamptz' && v instanceof Date) out[key] = v.toISOString();
    else if (type === 'bigint' && typeof v === 'string') out[key] = Number(v);
  }
  return out as R;
}

// Code-unit order, not the database collation: every path sorts here, so all agree.
export function byKeys<T>(...keys: ((row: T) => string)[]): (a: T, b: T) => number {
  return (a, b) => {
    for (const key of keys) {
      const x = key(a);
      const y = key(b);
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  };
}

/** The rows of `table` of the filter's accounts, canonical, in `order`. */
export async function readRows<R>(db: Queryable, table: string, columns: ColumnSpec<R>, filter: AccountFilter, order: (a: R, b: R) => number): Promise<R[]> {
  const { rows } = await db.query<R & QueryResultRow>(
    `SELECT ${selectList(columns)} FROM ${table} WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR account = $2)`,
    [filter.exchange ?? null, filter.account ?? null],
  );
  return rows.map((r) => canonicalRow<R>(r, columns)).sort(order);
}
