import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Scheduler, backoffIntervals, nextTick } from '../src/daemon/scheduler.js';
import type { SyncResult } from '../src/daemon/sync.js';
import { pino } from 'pino';
import { silentLogger } from '../src/log.js';

const MIN = 60_000;

test('ticks stay on the fixed grid whatever the sync took', () => {
  const start = 1_000_000;
  const offset = 7 * MIN;
  // A sync that finished 3 s, 29 min or 31 min after its tick: the next tick is still on the grid.
  assert.equal(nextTick(start, offset, 30 * MIN, start + offset + 3000), start + offset + 30 * MIN);
  assert.equal(nextTick(start, offset, 30 * MIN, start + offset + 29 * MIN), start + offset + 30 * MIN);
  assert.equal(nextTick(start, offset, 30 * MIN, start + offset + 31 * MIN), start + offset + 60 * MIN);
  // After the first sync at start (before the account's offset), the next is its first grid slot.
  assert.equal(nextTick(start, offset, 30 * MIN, start + 2000), start + offset + 30 * MIN);
  // Held back: the first grid tick at or after notBefore.
  assert.equal(nextTick(start, offset, 30 * MIN, start + offset + 1000, start + offset + 65 * MIN), start + offset + 90 * MIN);
});

test('failing accounts back off, auth failures far longer, and both are capped', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 9].map((n) => backoffIntervals(n, false)),
    [1, 2, 4, 8, 8, 8],
  );
  assert.deepEqual(
    [1, 2, 3, 4, 5, 9].map((n) => backoffIntervals(n, true)),
    [4, 8, 16, 32, 48, 48],
  );
  assert.equal(backoffIntervals(0, true), 0);
});

function result(exchange: string, account: string, status: 'ok' | 'failed', errorClass?: 'auth'): SyncResult {
  const now = new Date().toISOString();
  return { syncId: crypto.randomUUID(), exchange, account, status, errorClass, streamPosition: 1, globalPosition: 1, startedAt: now, finishedAt: now };
}

test('every account runs at start, then on its own offset; offsets spread across the interval', async (t) => {
  const runs: { account: string; at: number }[] = [];
  const accounts = ['a', 'b', 'c', 'd'].map((name) => ({ exchange: 'bybit', account: name }));
  const scheduler = new Scheduler(accounts, {
    intervalMs: 400,
    logger: silentLogger(),
    sync: async (a) => {
      runs.push({ account: a.account, at: Date.now() });
      return result(a.exchange, a.account, a.account === 'd' ? 'failed' : 'ok', a.account === 'd' ? 'auth' : undefined);
    },
  });
  const t0 = Date.now();
  scheduler.begin();
  t.after(() => scheduler.stop());
  await sleep(1000);
  scheduler.stop();
  const byAccount = (n: string) => runs.filter((r) => r.account === n);
  for (const n of ['a', 'b', 'c', 'd']) assert.ok(byAccount(n)[0]!.at - t0 < 100, `${n} synced at start`);
  // a, b, c synced again within the window; d failed auth and is held back 4 intervals.
  for (const n of ['a', 'b', 'c']) assert.ok(byAccount(n).length >= 2, `${n} ran again (${byAccount(n).length})`);
  assert.equal(byAccount('d').length, 1, 'auth failure held back');
  const next = scheduler.nextRuns();
  assert.equal(next.find((n) => n.account === 'd')!.failures, 1);
});

test('syncs that cannot be recorded are logged once per outage, and the recovery once', async (t) => {
  const lines: { level: number; msg: string; syncsNotRecorded?: number }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  let failure: string | undefined = 'connect ECONNREFUSED 127.0.0.1:5432';
  const accounts = ['a', 'b', 'c'].map((name) => ({ exchange: 'bybit', account: name }));
  const scheduler = new Scheduler(accounts, {
    intervalMs: 60,
    logger,
    sync: async (a) => {
      if (failure) throw new Error(failure);
      return result(a.exchange, a.account, 'ok');
    },
  });
  scheduler.begin();
  t.after(() => scheduler.stop());
  await sleep(400);
  const failed = lines.length;
  assert.ok(failed >= 6, `several syncs failed (${failed})`);
  assert.equal(lines.filter((l) => l.level >= 50).length, 1, 'one error line while the error stays the same');
  failure = 'permission denied for schema exchange_sync';
  await sleep(300);
  assert.equal(lines.filter((l) => l.level >= 50).length, 2, 'a new error is logged once');
  const failedTotal = lines.length;
  failure = undefined;
  await sleep(300);
  scheduler.stop();
  const recovered = lines.filter((l) => l.msg === 'scheduled syncs are recorded again');
  assert.equal(recovered.length, 1);
  assert.ok(recovered[0]!.syncsNotRecorded! >= failedTotal - 1);
  assert.equal(lines.filter((l) => l.level >= 50).length, 2);
});
