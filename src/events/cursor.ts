// A place in the log's read order: (transaction_id, global_position). Subscribers resume from
// one, rebuilds stop at one, the relay compares the stream's tail with one.

/** The zero cursor reads from the beginning. */
export interface Cursor {
  /** xid8 as a decimal string (it outgrows a JavaScript number's exact range in principle). */
  transactionId: string;
  globalPosition: number;
}

export const START: Cursor = { transactionId: '0', globalPosition: 0 };

export function cursorOf(e: Pick<Cursor, 'transactionId' | 'globalPosition'>): Cursor {
  return { transactionId: e.transactionId, globalPosition: e.globalPosition };
}

/** Negative when a comes first in read order, 0 when equal, positive after. */
export function compareCursors(a: Cursor, b: Cursor): number {
  const ta = BigInt(a.transactionId);
  const tb = BigInt(b.transactionId);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.globalPosition - b.globalPosition;
}
