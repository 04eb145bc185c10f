// Rebuild throughput: events/s replayed into fresh projections by rebuild(store), vs a plain scan
// of the same rows (SELECT data FROM events, jsonb parsed by pg) — the floor any replay pays.
import { createHash, randomUUID } from 'node:crypto';
import type { Pool } from '../src/events/db.js';
import { EventStore, type NewEvent } from '../src/events/store.js';
import { rebuild } from '../src/projections/index.js';
import { timed } from './common.js';
import type { Figure } from './report.js';

const ASSETS = ['ADA', 'BNB', 'BTC', 'DOGE', 'DOT', 'ETH', 'LINK', 'SOL', 'USDT', 'XRP'];

/** One sync of one account as SyncService records it: snapshot_recorded + sync_completed. */
export function syncEvents(account: number, sync: number): NewEvent[] {
  const t = new Date(1_790_000_000_000 + sync * 1_800_000 + account * 10).toISOString();
  const syncId = randomUUID();
  const amt = (k: number) => `${(account + 1) * 3 + k}.${String(sync * 7 + k).padStart(4, '0')}`.replace(/0+$/, '').replace(/\.$/, '');
  const snapshot = {
    exchange: 'bybit',
    account: `acct${account}`,
    quote: 'USDT',
    wallets: ['unified' as const],
    balances: ASSETS.map((asset, k) => ({ wallet: 'unified' as const, asset, free: amt(k), used: k % 3 === 0 ? '0' : '1.5', total: amt(k + 20) })),
    positions: [
      { symbol: 'BTC/USDT:USDT', side: 'long' as const, contracts: '0.01', contractSize: '1', entryPrice: '60000', markPrice: `6${sync % 10}000.5`, liquidationPrice: '30000', notional: '600', unrealizedPnl: '1.25', leverage: '10', marginMode: 'cross' as const },
      { symbol: 'ETH/USDT:USDT', side: 'short' as const, contracts: '0.5', contractSize: '1', entryPrice: '3000', markPrice: '2990', liquidationPrice: null, notional: '1495', unrealizedPnl: '-5', leverage: '5', marginMode: 'isolated' as const },
    ],
    prices: Object.fromEntries(ASSETS.filter((a) => a !== 'USDT').map((a, k) => [a, `${k + 1}${sync % 10}.25`])),
    fetchedAt: t,
    exchangeTime: t,
  };
  const contentHash = createHash('sha256').update(JSON.stringify(snapshot.balances)).digest('hex');
  return [
    { type: 'snapshot_recorded', data: { syncId, contentHash, snapshot } },
    { type: 'sync_completed', data: { syncId, trigger: 'schedule', startedAt: t, finishedAt: t, fetchMs: 42, attempts: 1, balances: 10, positions: 2, changed: true } },
  ];
}

export async function seedLog(store: EventStore, accounts: number, syncs: number, workers = 8): Promise<number> {
  const jobs: [number, number][] = [];
  for (let s = 0; s < syncs; s++) for (let a = 0; a < accounts; a++) jobs.push([a, s]);
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < jobs.length) {
        const [a, s] = jobs[next++]!;
        await store.append(`bybit:acct${a}`, syncEvents(a, s));
      }
    }),
  );
  return jobs.length * 2;
}

export async function benchRebuild(pool: Pool, opts: { accounts: number; syncs: number; rounds: number }): Promise<Figure[]> {
  const store = new EventStore(pool);
  const events = await seedLog(store, opts.accounts, opts.syncs);
  await pool.query('VACUUM ANALYZE exchange_sync.events');
  const scan = async () => {
    const { rows } = await pool.query<{ data: unknown }>('SELECT data FROM exchange_sync.events');
    if (rows.length !== events) throw new Error(`scan saw ${rows.length} of ${events}`);
  };
  // Warm both.
  await scan();
  await rebuild(store);
  let rebuildSecs = 0;
  let scanSecs = 0;
  for (let r = 0; r < opts.rounds; r++) {
    rebuildSecs += await timed(async () => {
      const res = await rebuild(store);
      if (res.events !== events) throw new Error(`rebuild replayed ${res.events} of ${events}`);
    });
    scanSecs += await timed(scan);
  }
  return [
    {
      name: `rebuild, ${opts.accounts} accts x ${opts.syncs} syncs (${events} ev)`,
      unit: 'events/s',
      value: (events * opts.rounds) / rebuildSecs,
      baselineName: 'SELECT data scan + parse',
      baseline: (events * opts.rounds) / scanSecs,
      target: 0.5,
    },
  ];
}
