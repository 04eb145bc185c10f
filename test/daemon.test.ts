import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig, type Config } from '../src/config.js';
import { Daemon } from '../src/daemon/daemon.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { START } from '../src/events/store.js';
import { silentLogger } from '../src/log.js';
import { createTestDb, type TestDb } from './support/db.js';

let db: TestDb;
let emu: Emulator;
let nc: NatsConnection;
let jsm: JetStreamManager;
const suffix = randomBytes(4).toString('hex');
const prefix = `es_test_${suffix}`;
const stream = `ES_TEST_${suffix.toUpperCase()}`;

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    EXCHANGE_SYNC_EXCHANGES: 'bybit,binance',
    BYBIT_API_KEY: 'demo-bybit-key',
    BYBIT_API_SECRET: 'demo-bybit-secret',
    BYBIT_API_URL: emu.url,
    BINANCE_API_KEY: 'demo-binance-key',
    BINANCE_API_SECRET: 'demo-binance-secret',
    BINANCE_API_URL: emu.url,
    EXCHANGE_SYNC_NATS_PREFIX: prefix,
    EXCHANGE_SYNC_STREAM: stream,
    EXCHANGE_SYNC_HTTP_PORT: '0',
    EXCHANGE_SYNC_ENABLED: 'false',
    EXCHANGE_SYNC_LOG_DIR: '',
    ...extra,
  };
}

const config = (extra: Record<string, string> = {}): Config => loadConfig(env(extra));

before(async () => {
  db = await createTestDb();
  emu = await startEmulator({ port: 0 });
  nc = await connect({ servers: '127.0.0.1:4222' });
  jsm = await jetstreamManager(nc);
});
after(async () => {
  await jsm.streams.delete(stream).catch(() => {});
  await nc.close();
  await emu.close();
  await db.drop();
});

async function request(subject: string, body: string | Uint8Array, timeout = 20_000): Promise<Msg> {
  return nc.request(`${prefix}.${subject}`, body, { timeout });
}

async function streamMessages() {
  const info = await jsm.streams.info(stream);
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m) out.push({ subject: m.subject, msgId: m.header.get('Nats-Msg-Id'), envelope: m.json<{ id: string; globalPosition: number; type: string }>() });
  }
  return out;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('one daemon', () => {
  let daemon: Daemon;
  before(async () => {
    daemon = new Daemon(config(), { logger: silentLogger(), pollMs: 200 });
    await daemon.start();
    await waitFor('NATS commands', async () => daemon.nats !== undefined && (await request('cmd.status', '', 2000).then(() => true)));
  });
  after(() => daemon.stop());

  test('sync command with wait -> reply after commit -> the events on JetStream, Nats-Msg-Id = event id, in log order', async () => {
    const reply = (await request('cmd.sync', JSON.stringify({ exchange: 'bybit', wait: true }))).json<{
      results: { syncId: string; status: string; globalPosition: number }[];
    }>();
    assert.equal(reply.results.length, 1);
    assert.equal(reply.results[0]!.status, 'ok');
    // Committed before the reply; readable once no older transaction (a projector's, under load) is still open.
    const events = await waitFor('the reply\'s event readable', async () => {
      const read = await daemon.store.readAfter(START, 1000);
      return read.some((e) => e.globalPosition === reply.results[0]!.globalPosition) && read;
    });
    const messages = await waitFor('relay', async () => {
      const m = await streamMessages();
      return m.length === events.length && m;
    });
    assert.deepEqual(
      messages.map((m) => m.msgId),
      events.map((e) => e.id),
    );
    assert.deepEqual(
      messages.map((m) => m.envelope.id),
      events.map((e) => e.id),
    );
    assert.deepEqual(
      messages.map((m) => m.subject),
      events.map((e) => `${prefix}.evt.${e.streamId.replace(':', '.')}.${e.type}`),
    );
  });

  test('every kind of bad command gets an error reply and the next one is served', async () => {
    const cases: [string, string | Uint8Array, string][] = [
      ['malformed JSON', '{"exchange": ', '400'],
      ['wrong type', JSON.stringify({ wait: 'yes' }), '400'],
      ['unknown field', JSON.stringify({ acount: 'x' }), '400'],
      ['bad account token', JSON.stringify({ account: 'a.b' }), '400'],
      ['unknown account', JSON.stringify({ account: 'nobody' }), '404'],
      ['unknown exchange', JSON.stringify({ exchange: 'kraken' }), '404'],
      ['oversized', new Uint8Array(64 * 1024).fill(32), '400'],
      ['not an object', '[1,2,3]', '400'],
    ];
    for (const [what, body, code] of cases) {
      const m = await request('cmd.sync', body);
      assert.equal(m.headers?.get('Nats-Service-Error-Code'), code, what);
      assert.ok((m.headers?.get('Nats-Service-Error') ?? '').length > 0, what);
      const ok = (await request('cmd.status', '')).json<{ accounts: unknown[] }>();
      assert.equal(ok.accounts.length, 2, `status served after ${what}`);
    }
    const good = (await request('cmd.sync', JSON.stringify({ account: 'default', exchange: 'binance', wait: true }))).json<{ results: { status: string }[] }>();
    assert.equal(good.results[0]!.status, 'ok');
  });

  test('status lists accounts with their last sync and the lags', async () => {
    const status = (await request('cmd.status', '')).json<{
      accounts: { exchange: string; account: string; lastSync: { status: string } | null }[];
      lag: Record<string, { events: number }>;
    }>();
    assert.deepEqual(status.accounts.map((a) => `${a.exchange}:${a.account}`).sort(), ['binance:default', 'bybit:default']);
    await waitFor('projection', async () => {
      const s = (await request('cmd.status', '')).json<typeof status>();
      return s.accounts.every((a) => a.lastSync?.status === 'ok') && s;
    });
    assert.ok('relay' in status.lag && 'projections' in status.lag);
    // History coverage per account: the channels the first sync started backfilling.
    const now = (await request('cmd.status', '')).json<{ accounts: { exchange: string; history: { trades: { from: string; to: string; complete: boolean; channels: number } | null } | null }[] }>();
    const bybit = now.accounts.find((a) => a.exchange === 'bybit')!;
    assert.ok(bybit.history?.trades, JSON.stringify(bybit.history));
    assert.equal(bybit.history.trades.channels, 3);
    assert.equal(typeof bybit.history.trades.complete, 'boolean');
    assert.ok(Date.parse(bybit.history.trades.from) < Date.parse(bybit.history.trades.to));
  });

  test('/healthz, /readyz and /metrics answer', async () => {
    const base = daemon.httpUrl!;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200, await ready.clone().text());
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /exchange_sync_syncs_total\{exchange="bybit",account="default",outcome="ok"\} \d+/);
  });
});

describe('processes', () => {
  const cliEnv = (extra: Record<string, string> = {}) => ({ ...process.env, ...env(extra), EXCHANGE_SYNC_LOG_LEVEL: 'error' });

  // One Ctrl-C reaches the terminal's process group and `npm run` forwards it too: the same
  // keypress arrives twice, and must still mean an orderly shutdown.
  for (const [what, signals] of [
    ['SIGTERM', ['SIGTERM']],
    ['one Ctrl-C delivered twice at once (terminal and npm)', ['SIGINT', 'SIGINT']],
  ] as const) {
    test(`${what} during a sync: the sync is recorded whole or not at all, and the exit code is 0`, async () => {
      emu.injectFault({ exchange: 'bybit', kind: 'latency', ms: 1500 });
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'run'], { env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      try {
        await waitFor('daemon commands', () => request('cmd.status', '', 1000).then(() => true));
        const before = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM exchange_sync.events WHERE stream_id = 'bybit:default'`);
        nc.publish(`${prefix}.cmd.sync`, JSON.stringify({ exchange: 'bybit' }));
        await sleep(500);
        for (const signal of signals) child.kill(signal);
        const [code] = await once(child, 'exit');
        assert.equal(code, 0, stderr);
        const { rows } = await db.pool.query<{ type: string; sync_id: string }>(
          `SELECT type, data->>'syncId' AS sync_id FROM exchange_sync.events WHERE stream_id = 'bybit:default' ORDER BY stream_position OFFSET $1`,
          [before.rows[0]!.n],
        );
        // Either nothing (the sync was cut off before its transaction) or the whole sync.
        if (rows.length) {
          assert.match(
            rows.map((r) => r.type).join(','),
            /^snapshot_(recorded|unchanged)(,trades_recorded)?(,transfers_recorded)?,sync_completed$/,
          );
          assert.equal(new Set(rows.map((r) => r.sync_id)).size, 1);
        }
      } finally {
        emu.clearFaults();
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  }

  test('two daemons on one database share commands, never sync one account at once, never publish twice', async () => {
    emu.injectFault({ exchange: 'bybit', kind: 'latency', ms: 100 });
    const daemons = [new Daemon(config(), { logger: silentLogger(), pollMs: 200 }), new Daemon(config(), { logger: silentLogger(), pollMs: 200 })];
    try {
      await Promise.all(daemons.map((d) => d.start()));
      await waitFor('both daemons on NATS', async () => daemons.every((d) => d.nats !== undefined));
      await sleep(300);
      const replies = await Promise.all(
        Array.from({ length: 12 }, (_, i) => request('cmd.sync', JSON.stringify({ exchange: i % 2 ? 'bybit' : 'binance', wait: true })).then((m) => m.json<{ daemon: string; results: { status: string }[] }>())),
      );
      assert.ok(replies.every((r) => r.results.every((x) => x.status === 'ok')));
      assert.equal(new Set(replies.map((r) => r.daemon)).size, 2, 'both daemons answered some commands');

      const { rows } = await db.pool.query<{ exchange: string; account: string; started_at: Date; finished_at: Date }>(
        `SELECT exchange, account, started_at, finished_at FROM exchange_sync.sync_runs ORDER BY exchange, account, started_at`,
      );
      for (let i = 1; i < rows.length; i++) {
        const [a, b] = [rows[i - 1]!, rows[i]!];
        if (a.exchange === b.exchange && a.account === b.account) assert.ok(b.started_at >= a.finished_at, `syncs of ${b.exchange}:${b.account} overlap`);
      }

      const events = await daemons[0]!.store.readAfter(START, 10_000);
      const messages = await waitFor('relay caught up', async () => {
        const m = await streamMessages();
        return m.length >= events.length && m;
      });
      const ids = messages.map((m) => m.msgId);
      assert.equal(new Set(ids).size, ids.length, 'no event published twice');
      assert.deepEqual(new Set(ids), new Set(events.map((e) => e.id)));
    } finally {
      emu.clearFaults();
      await Promise.all(daemons.map((d) => d.stop()));
    }
  });
});
