// `npm run bench`: every benchmark against its baseline, measured in the same run.
// `npm run bench -- --quick` for a small fast run; `--only append,rebuild,sync,history,holdings,fleet,latency,storage,startup,memory` to pick.
import { cpus } from 'node:os';
import { createTestDb, type TestDb } from '../test/support/db.js';
import { benchAppend } from './append.js';
import { benchClaims, benchScheduleLag } from './fleet.js';
import { benchHistory } from './history.js';
import { benchHoldingsLatency, benchHoldingsRebuild, benchPortfolioQuery } from './holdings.js';
import { benchProjectionLatency, benchRelayLatency, foreignFigure, watchForeignTransactions } from './latency.js';
import { benchStartup } from './startup.js';
import { benchMemory } from './memory.js';
import { benchRebuild } from './rebuild.js';
import { report, type Figure } from './report.js';
import { benchStorage } from './storage.js';
import { benchSync } from './sync.js';

const quick = process.argv.includes('--quick');
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? new Set(process.argv[onlyArg + 1]!.split(',')) : undefined;
const want = (name: string) => !only || only.has(name);
const figures: Figure[] = [];
const extra: Record<string, unknown> = {};
const started = performance.now();

async function section(name: string, fn: (db: TestDb) => Promise<void>): Promise<void> {
  if (!want(name)) return;
  const t0 = performance.now();
  // Each benchmark in its own fresh database, so one's log does not slow the next.
  const db = await createTestDb();
  try {
    await fn(db);
  } catch (err) {
    // One failed benchmark must not lose the others' figures; the JSON says what failed.
    console.error(`bench ${name} failed:`, err);
    (extra.failed ??= [] as string[]) && (extra.failed as string[]).push(`${name}: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await db.drop();
  }
  console.error(`bench ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

await section('append', async (db) => {
  figures.push(...(await benchAppend(db.pool, quick ? { appends1: 400, appends100: 40 } : { appends1: 4000, appends100: 200 })));
});
await section('rebuild', async (db) => {
  figures.push(...(await benchRebuild(db.pool, quick ? { accounts: 200, syncs: 20, rounds: 2 } : { accounts: 200, syncs: 100, rounds: 3 })));
});
await section('sync', async (db) => {
  figures.push(...(await benchSync(db.pool, quick ? { accounts: 40, rounds: 1 } : { accounts: 100, rounds: 2 })));
});
await section('history', async (db) => {
  figures.push(...(await benchHistory(db.pool, quick ? { accounts: 8, fills: 300, days: 30 } : { accounts: 20, fills: 1000, days: 60 })));
});
await section('holdings', async (db) => {
  figures.push(...(await benchHoldingsRebuild(db.pool, quick ? { accounts: 20, syncs: 20, fillsPerSync: 50, rounds: 1 } : { accounts: 100, syncs: 100, fillsPerSync: 100, rounds: 2 })));
  // The query and latency figures each on a log of their own.
  for (const part of ['query', 'latency'] as const) {
    const fresh = await createTestDb();
    try {
      if (part === 'query') figures.push(...(await benchPortfolioQuery(fresh.pool, { accounts: quick ? 100 : 1000, samples: quick ? 100 : 1000 })));
      else figures.push(...(await benchHoldingsLatency(fresh.pool, fresh.url, { samples: quick ? 100 : 500 })));
    } finally {
      await fresh.drop();
    }
  }
});
await section('fleet', async (db) => {
  figures.push(...(await benchClaims(db.pool, { accounts: quick ? 10_000 : 100_000, rounds: quick ? 1 : 2 })));
  // Each lag figure on a schedule of its own.
  const lag: Record<number, { p50: number; p99: number; samples: number }> = {};
  for (const daemons of [1, 3]) {
    const fresh = await createTestDb();
    try {
      lag[daemons] = await benchScheduleLag(fresh.url, { daemons, accounts: quick ? 60 : 300, intervalMs: 60_000, seconds: quick ? 30 : 120 });
    } finally {
      await fresh.drop();
    }
  }
  for (const daemons of [1, 3]) {
    figures.push({ name: `schedule lag p99, ${daemons} daemon${daemons > 1 ? 's' : ''} (n=${lag[daemons]!.samples}, zero exchange latency)`, unit: 'ms', value: lag[daemons]!.p99, baselineName: 'p50', baseline: lag[daemons]!.p50, lowerIsBetter: true });
  }
});
await section('latency', async (db) => {
  let watch = watchForeignTransactions(db.pool);
  figures.push(...(await benchProjectionLatency(db.pool, db.url, { samples: quick ? 100 : 500 })));
  figures.push(foreignFigure('projection lat.', await watch.stop()));
  watch = watchForeignTransactions(db.pool);
  figures.push(...(await benchRelayLatency(db.url, { samples: quick ? 40 : 200 })));
  figures.push(foreignFigure('JetStream lat.', await watch.stop()));
});
await section('storage', async (db) => {
  figures.push(...(await benchStorage(db.pool, { syncs: quick ? 30 : 100 })));
});
await section('startup', async (db) => {
  figures.push(...(await benchStartup(db.url, { rounds: quick ? 5 : 15 })));
});
await section('memory', async (db) => {
  const { figures: f, runs } = await benchMemory(db.url, { counts: quick ? [1, 100] : [1, 100, 1000] });
  figures.push(...f);
  extra.memoryRuns = runs;
});

const meta = { when: new Date().toISOString(), node: process.version, cpus: cpus().length, quick, seconds: Math.round((performance.now() - started) / 1000) };
console.log(report(figures, meta, extra));
