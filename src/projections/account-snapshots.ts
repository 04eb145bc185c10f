// What balances and positions share: each says what an account's newest full snapshot says. A
// snapshot_recorded replaces all of the account's rows (so what it no longer holds is gone); a
// snapshot_unchanged only moves their as_of. So within a batch, per account, only the newest
// recorded snapshot and the newest fetch time after it matter, and a replay may skip everything
// before an account's newest snapshot_recorded (the projections' replay says so).
import type { Snapshot } from '../events/catalog.js';
import type { Queryable } from '../events/db.js';
import { parseAccountStream, type AccountId } from '../events/streams.js';
import type { CurrentEvent } from '../events/typed-events.js';
import type { Replay } from './projection.js';

export const SNAPSHOT_EVENTS = ['snapshot_recorded', 'snapshot_unchanged'] as const;
export type SnapshotEvent = CurrentEvent<(typeof SNAPSHOT_EVENTS)[number]>;
export const SNAPSHOT_REPLAY: Replay = { kind: 'since-reset', resetBy: 'snapshot_recorded' };

export interface RecordedSnapshot extends AccountId {
  snapshot: Snapshot;
  /** Fetch time of the account's newest snapshot, recorded or unchanged. */
  asOf: string;
  /** Global position of the snapshot_recorded. */
  eventPosition: number;
}

interface AccountChange {
  recorded?: { snapshot: Snapshot; position: number };
  observedAt: string;
}

function accountChanges(events: SnapshotEvent[]): Map<string, AccountChange> {
  const changes = new Map<string, AccountChange>();
  for (const e of events) {
    if (e.type === 'snapshot_recorded') {
      changes.set(e.streamId, { recorded: { snapshot: e.data.snapshot, position: e.globalPosition }, observedAt: e.data.snapshot.fetchedAt });
    } else {
      const c = changes.get(e.streamId);
      changes.set(e.streamId, { ...c, observedAt: e.data.fetchedAt });
    }
  }
  return changes;
}

/**
 * Three statements per batch whatever the number of accounts: accounts with a new snapshot lose
 * their rows and get the snapshot's (`insert`), accounts with only unchanged ones get as_of moved.
 */
export async function replaceAccountRows(tx: Queryable, table: string, events: SnapshotEvent[], insert: (recorded: RecordedSnapshot[]) => Promise<void>): Promise<void> {
  const recorded: RecordedSnapshot[] = [];
  const touched: (AccountId & { asOf: string })[] = [];
  for (const [stream, c] of accountChanges(events)) {
    // The stream names the account; the snapshot's own fields say the same but are not the key.
    const id = parseAccountStream(stream);
    if (c.recorded) recorded.push({ ...id, snapshot: c.recorded.snapshot, asOf: c.observedAt, eventPosition: c.recorded.position });
    else touched.push({ ...id, asOf: c.observedAt });
  }
  if (touched.length) {
    await tx.query(
      `UPDATE ${table} t SET as_of = u.as_of FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u (exchange, account, as_of)
       WHERE t.exchange = u.exchange AND t.account = u.account`,
      [touched.map((t) => t.exchange), touched.map((t) => t.account), touched.map((t) => t.asOf)],
    );
  }
  if (recorded.length) {
    await tx.query(
      `DELETE FROM ${table} t USING unnest($1::text[], $2::text[]) AS u (exchange, account) WHERE t.exchange = u.exchange AND t.account = u.account`,
      [recorded.map((r) => r.exchange), recorded.map((r) => r.account)],
    );
    await insert(recorded);
  }
}
