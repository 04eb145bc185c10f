// The fleet's schedule: (a) claims/s over 100,000 due accounts, claimDue (registration check,
// lease, fence, lag) in batches of 100 until none is left, vs a bare SELECT ... FOR UPDATE SKIP
// LOCKED + UPDATE loop on the same table taking the same batches; (b) schedule lag p99 (how late
// due syncs start) with 1 and with 3 daemons sharing one schedule, at zero exchange latency.
import { randomUUID } from 'node:crypto';
import { Daemon } from '../src/daemon/daemon.js';
import type { Pool } from '../src/events/db.js';
import { startEmulator } from '../src/emulator/index.js';
import { silentLogger } from '../src/log.js';
import { claimDue, register } from '../src/schedule/schedule-store.js';
import { benchAccounts, benchConfig, percentile, seedEmulator, sleep, timed } from './common.js';
import type { Figure } from './report.js';

const BATCH = 100;

async function resetDue(pool: Pool): Promise<void> {
  await pool.query(`UPDATE exchange_sync.schedule SET owner = NULL, lease_until = NULL, due_at = now() - interval '1 second', tick_at = now() - interval '1 second'`);
  await pool.query('VACUUM ANALYZE exchange_sync.schedule');
}

export async function benchClaims(pool: Pool, opts: { accounts: number; rounds: number }): Promise<Figure[]> {
  const ids = Array.from({ length: opts.accounts }, (_, i) => ({ exchange: 'bybit', account: `acct${i}` }));
  const me = { daemon: `bench-${randomUUID()}`, startedAt: new Date().toISOString(), ttlMs: 60_000, scheduling: true };
  for (let i = 0; i < ids.length; i += 10_000) await register(pool, me, ids.slice(0, i + 10_000), 30 * 60_000);
  const claimAll = async () => {
    let n = 0;
    for (;;) {
      const got = await claimDue(pool, me.daemon, BATCH, 60_000);
      if (got.length === 0) break;
      n += got.length;
    }
    if (n !== opts.accounts) throw new Error(`claimed ${n} of ${opts.accounts}`);
  };
  const bare = async () => {
    let n = 0;
    for (;;) {
      const { rowCount } = await pool.query(
        `WITH c AS (SELECT exchange, account FROM exchange_sync.schedule WHERE due_at <= now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE exchange_sync.schedule s SET owner = 'bare', due_at = now() + interval '60 seconds' FROM c WHERE s.exchange = c.exchange AND s.account = c.account`,
        [BATCH],
      );
      if (!rowCount) break;
      n += rowCount;
    }
    if (n !== opts.accounts) throw new Error(`bare loop claimed ${n} of ${opts.accounts}`);
  };
  let ours = 0;
  let base = 0;
  for (let r = 0; r <= opts.rounds; r++) {
    await resetDue(pool);
    const a = await timed(claimAll);
    await resetDue(pool);
    const b = await timed(bare);
    // The first round warms both.
    if (r > 0) {
      ours += a;
      base += b;
    }
  }
  return [
    {
      name: `claims, ${opts.accounts.toLocaleString('en-US')} due accounts, batches of ${BATCH}`,
      unit: 'claims/s',
      value: (opts.accounts * opts.rounds) / ours,
      baselineName: 'bare SKIP LOCKED loop',
      baseline: (opts.accounts * opts.rounds) / base,
      target: 0.8,
    },
  ];
}

/** Lag p99 of N in-process daemons sharing `accounts` accounts on `intervalMs`, over `seconds`. */
export async function benchScheduleLag(dbUrl: string, opts: { daemons: number; accounts: number; intervalMs: number; seconds: number }): Promise<{ p50: number; p99: number; samples: number }> {
  const emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0 });
  seedEmulator(emu, opts.accounts);
  const accounts = benchAccounts(opts.accounts, emu.url);
  const suffix = randomUUID().slice(0, 8);
  const daemons = Array.from({ length: opts.daemons }, () => {
    const config = { ...benchConfig(dbUrl, accounts, { prefix: `bench_lag_${suffix}`, stream: `BENCH_LAG_${suffix.toUpperCase()}` }), intervalMinutes: opts.intervalMs / 60_000, syncEnabled: true, history: null, schedule: { leaseMs: 10_000, pollMs: 250 } };
    return new Daemon(config, { logger: silentLogger(), httpHost: '127.0.0.1' });
  });
  const lags: number[] = [];
  try {
    await Promise.all(daemons.map((d) => d.start()));
    // The first interval syncs everything at once (every account is new): measure the ticks after it.
    await sleep(opts.intervalMs + 2000);
    const from = Date.now();
    await sleep(opts.seconds * 1000);
    for (const d of daemons) lags.push(...d.scheduleLags(from));
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    await emu.close();
  }
  const sorted = lags.sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), samples: sorted.length };
}
