// The fleet's schedule: the tick grid (pure), and claims, leases and the fence on the real
// PostgreSQL with the sync itself stood in for (the daemon tests run the real one).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { SyncGuard, SyncResult } from '../src/daemon/sync.js';
import { withTransaction } from '../src/events/db.js';
import type { AccountId } from '../src/events/streams.js';
import { silentLogger } from '../src/log.js';
import { Fleet, type FleetOptions } from '../src/schedule/fleet.js';
import { claimDue, checkLease, fleetStatus, LeaseLostError, register } from '../src/schedule/schedule-store.js';
import { backoffIntervals, nextDue, offsetOf, tickAtOrAfter } from '../src/schedule/ticks.js';
import { createTestDb, type TestDb } from './support/db.js';

const MIN = 60_000;

describe('the tick grid', () => {
  test('ticks stay on the grid whatever the sync took, and a late one never moves the next', () => {
    const offset = 7 * MIN;
    const interval = 30 * MIN;
    const due = tickAtOrAfter(1_800_000_000_000, offset, interval);
    // Finished 3 s, 29 min or 31 min after its tick: the next tick is the grid's.
    assert.equal(nextDue(due, offset, interval, due + 3000), due + interval);
    assert.equal(nextDue(due, offset, interval, due + 29 * MIN), due + interval);
    assert.equal(nextDue(due, offset, interval, due + 31 * MIN), due + 2 * interval, 'a tick already past is skipped, not caught up');
    // Backing off: whole intervals on the same grid.
    assert.equal(nextDue(due, offset, interval, due + 1000, 4), due + 4 * interval);
    // An account's first sync (due at once, off the grid): the next is the grid tick nearest an interval later.
    const first = due + 20 * MIN;
    assert.equal(nextDue(first, offset, interval, first + 1000), due + 2 * interval);
    assert.equal(nextDue(due + 5 * MIN, offset, interval, due + 5 * MIN + 1000), due + interval);
  });

  test('offsets come from the identity: the same on every daemon, spread evenly', () => {
    const id = { exchange: 'bybit', account: 'main' };
    assert.equal(offsetOf(id, 30 * MIN), offsetOf({ ...id }, 30 * MIN));
    const buckets = new Array(10).fill(0) as number[];
    for (let i = 0; i < 1000; i++) buckets[Math.floor(offsetOf({ exchange: 'bybit', account: `a${i}` }, MIN) / (MIN / 10))]! += 1;
    for (const b of buckets) assert.ok(b > 60 && b < 140, `buckets ${buckets.join(',')}`);
  });

  test('failing accounts back off, auth failures far longer, and both are capped', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 9].map((n) => backoffIntervals(n, false)), [1, 2, 4, 8, 8, 8]);
    assert.deepEqual([1, 2, 3, 4, 5, 9].map((n) => backoffIntervals(n, true)), [4, 8, 16, 32, 48, 48]);
    assert.equal(backoffIntervals(0, true), 0);
  });
});

let db: TestDb;
before(async () => {
  db = await createTestDb();
});
after(() => db.drop());

function result(a: AccountId, status: 'ok' | 'failed', errorClass?: 'auth'): SyncResult {
  const now = new Date().toISOString();
  return { syncId: randomUUID(), ...a, status, errorClass, streamPosition: 1, globalPosition: 1, startedAt: now, finishedAt: now };
}

/** A fleet whose "sync" records only the schedule's side of it, under the guard, as the real one does. */
function fleet(accounts: AccountId[], opts: Partial<FleetOptions> & { runs?: { daemon: string; account: string; at: number }[]; outcome?: (a: AccountId) => 'ok' | 'auth' } = {}): Fleet {
  const daemon = opts.daemon ?? randomUUID();
  return new Fleet(db.pool, {
    daemon,
    startedAt: new Date().toISOString(),
    accounts,
    intervalMs: 1000,
    leaseMs: 2000,
    pollMs: 50,
    capacity: 8,
    scheduling: true,
    logger: silentLogger(),
    sync: async (a, _trigger, guard: SyncGuard) => {
      const failed = opts.outcome?.(a) === 'auth';
      await withTransaction(db.pool, async (tx) => {
        await guard.check(tx);
        opts.runs?.push({ daemon, account: a.account, at: Date.now() });
        await guard.advance(tx, { ok: !failed, errorClass: failed ? 'auth' : undefined });
      });
      return result(a, failed ? 'failed' : 'ok', failed ? 'auth' : undefined);
    },
    ...opts,
  });
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ exchange: 'bybit', account: `${prefix}${i}` }));

describe('claims on the shared schedule', () => {
  test('every account runs at once, then once a tick; two daemons never run one tick twice; auth failures back off', async () => {
    const accounts = ids('t', 12);
    const runs: { daemon: string; account: string; at: number }[] = [];
    const outcome = (a: AccountId) => (a.account === 't0' ? ('auth' as const) : ('ok' as const));
    const a = fleet(accounts, { runs, outcome });
    const b = fleet(accounts, { runs, outcome });
    const t0 = Date.now();
    await Promise.all([a.start(), b.start()]);
    await sleep(3300);
    await Promise.all([a.stop(Promise.resolve()), b.stop(Promise.resolve())]);
    for (const acct of accounts) {
      const mine = runs.filter((r) => r.account === acct.account).map((r) => r.at);
      assert.ok(mine[0]! - t0 < 500, `${acct.account} ran at start`);
      if (acct.account === 't0') {
        assert.equal(mine.length, 1, 'auth failure held back 4 intervals');
        continue;
      }
      // At start, then each second on its own grid: 3 or 4 runs, never two in one second.
      assert.ok(mine.length >= 3 && mine.length <= 4, `${acct.account} ran ${mine.length} times`);
      for (let i = 2; i < mine.length; i++) assert.ok(mine[i]! - mine[i - 1]! > 700, `${acct.account}: runs ${mine[i - 1]} and ${mine[i]} in one tick`);
    }
    assert.ok(new Set(runs.map((r) => r.daemon)).size === 2, 'both daemons took part');
    const { accounts: rows } = await fleetStatus(db.pool);
    assert.equal(rows.find((r) => r.account === 't0')?.failures, 1);
    assert.equal(rows.find((r) => r.account === 't0')?.lastErrorClass, 'auth');
  });

  test('a lease taken over: the old holder records nothing (the fence)', async () => {
    const [x] = ids('fence', 1);
    const me = { daemon: 'stalled', startedAt: new Date().toISOString(), ttlMs: 60_000, scheduling: true };
    const other = { ...me, daemon: 'taker' };
    await register(db.pool, me, [x!], 60_000);
    await register(db.pool, other, [x!], 60_000);
    const [mine] = await claimDue(db.pool, 'stalled', 1, 50);
    assert.ok(mine);
    await sleep(100);
    // The lease ran out while "stalled" was stuck; "taker" claims the tick.
    const [theirs] = await claimDue(db.pool, 'taker', 1, 60_000);
    assert.ok(theirs && theirs.fence === mine.fence + 1);
    await assert.rejects(
      withTransaction(db.pool, (tx) => checkLease(tx, 'stalled', mine)),
      LeaseLostError,
    );
    await withTransaction(db.pool, (tx) => checkLease(tx, 'taker', theirs));
  });

  test('an account no live daemon registers any more is not claimed, and status says it is unserved', async () => {
    const [gone] = ids('gone', 1);
    const me = { daemon: `leaving-${randomUUID()}`, startedAt: new Date().toISOString(), ttlMs: 60_000, scheduling: true };
    await register(db.pool, me, [gone!], 60_000);
    assert.equal((await fleetStatus(db.pool)).accounts.find((a) => a.account === gone!.account)?.served, true);
    // The daemon that had its credentials is restarted without it.
    await register(db.pool, me, [], 60_000);
    const row = (await fleetStatus(db.pool)).accounts.find((a) => a.account === gone!.account);
    assert.equal(row?.served, false);
    const other = { ...me, daemon: `other-${randomUUID()}` };
    await register(db.pool, other, [], 60_000);
    assert.deepEqual(await claimDue(db.pool, other.daemon, 100, 1000), [], 'nobody claims it');
  });

  test('the schedule unreachable is logged once while the error stays the same, and its return once', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const f = fleet(ids('down', 2), { logger });
    await f.start();
    await db.pool.query('ALTER TABLE exchange_sync.schedule RENAME TO schedule_gone');
    try {
      await sleep(400);
      // (A sync in flight when the table went may log its own failure to record.)
      assert.equal(lines.filter((l) => l.level >= 50 && l.msg.startsWith('the schedule cannot')).length, 1, JSON.stringify(lines));
    } finally {
      await db.pool.query('ALTER TABLE exchange_sync.schedule_gone RENAME TO schedule');
    }
    await sleep(300);
    await f.stop(Promise.resolve());
    assert.equal(lines.filter((l) => l.msg === 'the schedule is reachable again').length, 1);
  });
});

describe('projector and relay in several daemons: one checkpoint, one holder at a time', () => {
  test('the second waits on the checkpoint row while the first holds it; when the first dies, the second goes on and applies each event once', async () => {
    const { EventStore } = await import('../src/events/store.js');
    const { Subscription } = await import('../src/events/subscription.js');
    const store = new EventStore(db.pool);
    for (let i = 0; i < 30; i++) await store.append(`bybit:ckpt${i % 3}`, [{ type: 'sync_failed', data: { syncId: randomUUID(), trigger: 'schedule', startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), errorClass: 'network', message: 'x', retryable: true, attempt: 1 } }]);
    await db.pool.query('CREATE TABLE ckpt_applied (global_position bigint PRIMARY KEY, by text NOT NULL)');
    let firstPid = 0;
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    let blocked = true;
    const sub = (by: string) =>
      new Subscription(store, undefined, {
        name: 'projection:ckpt_test',
        batchSize: 10,
        pollMs: 50,
        handler: async (events, tx) => {
          if (by === 'first' && blocked) {
            firstPid = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
            blocked = false;
            await held;
          }
          await tx.query(`INSERT INTO ckpt_applied (global_position, by) SELECT unnest($1::bigint[]), $2`, [events.map((e) => e.globalPosition), by]);
        },
      });
    const first = sub('first');
    first.start();
    while (!firstPid) await sleep(20);
    const second = sub('second');
    second.start();
    await sleep(500);
    const during = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ckpt_applied');
    assert.equal(during.rows[0]!.n, 0, 'nothing applied while the first holds the checkpoint');
    // The first daemon dies holding it: its transaction ends with its connection.
    await db.pool.query('SELECT pg_terminate_backend($1)', [firstPid]);
    release();
    await second.caughtUp();
    await first.stop();
    await second.stop();
    const { rows } = await db.pool.query<{ n: number; distinct_n: number }>('SELECT count(*)::int AS n, count(DISTINCT global_position)::int AS distinct_n FROM ckpt_applied');
    assert.deepEqual(rows[0], { n: 30, distinct_n: 30 });
    const cp = await db.pool.query<{ global_position: string }>(`SELECT global_position FROM exchange_sync.checkpoints WHERE subscriber = 'projection:ckpt_test'`);
    assert.equal(Number(cp.rows[0]!.global_position), 30);
  });
});
