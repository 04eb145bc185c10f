// Fault tests: the daemon killed, PostgreSQL restarted, NATS stopped, the exchange answering
// garbage. After each fault the same invariants must hold (see docs/faults.md):
//   - the daemon still serves (cmd.status answers) and catches up by itself,
//   - the JetStream stream holds every logged event exactly once (Nats-Msg-Id = event id),
//   - the projections equal a rebuild from the log,
//   - no sync is half-recorded: per syncId either snapshot_* + sync_completed, or one sync_failed.
// Servers that are stopped or restarted are private copies (test/support/{pg,nats}-server.ts).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '../../src/config.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { createPool, type Pool } from '../../src/events/db.js';
import { migrate } from '../../src/events/migrate.js';
import { EventStore } from '../../src/events/store.js';
import { silentLogger } from '../../src/log.js';
import { rebuild } from '../../src/projections/index.js';
import { createTestDb } from '../support/db.js';
import { startNatsServer } from '../support/nats-server.js';
import { startPgServer } from '../support/pg-server.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const SHARED_NATS = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

// ---------------------------------------------------------------------------------------------
// Harness

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms: number, everyMs = 200): Promise<T> {
  const until = Date.now() + ms;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

interface World {
  dbUrl: string;
  natsUrl: string;
  prefix: string;
  stream: string;
  emu: Emulator;
  pool: Pool;
  store: EventStore;
  nc: NatsConnection;
  jsm: JetStreamManager;
  accountsFile: string;
  logDir: string;
  env(extra?: Record<string, string>): Record<string, string>;
}

/** Sets up an emulator with `perExchange` accounts on each exchange, a migrated database, a NATS connection; all undone in t.after. */
async function makeWorld(
  cleanup: (fn: () => Promise<unknown>) => void,
  opts: { dbUrl: string; natsUrl: string; perExchange: number },
): Promise<World> {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `es_fault_${suffix}`;
  const stream = `ES_FAULT_${suffix.toUpperCase()}`;
  const emu = await startEmulator({ port: 0 });
  cleanup(() => emu.close());
  const accounts: unknown[] = [];
  for (const exchange of ['bybit', 'binance'] as const) {
    const demo = emu.account(exchange, `demo-${exchange}-key`);
    for (let i = 0; i < opts.perExchange; i++) {
      const apiKey = `fault-${exchange}-${i}`;
      const secret = `fault-${exchange}-secret-${i}`;
      const bal = (b: Record<string, { free: string; used: string }>) =>
        Object.fromEntries(Object.entries(b).map(([k, v]) => [k, { free: v.free, used: v.used }]));
      emu.setAccount({
        exchange,
        apiKey,
        secret,
        balances: bal(demo.balances),
        ...(exchange === 'binance' ? { futuresBalances: bal(demo.futuresBalances) } : {}),
        positions: demo.positions.map((p) => ({ symbol: p.symbol, side: p.side, contracts: p.contracts, entryPrice: p.entryPrice, leverage: p.leverage, marginMode: p.marginMode })),
      });
      accounts.push({ name: `a${i}`, exchange, apiKey, secret, apiUrl: emu.url });
    }
  }
  const tmp = await mkdtemp(join(tmpdir(), 'es-fault-'));
  cleanup(() => rm(tmp, { recursive: true, force: true }));
  const accountsFile = join(tmp, 'accounts.json');
  await writeFile(accountsFile, JSON.stringify(accounts));
  const pool = createPool(opts.dbUrl, { max: 5 });
  cleanup(() => pool.end());
  await migrate(pool);
  const nc = await connect({ servers: opts.natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const jsm = await jetstreamManager(nc);
  cleanup(async () => {
    await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  });
  const w: World = {
    dbUrl: opts.dbUrl,
    natsUrl: opts.natsUrl,
    prefix,
    stream,
    emu,
    pool,
    store: new EventStore(pool),
    nc,
    jsm,
    accountsFile,
    logDir: join(tmp, 'logs'),
    env: (extra = {}) => ({
      DATABASE_URL: opts.dbUrl,
      NATS_URL: opts.natsUrl,
      EXCHANGE_SYNC_EXCHANGES: 'bybit,binance',
      EXCHANGE_SYNC_ACCOUNTS_FILE: accountsFile,
      EXCHANGE_SYNC_NATS_PREFIX: prefix,
      EXCHANGE_SYNC_STREAM: stream,
      EXCHANGE_SYNC_HTTP_PORT: '0',
      EXCHANGE_SYNC_INTERVAL_MINUTES: '0.05',
      EXCHANGE_SYNC_LOG_DIR: join(tmp, 'logs'),
      EXCHANGE_SYNC_LOG_LEVEL: 'info',
      ...extra,
    }),
  };
  return w;
}

interface Child {
  proc: ChildProcess;
  stderr(): string;
}

function spawnDaemon(w: World, extra: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'run'], {
    cwd: ROOT,
    env: { ...process.env, ...w.env(extra) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err = (err + d).slice(-8000)));
  return { proc, stderr: () => err };
}

async function exitOf(child: Child, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const p = child.proc;
  if (p.exitCode !== null || p.signalCode !== null) return { code: p.exitCode, signal: p.signalCode };
  return waitFor(
    'daemon process exit',
    () =>
      new Promise<{ code: number | null; signal: NodeJS.Signals | null } | false>((resolve) => {
        if (p.exitCode !== null || p.signalCode !== null) return resolve({ code: p.exitCode, signal: p.signalCode });
        const t = setTimeout(() => resolve(false), 500);
        p.once('exit', (code, signal) => {
          clearTimeout(t);
          resolve({ code, signal });
        });
      }),
    ms,
    0,
  );
}

function killNow(child: Child | undefined): Promise<unknown> {
  if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return Promise.resolve();
  child.proc.kill('SIGKILL');
  return exitOf(child, 10_000);
}

interface Status {
  daemon: { id: string; syncsInFlight: number };
  accounts: { exchange: string; account: string; lastSync: { status: string; errorClass: string | null } | null }[];
  lag: { relay: { events: number }; projections: { events: number }; heldBack: { events: number } };
}

async function status(w: World, timeout = 3000): Promise<Status> {
  const m = await w.nc.request(`${w.prefix}.cmd.status`, '', { timeout });
  if (m.headers?.get('Nats-Service-Error-Code')) throw new Error(`status error ${m.headers.get('Nats-Service-Error-Code')}: ${m.string()}`);
  return m.json<Status>();
}

async function countEvents(w: World, where = 'true'): Promise<number> {
  const { rows } = await w.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM exchange_sync.events WHERE ${where}`);
  return rows[0]!.n;
}

// Lag counts only events below the read horizon, which a transaction open anywhere on the server
// holds back: "caught up" is lag 0 with nothing held back.
const caughtUp = (s: Status) => s.lag.relay.events === 0 && s.lag.projections.events === 0 && s.lag.heldBack.events === 0;

/** The daemon answers cmd.status and its relay and projector have caught up with the log by themselves. */
async function daemonSettled(w: World, ms: number): Promise<Status> {
  return waitFor(
    'the daemon to answer cmd.status with relay and projection lag 0 and nothing held back',
    async () => {
      const s = await status(w);
      return caughtUp(s) && s;
    },
    ms,
  );
}

/** Fires `n` sync commands without waiting (the burst), and returns. */
function burst(w: World, n: number): void {
  for (let i = 0; i < n; i++) {
    const body = i % 3 === 0 ? {} : { exchange: i % 2 ? 'bybit' : 'binance', account: `a${i % 4}` };
    w.nc.publish(`${w.prefix}.cmd.sync`, JSON.stringify(body));
  }
}

async function streamMsgIds(w: World): Promise<string[]> {
  const info = await w.jsm.streams.info(w.stream);
  const ids: string[] = [];
  if (info.state.messages === 0) return ids;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await w.jsm.streams.getMessage(w.stream, { seq });
    if (m) ids.push(m.header.get('Nats-Msg-Id'));
  }
  return ids;
}

async function dumpProjections(pool: Pool): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of ['balances', 'positions', 'sync_runs']) {
    const { rows } = await pool.query<{ j: unknown }>(`SELECT to_jsonb(t) AS j FROM exchange_sync.${table} t`);
    out[table] = rows.map((r) => JSON.stringify(r.j)).sort();
  }
  return out;
}

/**
 * With the daemon stopped: a fresh daemon without scheduling finishes relaying and projecting
 * whatever the stopped one left (as any restart would), then every invariant is checked.
 */
async function assertInvariants(w: World, label: string): Promise<void> {
  const checker = new Daemon(loadConfig(w.env({ EXCHANGE_SYNC_ENABLED: 'false', EXCHANGE_SYNC_LOG_DIR: '' })), { logger: silentLogger(), pollMs: 100 });
  try {
    await checker.start();
    await waitFor(
      `${label}: catch-up daemon relay and projections at lag 0, nothing held back`,
      async () => {
        if (!checker.nats) return false;
        return caughtUp((await checker.status()) as Status);
      },
      30_000,
    );
  } finally {
    await checker.stop();
  }

  // The stream holds every logged event exactly once.
  const { rows: events } = await w.pool.query<{ event_id: string }>('SELECT event_id::text FROM exchange_sync.events ORDER BY global_position');
  const ids = await streamMsgIds(w);
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(dupes, [], `${label}: events published more than once`);
  const logged = new Set(events.map((e) => e.event_id));
  const inStream = new Set(ids);
  assert.deepEqual([...logged].filter((id) => !inStream.has(id)), [], `${label}: logged events missing from the stream`);
  assert.deepEqual([...inStream].filter((id) => !logged.has(id)), [], `${label}: stream messages that are not logged events`);
  assert.equal(ids.length, events.length);

  // No sync is half-recorded.
  const { rows: syncs } = await w.pool.query<{ sync_id: string; types: string[]; streams: number }>(
    `SELECT data->>'syncId' AS sync_id, array_agg(type ORDER BY global_position) AS types, count(DISTINCT stream_id)::int AS streams
     FROM exchange_sync.events GROUP BY 1`,
  );
  // A whole sync: a failure alone, or a snapshot, its history (if any), and its completion.
  const whole = /^(sync_failed|snapshot_(recorded|unchanged)(,trades_recorded)?(,transfers_recorded)?,sync_completed)$/;
  const bad = syncs.filter((s) => s.streams !== 1 || !whole.test(s.types.join(',')));
  assert.deepEqual(bad, [], `${label}: half-recorded syncs`);

  // Projections equal a rebuild from the log.
  const live = await dumpProjections(w.pool);
  await rebuild(w.store);
  const rebuilt = await dumpProjections(w.pool);
  assert.deepEqual(live, rebuilt, `${label}: projections differ from a rebuild`);
  assert.equal(live.sync_runs!.length, syncs.length, `${label}: one sync_runs row per logged sync`);
}

async function logTail(w: World, lines = 60): Promise<string> {
  try {
    const files = (await readdir(w.logDir)).sort();
    const text = (await Promise.all(files.map((f) => readFile(join(w.logDir, f), 'utf8')))).join('');
    return text.split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no log: ${(err as Error).message})`;
  }
}

async function stopDaemon(child: Child, label: string): Promise<void> {
  child.proc.kill('SIGTERM');
  const { code, signal } = await exitOf(child, 45_000);
  assert.equal(code, 0, `${label}: daemon exit after SIGTERM: code ${code} signal ${signal}\n${child.stderr()}`);
}

// ---------------------------------------------------------------------------------------------

describe('faults', () => {
  test('kill -9 of the daemon during a burst of syncs, twice: restart settles, nothing lost, duplicated or half-recorded', async (t) => {
    const cleanups: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const fn of cleanups.reverse()) await fn().catch(() => {});
    });
    const db = await createTestDb({ migrate: false });
    cleanups.push(() => db.drop());
    const w = await makeWorld((fn) => cleanups.push(fn), { dbUrl: db.url, natsUrl: SHARED_NATS, perExchange: 4 });
    // A little latency keeps syncs in flight when the kill comes.
    w.emu.injectFault({ exchange: 'bybit', kind: 'latency', ms: 150 });
    w.emu.injectFault({ exchange: 'binance', kind: 'latency', ms: 150 });

    let child: Child | undefined;
    cleanups.push(() => killNow(child));
    for (let round = 1; round <= 2; round++) {
      child = spawnDaemon(w);
      await waitFor(`round ${round}: daemon answering cmd.status`, () => status(w, 1000), 30_000);
      const before = await countEvents(w);
      burst(w, 30);
      // Kill while syncs are running and events are being recorded.
      await waitFor(`round ${round}: syncs recorded during the burst`, async () => (await countEvents(w)) >= before + 6, 20_000, 50);
      await waitFor(`round ${round}: syncs in flight`, async () => (await status(w, 1000)).daemon.syncsInFlight > 0, 10_000, 20);
      child.proc.kill('SIGKILL');
      const { signal } = await exitOf(child, 10_000);
      assert.equal(signal, 'SIGKILL');
    }

    child = spawnDaemon(w);
    await waitFor('restarted daemon answering cmd.status', () => status(w, 1000), 30_000);
    burst(w, 10);
    const atRestart = await countEvents(w);
    await waitFor('restarted daemon recording syncs', async () => (await countEvents(w, `type = 'sync_completed'`)) > 0 && (await countEvents(w)) >= atRestart + 8, 30_000);
    const s = await daemonSettled(w, 30_000);
    assert.equal(s.accounts.length, 8);
    await stopDaemon(child, 'after kill -9');
    await assertInvariants(w, 'kill -9');
  });

  // Found by this test: a pool client checked out across an exchange fetch or a NATS publish had
  // no 'error' listener, so PostgreSQL terminating it (57P01) killed the daemon (docs/faults.md).
  test('PostgreSQL restarted (pg_ctl restart -m fast) under load: the daemon recovers by itself', async (t) => {
    const cleanups: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const fn of cleanups.reverse()) await fn().catch(() => {});
    });
    const pg = await startPgServer();
    cleanups.push(() => pg.dispose());
    const w = await makeWorld((fn) => cleanups.push(fn), { dbUrl: pg.url, natsUrl: SHARED_NATS, perExchange: 3 });
    w.emu.injectFault({ exchange: 'bybit', kind: 'latency', ms: 100 });
    const child = spawnDaemon(w);
    cleanups.push(() => killNow(child));
    await waitFor('daemon answering cmd.status', () => status(w, 1000), 30_000);
    await waitFor('first syncs recorded', async () => (await countEvents(w, `type = 'sync_completed'`)) >= 6, 30_000);

    for (let round = 1; round <= 2; round++) {
      burst(w, 12);
      await sleep(300);
      await pg.restart('fast');
      // Let the daemon hit the dead connections: scheduled syncs every 3 s, plus commands.
      burst(w, 12);
      const since = await countEvents(w, `type = 'sync_completed'`);
      await waitFor(
        `round ${round}: syncs recorded again after the restart, without restarting the daemon`,
        async () => (await countEvents(w, `type = 'sync_completed'`)) >= since + 6,
        45_000,
      ).catch(async (err) => {
        throw new Error(`${(err as Error).message}\n--- daemon log (tail) ---\n${await logTail(w)}\n--- stderr ---\n${child.stderr()}`);
      });
    }
    assert.equal(child.proc.exitCode, null, `the daemon exited:\n${child.stderr()}`);
    await daemonSettled(w, 30_000);
    // Commands with wait work end to end against the restarted server.
    const reply = (await w.nc.request(`${w.prefix}.cmd.sync`, JSON.stringify({ exchange: 'binance', wait: true }), { timeout: 20_000 })).json<{
      results: { status: string }[];
    }>();
    assert.deepEqual(
      reply.results.map((r) => r.status),
      ['ok', 'ok', 'ok'],
    );
    await stopDaemon(child, 'after PostgreSQL restart');
    await assertInvariants(w, 'PostgreSQL restart');
  });

  test('NATS stopped for 30 s while syncs go on: afterwards the stream holds every event once', async (t) => {
    const cleanups: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const fn of cleanups.reverse()) await fn().catch(() => {});
    });
    const db = await createTestDb({ migrate: false });
    cleanups.push(() => db.drop());
    const nats = await startNatsServer();
    cleanups.push(() => nats.dispose());
    const w = await makeWorld((fn) => cleanups.push(fn), { dbUrl: db.url, natsUrl: nats.url, perExchange: 3 });
    const child = spawnDaemon(w);
    cleanups.push(() => killNow(child));
    await waitFor('daemon answering cmd.status', () => status(w, 1000), 30_000);
    await waitFor('first events relayed', async () => (await streamMsgIds(w)).length >= 6, 30_000);

    await nats.stop();
    const atStop = await countEvents(w);
    await sleep(30_000);
    const duringOutage = (await countEvents(w)) - atStop;
    assert.ok(duringOutage >= 12, `syncs go on while NATS is down (${duringOutage} events recorded in 30 s)`);
    await nats.start();

    await waitFor('test connection back', async () => !w.nc.isClosed() && (await w.jsm.streams.info(w.stream).then(() => true)), 30_000);
    const s = await daemonSettled(w, 45_000);
    assert.equal(s.accounts.length, 6);
    // Every event recorded by now reaches the stream, published by the daemon that lived through the outage.
    const { rows } = await w.pool.query<{ event_id: string }>('SELECT event_id::text FROM exchange_sync.events');
    await waitFor(
      'the live daemon to relay the outage backlog',
      async () => {
        const ids = new Set(await streamMsgIds(w));
        return rows.every((r) => ids.has(r.event_id));
      },
      30_000,
      500,
    );
    await stopDaemon(child, 'after NATS outage');
    await assertInvariants(w, 'NATS outage');
  });

  test('1,000 malformed (truncated) exchange replies plus 5xx: every sync fails as bad_response/exchange_down, balances untouched, daemon serves', async (t) => {
    const cleanups: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const fn of cleanups.reverse()) await fn().catch(() => {});
    });
    const db = await createTestDb({ migrate: false });
    cleanups.push(() => db.drop());
    const w = await makeWorld((fn) => cleanups.push(fn), { dbUrl: db.url, natsUrl: SHARED_NATS, perExchange: 6 });
    // In-process so the retry backoff can be short: 1,000 bad replies in seconds, not minutes.
    const daemon = new Daemon(loadConfig(w.env({ EXCHANGE_SYNC_ENABLED: 'false', EXCHANGE_SYNC_LOG_DIR: '' })), {
      logger: silentLogger(),
      pollMs: 100,
      exchange: { retryBaseMs: 20, retryMaxMs: 100, maxAttempts: 3 },
    });
    cleanups.push(() => daemon.stop());
    await daemon.start();
    await waitFor('daemon answering cmd.status', () => status(w, 1000), 30_000);

    type Reply = { results: { syncId: string; status: string; errorClass?: string; retryable?: boolean; exchange: string; account: string }[] };
    const syncAll = async () => (await w.nc.request(`${w.prefix}.cmd.sync`, JSON.stringify({ wait: true }), { timeout: 30_000 })).json<Reply>();
    const first = await syncAll();
    assert.equal(first.results.length, 12);
    assert.ok(first.results.every((r) => r.status === 'ok'));
    await daemonSettled(w, 20_000);
    const { balances: balancesBefore, positions: positionsBefore } = await dumpProjections(w.pool);
    assert.ok(balancesBefore!.length > 0);
    const lastOkPosition = Number((await w.pool.query<{ p: string }>('SELECT max(global_position) AS p FROM exchange_sync.events')).rows[0]!.p);

    // First registered terminal fault wins: binance gets 40 × 502 first, then both get 500
    // truncated 200 replies each, then 503 for ever (so no sync can succeed until cleared).
    w.emu.resetRequestCounts();
    w.emu.injectFault({ exchange: 'binance', kind: 'http_5xx', status: 502, count: 40 });
    w.emu.injectFault({ exchange: 'bybit', kind: 'malformed', count: 500 });
    w.emu.injectFault({ exchange: 'binance', kind: 'malformed', count: 500 });
    w.emu.injectFault({ exchange: 'bybit', kind: 'http_5xx', status: 503 });
    w.emu.injectFault({ exchange: 'binance', kind: 'http_5xx', status: 503 });

    const results: Reply['results'] = [];
    const deadline = Date.now() + 120_000;
    while (w.emu.requestCount({ exchange: 'bybit' }) < 500 || w.emu.requestCount({ exchange: 'binance' }) < 540) {
      assert.ok(Date.now() < deadline, `1,000 malformed replies not used up in 120 s (bybit ${w.emu.requestCount({ exchange: 'bybit' })}, binance ${w.emu.requestCount({ exchange: 'binance' })})`);
      const replies = await Promise.all([syncAll(), syncAll(), status(w, 5000).then(() => undefined)]);
      for (const r of replies) if (r) results.push(...r.results);
    }
    assert.ok(results.length >= 24);
    const allowed = new Set(['bad_response', 'exchange_down']);
    assert.deepEqual(
      results.filter((r) => r.status !== 'failed' || !allowed.has(r.errorClass ?? '') || r.retryable !== true),
      [],
      'every sync during the storm failed with a retryable bad_response/exchange_down',
    );
    assert.ok(results.some((r) => r.errorClass === 'bad_response'), 'truncated replies are classed bad_response');

    await daemonSettled(w, 20_000);
    const { rows: after } = await w.pool.query<{ type: string; sync_id: string; error_class: string | null; retryable: boolean | null }>(
      `SELECT type, data->>'syncId' AS sync_id, data->>'errorClass' AS error_class, (data->>'retryable')::boolean AS retryable FROM exchange_sync.events WHERE global_position > $1`,
      [lastOkPosition],
    );
    const loggedIds = new Set(after.map((e) => e.sync_id));
    assert.deepEqual(
      [...new Set(results.map((r) => r.syncId))].filter((id) => !loggedIds.has(id)),
      [],
      'every failed sync a reply names is logged',
    );
    assert.deepEqual(
      after.filter((e) => e.type !== 'sync_failed' || !allowed.has(e.error_class ?? '') || e.retryable !== true),
      [],
      'only retryable sync_failed events were logged during the storm',
    );
    const during = await dumpProjections(w.pool);
    assert.deepEqual(during.balances, balancesBefore, 'balances from before the storm are untouched');
    assert.deepEqual(during.positions, positionsBefore, 'positions from before the storm are untouched');
    const s = await status(w);
    assert.ok(s.accounts.every((a) => a.lastSync?.status === 'failed'));

    // Faults gone: the same daemon syncs every account again.
    w.emu.clearFaults();
    const recovered = await syncAll();
    assert.ok(recovered.results.every((r) => r.status === 'ok'), JSON.stringify(recovered.results));
    await daemonSettled(w, 20_000);
    await daemon.stop();
    await assertInvariants(w, 'malformed replies');
  });
});
