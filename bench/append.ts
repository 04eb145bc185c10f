// Append throughput through the event log vs a plain INSERT of the same rows into a bare table.
import { randomUUID } from 'node:crypto';
import type { Pool } from '../src/events/db.js';
import { EventStore } from '../src/events/store.js';
import type { Figure } from './report.js';

function syncCompleted(i: number) {
  const now = new Date(1_790_000_000_000 + i * 1000).toISOString();
  return {
    type: 'sync_completed',
    data: { syncId: randomUUID(), trigger: 'schedule', startedAt: now, finishedAt: now, fetchMs: 42, attempts: 1, balances: 7, positions: 2, changed: true },
  };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function benchAppend(pool: Pool, opts: { appends1: number; appends100: number }): Promise<Figure[]> {
  const store = new EventStore(pool);
  await pool.query(`CREATE TABLE bench_plain (id uuid PRIMARY KEY, stream text NOT NULL, type text NOT NULL, data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now())`);
  const plainInsert = (rows: ReturnType<typeof syncCompleted>[], stream: string) =>
    pool.query('INSERT INTO bench_plain (id, stream, type, data) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[])', [
      rows.map(() => randomUUID()),
      rows.map(() => stream),
      rows.map((r) => r.type),
      rows.map((r) => JSON.stringify(r.data)),
    ]);

  // Warm both paths (plan caches, connection) before measuring.
  for (let i = 0; i < 50; i++) {
    await store.append(`warm:${i % 5}`, [syncCompleted(i)]);
    await plainInsert([syncCompleted(i)], 'warm');
  }

  const figures: Figure[] = [];
  for (const [size, count] of [
    [1, opts.appends1],
    [100, opts.appends100],
  ] as const) {
    const batches = Array.from({ length: count }, (_, i) => Array.from({ length: size }, (_, j) => syncCompleted(i * size + j)));
    // Interleave the two, a few rounds each, so drift on the machine hits both alike.
    let logSecs = 0;
    let plainSecs = 0;
    const rounds = 4;
    const per = Math.ceil(count / rounds);
    for (let r = 0; r < rounds; r++) {
      const slice = batches.slice(r * per, (r + 1) * per);
      logSecs += await timed(async () => {
        for (const [i, b] of slice.entries()) await store.append(`bench:acct${i % 20}`, b);
      });
      plainSecs += await timed(async () => {
        for (const [i, b] of slice.entries()) await plainInsert(b, `bench:acct${i % 20}`);
      });
    }
    const events = count * size;
    figures.push({
      name: `append, ${size} event${size > 1 ? 's' : ''} per append`,
      unit: 'events/s',
      value: events / logSecs,
      baselineName: 'plain multi-row INSERT',
      baseline: events / plainSecs,
      target: 0.7,
    });
  }
  return figures;
}
