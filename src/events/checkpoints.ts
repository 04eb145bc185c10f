// A subscriber's place in the log, read and written inside the caller's transaction so it moves
// together with whatever the subscriber wrote for those events.
import type { Queryable } from './db.js';
import { START, type Cursor } from './store.js';

/**
 * Locks the subscriber's checkpoint row until the transaction ends and returns its cursor.
 * The lock makes two instances of one subscriber (two daemons) take turns.
 */
export async function lockCheckpoint(tx: Queryable, subscriber: string): Promise<Cursor> {
  await tx.query('INSERT INTO exchange_sync.checkpoints (subscriber) VALUES ($1) ON CONFLICT DO NOTHING', [subscriber]);
  const { rows } = await tx.query<{ transaction_id: string; global_position: string }>(
    'SELECT transaction_id::text, global_position FROM exchange_sync.checkpoints WHERE subscriber = $1 FOR UPDATE',
    [subscriber],
  );
  const row = rows[0];
  return row ? { transactionId: row.transaction_id, globalPosition: Number(row.global_position) } : START;
}

export async function saveCheckpoint(tx: Queryable, subscriber: string, cursor: Cursor): Promise<void> {
  await tx.query('UPDATE exchange_sync.checkpoints SET transaction_id = $2::xid8, global_position = $3, updated_at = now() WHERE subscriber = $1', [
    subscriber,
    cursor.transactionId,
    cursor.globalPosition,
  ]);
}
