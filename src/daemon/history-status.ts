// Each account's history coverage, for status: how far back and up to when its fills and
// transfers are recorded, and whether the backfill has reached EXCHANGE_SYNC_HISTORY_SINCE.
import type { Coverage } from '../events/catalog.js';
import type { Queryable } from '../events/db.js';

export interface KindCoverage {
  /** The channel covered least far back: every channel is covered from here on. */
  from: string;
  /** The channel covered least far forward. */
  to: string;
  /** Every channel reaches back to the backfill start. */
  complete: boolean;
  channels: number;
}

export interface AccountHistory {
  trades: KindCoverage | null;
  transfers: KindCoverage | null;
}

function summary(c: Coverage | undefined, since: number): KindCoverage | null {
  const states = Object.values(c ?? {});
  if (states.length === 0) return null;
  const from = states.map((s) => s.from).sort().at(-1)!;
  const to = states.map((s) => s.to).sort()[0]!;
  return { from, to, complete: states.every((s) => Date.parse(s.from) <= since), channels: states.length };
}

/** stream id -> coverage, from each stream's newest trades_recorded and transfers_recorded. */
export async function historyCoverage(db: Queryable, since: number): Promise<Map<string, AccountHistory>> {
  const { rows } = await db.query<{ stream_id: string; type: 'trades_recorded' | 'transfers_recorded'; coverage: Coverage }>(
    `SELECT DISTINCT ON (stream_id, type) stream_id, type, data->'coverage' AS coverage
     FROM exchange_sync.events WHERE type IN ('trades_recorded', 'transfers_recorded')
     ORDER BY stream_id, type, stream_position DESC`,
  );
  const raw = new Map<string, { trades?: Coverage; transfers?: Coverage }>();
  for (const r of rows) {
    const entry = raw.get(r.stream_id) ?? {};
    if (r.type === 'trades_recorded') entry.trades = r.coverage;
    else entry.transfers = r.coverage;
    raw.set(r.stream_id, entry);
  }
  return new Map([...raw].map(([stream, c]) => [stream, { trades: summary(c.trades, since), transfers: summary(c.transfers, since) }]));
}
