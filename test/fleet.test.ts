// A fleet of real daemons (separate processes, `exchange-sync run`) on one database and one
// emulator, which counts every request: each tick of each account synced exactly once, a daemon
// killed with -9 taken over within lease + poll, one stopped with SIGTERM handing over at once;
// and a daemon whose database connection stalls past its lease records nothing.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config.js';
import { Daemon } from '../src/daemon/daemon.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { EventStore, START } from '../src/events/store.js';
import { tryCurrent } from '../src/events/typed-events.js';
import { silentLogger } from '../src/log.js';
import { createTestDb, type TestDb } from './support/db.js';
import { startProxy } from './support/tcp-proxy.js';

const WALLET = '/v5/account/wallet-balance';
const INTERVAL_S = 60;
const LEASE_S = 10;
const POLL_S = 1;

let db: TestDb;
let emu: Emulator;
let dir: string;
const suffix = randomBytes(4).toString('hex');

before(async () => {
  db = await createTestDb();
  emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0 });
  dir = await mkdtemp(join(tmpdir(), 'es-fleet-'));
});
after(async () => {
  await emu.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

const keyOf = (i: number) => `fleet-${suffix}-${i}`;

async function accountsFile(n: number): Promise<string> {
  for (let i = 0; i < n; i++) emu.setAccount({ exchange: 'bybit', apiKey: keyOf(i), secret: `s${i}`, balances: { USDT: { free: `${1000 + i}`, used: '0' } }, positions: [] });
  const path = join(dir, `accounts-${n}.json`);
  await writeFile(path, JSON.stringify(Array.from({ length: n }, (_, i) => ({ name: `a${i}`, exchange: 'bybit', apiKey: keyOf(i), secret: `s${i}`, apiUrl: emu.url }))));
  return path;
}

interface Child {
  proc: ChildProcess;
  stderr: string;
  exited: Promise<number | null>;
}

function daemonProcess(accounts: string): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'run'], {
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      EXCHANGE_SYNC_ACCOUNTS_FILE: accounts,
      EXCHANGE_SYNC_EXCHANGES: 'bybit',
      EXCHANGE_SYNC_INTERVAL_MINUTES: String(INTERVAL_S / 60),
      EXCHANGE_SYNC_LEASE_SECONDS: String(LEASE_S),
      EXCHANGE_SYNC_POLL_SECONDS: String(POLL_S),
      EXCHANGE_SYNC_HISTORY: 'false',
      EXCHANGE_SYNC_HTTP_PORT: '0',
      EXCHANGE_SYNC_LOG_DIR: '',
      EXCHANGE_SYNC_LOG_LEVEL: 'warning',
      EXCHANGE_SYNC_NATS_PREFIX: `es_fleet_${suffix}`,
      EXCHANGE_SYNC_STREAM: `ES_FLEET_${suffix.toUpperCase()}`,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const child: Child = { proc, stderr: '', exited: once(proc, 'exit').then(([code]) => code as number | null) };
  proc.stderr!.on('data', (d: Buffer) => (child.stderr += d.toString()));
  return child;
}

/** Every recorded sync, per account: the times it started. */
async function syncsByAccount(): Promise<Map<string, number[]>> {
  const store = new EventStore(db.pool);
  const out = new Map<string, number[]>();
  let after = START;
  for (;;) {
    const batch = await store.readSelected(after, 10_000, { select: [{ types: ['sync_completed'] }] });
    if (!batch.end) break;
    for (const e of batch.events) {
      const c = tryCurrent(e);
      if (c?.type !== 'sync_completed') continue;
      const list = out.get(e.streamId) ?? [];
      list.push(Date.parse(c.data.startedAt));
      out.set(e.streamId, list);
    }
    after = batch.end;
  }
  return out;
}

/** Waits (up to 20 s) until the daemon holds a lease; how many it holds then. */
async function ownsLeases(daemon: string): Promise<number> {
  for (let i = 0; i < 400; i++) {
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM exchange_sync.schedule WHERE owner = $1`, [daemon]);
    if (rows[0]!.n > 0) return rows[0]!.n;
    await sleep(50);
  }
  return 0;
}

async function daemonIds(): Promise<Map<number, string>> {
  const { rows } = await db.pool.query<{ daemon: string; pid: number }>('SELECT daemon, pid FROM exchange_sync.daemons');
  return new Map(rows.map((r) => [r.pid, r.daemon]));
}

describe('three daemons, 300 accounts, one schedule', () => {
  const N = 300;
  let children: Child[] = [];
  let started = 0;

  before(async () => {
    const file = await accountsFile(N);
    emu.resetRequestCounts();
    started = Date.now();
    children = [0, 1, 2].map(() => daemonProcess(file));
  });
  after(async () => {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
  });

  test('3 minutes at a 1-minute interval: each account fetched once a tick, no tick twice, none missed after the first', async () => {
    await sleep(3 * 60_000 + 5_000);
    const syncs = await syncsByAccount();
    assert.equal(syncs.size, N, `accounts synced: ${syncs.size}`);
    for (let i = 0; i < N; i++) {
      const times = (syncs.get(`bybit:a${i}`) ?? []).sort((a, b) => a - b);
      // Recorded syncs are every fetch there was (one may be in flight now): no call abandoned or made twice.
      const fetched = emu.requestCount({ apiKey: keyOf(i), path: WALLET });
      assert.ok(fetched - times.length >= 0 && fetched - times.length <= 1, `a${i}: wallet fetched ${fetched} times, ${times.length} syncs recorded`);
      // All 300 are due at once at start; three daemons work through them in well under a minute.
      assert.ok(times[0]! - started < 50_000, `a${i}: first sync ${(times[0]! - started) / 1000} s after start`);
      // After the first (at start), one a tick: 3 or 4 syncs in 3 minutes and 5 s.
      assert.ok(times.length >= 3 && times.length <= 5, `a${i}: ${times.length} syncs`);
      for (let k = 2; k < times.length; k++) {
        const gap = (times[k]! - times[k - 1]!) / 1000;
        assert.ok(gap > 45 && gap < 75, `a${i}: ticks ${k - 1} and ${k} ${gap} s apart`);
      }
    }
    for (const c of children) assert.equal(c.proc.exitCode, null, `a daemon exited: ${c.stderr}`);
  });

  test('kill -9 one daemon: the others sync its accounts within lease + poll, no interval synced twice', async () => {
    // A bybit snapshot takes about 2 s (ccxt's rate limiter, 7 requests): at 5 syncs a second a
    // daemon always holds a few leases. The two left have the capacity for all 300.
    const ids = await daemonIds();
    const victim = children[2]!;
    const victimId = ids.get(victim.proc.pid!)!;
    assert.ok(victimId, 'the daemon is registered');
    // Killed while it holds leases (a sync takes about 2 s, so at some instant it holds none).
    await ownsLeases(victimId);
    const killedAt = Date.now();
    victim.proc.kill('SIGKILL');
    await victim.exited;
    // What it held when it died: nobody gives those leases back.
    const { rows: held } = await db.pool.query<{ account: string }>(`SELECT account FROM exchange_sync.schedule WHERE owner = $1`, [victimId]);
    assert.ok(held.length > 0, 'it held leases when it died');
    // Its leases run out after LEASE_S; a survivor claims within POLL_S, then the sync takes ~2 s.
    await sleep((LEASE_S + POLL_S + 3 + 4) * 1000);
    const syncs = await syncsByAccount();
    for (const { account } of held) {
      const after = (syncs.get(`bybit:${account}`) ?? []).filter((t) => t > killedAt - 5000);
      const row = (await db.pool.query(`SELECT owner, fence, due_at, tick_at, now() AS now FROM exchange_sync.schedule WHERE account = $1`, [account])).rows[0];
      assert.ok(after.length >= 1, `${account}, held by the killed daemon (${victimId}), was synced again: ${JSON.stringify(row)}, syncs ${JSON.stringify(syncs.get(`bybit:${account}`)?.map((t) => new Date(t).toISOString()))}, killed at ${new Date(killedAt).toISOString()}`);
      assert.ok(after[0]! - killedAt <= (LEASE_S + POLL_S + 3) * 1000, `${account} taken over ${(after[0]! - killedAt) / 1000} s after the kill`);
    }
    for (const [stream, times] of syncs) {
      const sorted = [...times].sort((a, b) => a - b);
      for (let k = 2; k < sorted.length; k++) assert.ok(sorted[k]! - sorted[k - 1]! > 30_000, `${stream}: two syncs in one interval`);
    }
  });

  test('SIGTERM: the daemon hands its leases back at once and leaves the fleet', async () => {
    const ids = await daemonIds();
    const leaving = children[1]!;
    const id = ids.get(leaving.proc.pid!)!;
    const holding = [{ n: await ownsLeases(id) }];
    leaving.proc.kill('SIGTERM');
    assert.equal(await leaving.exited, 0, leaving.stderr);
    assert.ok(holding[0]!.n > 0, 'it held leases when told to stop');
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM exchange_sync.schedule WHERE owner = $1`, [id]);
    assert.equal(rows[0]!.n, 0, 'no lease left behind');
    const reg = await db.pool.query(`SELECT 1 FROM exchange_sync.schedule_registrations WHERE daemon = $1 UNION ALL SELECT 1 FROM exchange_sync.daemons WHERE daemon = $1`, [id]);
    assert.equal(reg.rows.length, 0, 'registrations and heartbeat row gone');
  });
});

describe('a database connection stalled past the lease', () => {
  test('the stalled daemon records nothing; the one that took over records the sync', async () => {
    const apiKey = `stall-${suffix}`;
    emu.setAccount({ exchange: 'bybit', apiKey, secret: 's', balances: { USDT: { free: '5', used: '0' } }, positions: [] });
    const proxy = await startProxy({ host: '127.0.0.1', port: Number(new URL(db.url).port || 5432) });
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    const env = (url: string, scheduling: boolean) =>
      loadConfig({
        DATABASE_URL: url,
        EXCHANGE_SYNC_EXCHANGES: 'bybit',
        BYBIT_API_KEY: apiKey,
        BYBIT_API_SECRET: 's',
        BYBIT_API_URL: emu.url,
        EXCHANGE_SYNC_ENABLED: String(scheduling),
        EXCHANGE_SYNC_LEASE_SECONDS: '2',
        EXCHANGE_SYNC_POLL_SECONDS: '0.2',
        EXCHANGE_SYNC_HISTORY: 'false',
        EXCHANGE_SYNC_HTTP_PORT: '0',
        EXCHANGE_SYNC_LOG_DIR: '',
        NATS_URL: 'nats://127.0.0.1:1',
      });
    const stalled = new Daemon(env(viaProxy.toString(), false), { logger: silentLogger(), httpHost: '127.0.0.1' });
    const taker = new Daemon(env(db.url, true), { logger: silentLogger(), httpHost: '127.0.0.1' });
    await stalled.start();
    try {
      emu.resetRequestCounts();
      emu.injectFault({ exchange: 'bybit', apiKey, path: WALLET, kind: 'latency', ms: 3000 });
      // Claims the account (a commanded sync), then its database goes quiet mid-fetch.
      const attempt = stalled.sync({ exchange: 'bybit' }).then(
        (r) => ({ ok: true as const, r }),
        (err: Error) => ({ ok: false as const, err }),
      );
      await sleep(500);
      proxy.stall();
      await taker.start();
      // The stalled lease ends after 2 s; the taker claims the tick and records its sync.
      await sleep(8000);
      proxy.resume();
      const outcome = await attempt;
      emu.clearFaults();
      assert.equal(outcome.ok, false, 'the stalled daemon reports its sync as not recorded');
      const events = await new EventStore(db.pool).readStream('bybit:default');
      const completed = events.filter((e) => e.type === 'sync_completed');
      assert.equal(completed.length, 1, `one sync recorded: ${events.map((e) => e.type).join(', ')}`);
      assert.equal(emu.requestCount({ apiKey, path: WALLET }), 2, 'both called the exchange; only one recorded');
    } finally {
      await taker.stop();
      await stalled.stop();
      await proxy.close();
    }
  });
});
