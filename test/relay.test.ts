import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../src/daemon/nats.js';
import { CONTENT_ENCODING, decodePayload } from '../src/daemon/relay-payload.js';
import { ensureStream } from '../src/daemon/jetstream-stream.js';
import { CURSOR_HEADER, Relay, relaySubscriberName, startRelay, type RelayOptions } from '../src/daemon/relay.js';
import type { EventData } from '../src/events/catalog.js';
import { toEnvelope } from '../src/events/envelope.js';
import { EventStore, START, cursorOf, type NewEvent, type RecordedEvent } from '../src/events/store.js';
import { Notifier } from '../src/events/subscription.js';
import { silentLogger } from '../src/log.js';
import { createTestDb, type TestDb } from './support/db.js';
import { startNatsServer, type TestNatsServer } from './support/nats-server.js';

const SHARED_NATS = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = silentLogger();

const unique = () => randomBytes(4).toString('hex');

function natsConfig(url: string) {
  return { url, prefix: 'unused', stream: 'unused', auth: {} };
}

function completed(n = 0): NewEvent {
  const at = new Date().toISOString();
  const data: EventData<'sync_completed'> = { syncId: randomUUID(), trigger: 'schedule', startedAt: at, finishedAt: at, fetchMs: n, attempts: 1, balances: 3, positions: 0, changed: false };
  return { type: 'sync_completed', data, metadata: { n } };
}

function failed(): NewEvent {
  const at = new Date().toISOString();
  const data: EventData<'sync_failed'> = { syncId: randomUUID(), trigger: 'command', startedAt: at, finishedAt: at, errorClass: 'network', message: 'ECONNRESET', retryable: true, attempt: 3 };
  return { type: 'sync_failed', data };
}

async function logEvents(store: EventStore): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  for (let cursor = START; ; ) {
    const batch = await store.readAfter(cursor, 1000);
    if (batch.length === 0) return all;
    all.push(...batch);
    cursor = cursorOf(batch[batch.length - 1]!);
  }
}

async function streamMessages(jsm: JetStreamManager, name: string): Promise<StoredMsg[]> {
  const { state } = await jsm.streams.info(name);
  const msgs: StoredMsg[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(name, { seq });
    if (m) msgs.push(m);
  }
  return msgs;
}

/** The stream holds exactly the log: once each, in log order, on the right subject, with the envelope. */
async function assertStreamIsLog(jsm: JetStreamManager, name: string, prefix: string, store: EventStore): Promise<void> {
  const [msgs, events] = await Promise.all([streamMessages(jsm, name), logEvents(store)]);
  const ids = msgs.map((m) => m.header.get('Nats-Msg-Id'));
  assert.equal(new Set(ids).size, ids.length, 'no event twice in the stream');
  assert.deepEqual(ids, events.map((e) => e.id), 'stream order is log order');
  msgs.forEach((m, i) => {
    const e = events[i]!;
    const [exchange, account] = e.streamId.split(':');
    assert.equal(m.subject, `${prefix}.evt.${exchange}.${account}.${e.type}`);
    assert.equal(m.header.get(CURSOR_HEADER), `${e.transactionId}:${e.globalPosition}`);
    assert.deepEqual(decodePayload(m.data, m.header), toEnvelope(e));
  });
}

async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Env {
  db: TestDb;
  store: EventStore;
  notifier: Notifier;
  nc: NatsConnection;
  jsm: JetStreamManager;
  prefix: string;
  streamName: string;
  relay(extra?: Partial<RelayOptions>): Promise<Relay>;
  close(): Promise<void>;
}

async function setUp(natsUrl = SHARED_NATS): Promise<Env> {
  const db = await createTestDb();
  const store = new EventStore(db.pool);
  const notifier = new Notifier(db.url);
  const nc = await connectNats(natsConfig(natsUrl), logger, { waitOnFirstConnect: false });
  const jsm = await jetstreamManager(nc);
  const id = unique();
  const prefix = `es_test_${id}`;
  const streamName = `ES_TEST_${id}`;
  const relays: Relay[] = [];
  return {
    db,
    store,
    notifier,
    nc,
    jsm,
    prefix,
    streamName,
    async relay(extra = {}) {
      const r = await startRelay({ nc, store, notifier, prefix, streamName, logger, pollMs: 200, ...extra });
      relays.push(r);
      return r;
    },
    async close() {
      for (const r of relays) await r.stop();
      await jsm.streams.delete(streamName).catch(() => {});
      await nc.close();
      await notifier.stop();
      await db.drop();
    },
  };
}

describe('relay to the shared NATS', () => {
  let env: Env;
  let relay: Relay;
  before(async () => {
    env = await setUp();
  });
  after(async () => {
    await env?.close();
  });

  test('each event once, in log order, on <prefix>.evt.<exchange>.<account>.<type>, Nats-Msg-Id = event id, payload = envelope', async () => {
    const { store } = env;
    // Concurrent appends on several accounts, so commit order and global position order differ.
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => store.append('bybit:alpha', [completed(i)])),
      ...Array.from({ length: 10 }, (_, i) => store.append('binance:beta-2', [completed(i), failed()])),
      store.append('bybit:gamma_3', [failed()]),
    ]);
    const before = await new EventStore(env.db.pool).readAfter(START, 1000);
    assert.equal(before.length, 31);
    relay = await env.relay();
    const lagBefore = await relay.lag();
    assert.equal(lagBefore.events, 31);
    assert.ok(lagBefore.seconds > 0);
    await within(10_000, relay.caughtUp(), 'relay catch-up');
    await assertStreamIsLog(env.jsm, env.streamName, env.prefix, store);
    assert.deepEqual(await relay.lag(), { events: 0, seconds: 0 });
    assert.equal(relay.stats.relayed, 31);
    assert.equal(relay.stats.lastGlobalPosition, Math.max(...before.map((e) => e.globalPosition)));

    const info = await env.jsm.streams.info(env.streamName);
    assert.deepEqual(info.config.subjects, [`${env.prefix}.evt.>`]);
    assert.equal(info.config.duplicate_window, 120_000_000_000);
    assert.equal(info.config.storage, 'file');

    // Live: a new event is relayed on notification, not on the next poll only.
    await store.append('bybit:alpha', [completed(99)]);
    await within(5_000, relay.caughtUp(), 'live relay');
    assert.equal(relay.stats.relayed, 32);
    await assertStreamIsLog(env.jsm, env.streamName, env.prefix, store);
  });

  test('restart after a crash before the checkpoint commit resumes from the stream: nothing published twice', async () => {
    await relay.stop();
    // What a crash between the acks and the checkpoint's COMMIT leaves behind.
    await env.db.pool.query(`UPDATE exchange_sync.checkpoints SET transaction_id = '0', global_position = 0 WHERE subscriber = $1`, [relaySubscriberName(env.streamName)]);
    relay = await env.relay();
    // The checkpoint was moved to the stream's last event before the first pass.
    assert.deepEqual(await relay.lag(), { events: 0, seconds: 0 });
    await env.store.append('binance:beta-2', [completed(100), completed(101)]);
    await within(5_000, relay.caughtUp(), 'catch-up after restart');
    // Not even a duplicate-window hit: the old events were never sent again.
    assert.deepEqual({ relayed: relay.stats.relayed, duplicates: relay.stats.duplicates }, { relayed: 2, duplicates: 0 });
    await assertStreamIsLog(env.jsm, env.streamName, env.prefix, env.store);
  });

  test('checkpoint behind the stream under a running relay (a pass that was acked, then not committed): the next pass skips, never resends', async () => {
    const before = relay.stats;
    // As another daemon's pass leaves it when its COMMIT fails after the acks (PostgreSQL gone for
    // longer than the duplicate window would cover).
    await env.db.pool.query(`UPDATE exchange_sync.checkpoints SET transaction_id = '0', global_position = 0 WHERE subscriber = $1`, [relaySubscriberName(env.streamName)]);
    await env.store.append('bybit:alpha', [completed(150)]);
    await within(5_000, relay.caughtUp(), 'catch-up after the checkpoint moved back');
    const s = relay.stats;
    assert.equal(s.duplicates - before.duplicates, 0, 'nothing sent twice, not even into the duplicate window');
    assert.equal(s.relayed - before.relayed, 1);
    assert.equal(s.skipped - before.skipped, 34);
    await assertStreamIsLog(env.jsm, env.streamName, env.prefix, env.store);
  });

  test('a stream deleted while the relay runs is recreated; the checkpoint stays, so only new events go to it', async () => {
    await env.jsm.streams.delete(env.streamName);
    const events = (await env.store.append('bybit:alpha', [completed(200), failed()])).events;
    await within(10_000, relay.caughtUp(), 'relay after stream deletion');
    assert.ok(relay.stats.failedPasses >= 1, 'the publish to the missing stream failed and was retried');
    const msgs = await streamMessages(env.jsm, env.streamName);
    assert.deepEqual(
      msgs.map((m) => m.header.get('Nats-Msg-Id')),
      events.map((e) => e.id),
    );
  });

  test('a purged stream: the checkpoint stays, a restarted relay publishes only new events', async () => {
    await relay.stop();
    await env.jsm.streams.purge(env.streamName);
    relay = await env.relay();
    const appended = await env.store.append('bybit:gamma_3', [completed(300)]);
    await within(5_000, relay.caughtUp(), 'relay after purge');
    const msgs = await streamMessages(env.jsm, env.streamName);
    assert.deepEqual(
      msgs.map((m) => m.header.get('Nats-Msg-Id')),
      appended.events.map((e) => e.id),
    );
  });

  test('an existing stream with other subjects and a short duplicate window is updated', async () => {
    const name = `ES_TEST_UPD_${unique()}`;
    await env.jsm.streams.add({ name, subjects: [`${env.prefix}_old.x.>`], duplicate_window: 10_000_000_000, max_age: 3600 * 1e9 });
    try {
      const r = await ensureStream(env.jsm, { name, subjects: [`${env.prefix}_upd.evt.>`] });
      assert.equal(r.action, 'updated');
      assert.deepEqual(r.info.config.subjects, [`${env.prefix}_upd.evt.>`]);
      assert.equal(r.info.config.duplicate_window, 120_000_000_000);
      assert.equal(r.info.config.max_age, 3600 * 1e9, "the operator's retention is kept");
      assert.equal((await ensureStream(env.jsm, { name, subjects: [`${env.prefix}_upd.evt.>`] })).action, 'unchanged');
    } finally {
      await env.jsm.streams.delete(name);
    }
  });
});

describe('relay payload size', () => {
  let env: Env;
  let relay: Relay;
  before(async () => {
    env = await setUp();
    relay = await env.relay();
  });
  after(async () => {
    await env?.close();
  });

  test('a snapshot larger than max_payload is published gzip-compressed, with Content-Encoding: gzip', async (t) => {
    const balances = Array.from({ length: 20_000 }, (_, i) => ({ wallet: 'unified' as const, asset: `COIN${i}`, free: `${i}.5`, used: '0', total: `${i}.5` }));
    const snapshot: EventData<'snapshot_recorded'>['snapshot'] = {
      exchange: 'bybit',
      account: 'whale',
      quote: 'USDT',
      wallets: ['unified'],
      balances,
      positions: [],
      prices: Object.fromEntries(balances.map((b, i) => [b.asset, `${i + 1}.25`])),
      fetchedAt: new Date().toISOString(),
      exchangeTime: null,
    };
    const data: EventData<'snapshot_recorded'> = { syncId: randomUUID(), contentHash: 'a'.repeat(64), snapshot };
    await env.store.append('bybit:whale', [{ type: 'snapshot_recorded', data }, completed()]);
    await within(10_000, relay.caughtUp(), 'relay of a big snapshot');
    const msgs = await streamMessages(env.jsm, env.streamName);
    assert.equal(msgs.length, 2);
    const big = msgs[0]!;
    assert.equal(big.header.get(CONTENT_ENCODING), 'gzip');
    assert.equal(msgs[1]!.header.get(CONTENT_ENCODING), '');
    const jsonBytes = Buffer.byteLength(JSON.stringify(decodePayload(big.data, big.header)));
    assert.ok(jsonBytes > env.nc.info!.max_payload, `envelope is ${jsonBytes} bytes`);
    t.diagnostic(`snapshot of ${balances.length} balances: ${jsonBytes} bytes JSON, ${big.data.length} bytes gzipped`);
    await assertStreamIsLog(env.jsm, env.streamName, env.prefix, env.store);
    assert.equal(relay.stats.gzipped, 1);
  });

  test('an event too big even gzipped stops the relay at it with a clear error, and is not skipped', async () => {
    // Random base64 barely compresses: ~2 MB stays well above 1 MB gzipped.
    await env.store.append('bybit:whale', [{ ...completed(), metadata: { blob: randomBytes(1_500_000).toString('base64') } }]);
    const after = await env.store.append('bybit:whale', [completed()]);
    const deadline = Date.now() + 10_000;
    while (relay.stats.failedPasses < 2 && Date.now() < deadline) await sleep(50);
    assert.ok(relay.stats.failedPasses >= 2, 'the pass keeps failing');
    assert.match(relay.stats.lastError ?? '', /is \d+ bytes, \d+ gzipped; the NATS server accepts \d+ .*max_payload/);
    assert.equal((await relay.lag()).events, 2, 'neither it nor the event after it counts as relayed');
    const ids = (await streamMessages(env.jsm, env.streamName)).map((m) => m.header.get('Nats-Msg-Id'));
    assert.ok(!ids.includes(after.events[0]!.id), 'nothing after it was published out of order');
  });
});

describe('relay through a NATS outage (own nats-server)', () => {
  let server: TestNatsServer;
  let env: Env;
  before(async () => {
    server = await startNatsServer();
    env = await setUp(server.url);
  });
  after(async () => {
    await env?.close();
    await server?.dispose();
  });

  test('server stopped mid-batch and while events are recorded: after it returns the stream holds every event exactly once', async (t) => {
    const relay = await env.relay({ publishTimeoutMs: 1000, batchSize: 200 });
    // A backlog, so the server goes away while a batch is half published.
    for (let i = 0; i < 6; i++) await env.store.append(`bybit:acct${i}`, Array.from({ length: 100 }, (_, n) => completed(n)));
    while (relay.stats.relayed < 50) await sleep(1);
    await server.stop();
    const relayedAtStop = relay.stats.relayed;
    // The daemon keeps recording during the outage.
    const outageEnds = Date.now() + 3000;
    let recorded = 0;
    while (Date.now() < outageEnds) {
      await env.store.append(recorded % 2 ? 'bybit:acct0' : 'binance:other', [completed(recorded), failed()]);
      recorded += 2;
      await sleep(100);
    }
    assert.ok(relayedAtStop < 600, 'the outage began before the backlog was through');
    await server.start();
    await within(30_000, relay.caughtUp(), 'catch-up after the outage');
    await assertStreamIsLog(env.jsm, env.streamName, env.prefix, env.store);
    const s = relay.stats;
    t.diagnostic(
      `relayed before stop ${relayedAtStop}; recorded during outage ${recorded}; failed passes ${s.failedPasses}; ` +
        `duplicates ${s.duplicates}; skipped on resync ${s.skipped}; relayed ${s.relayed}`,
    );
    assert.equal(s.relayed, 600 + recorded);
  });
});

describe('relay throughput', () => {
  let env: Env;
  before(async () => {
    env = await setUp();
  });
  after(async () => {
    await env?.close();
  });

  test('relays a backlog of 5000 small events', async (t) => {
    const total = 5000;
    await Promise.all(Array.from({ length: 50 }, (_, i) => env.store.append(`bybit:bulk${i}`, Array.from({ length: total / 50 }, (_, n) => completed(n)))));
    const started = performance.now();
    const relay = await env.relay();
    await within(30_000, relay.caughtUp(), 'backlog relay');
    const seconds = (performance.now() - started) / 1000;
    assert.equal(relay.stats.relayed, total);
    const { state } = await env.jsm.streams.info(env.streamName);
    assert.equal(state.messages, total);
    t.diagnostic(`relayed ${total} events in ${seconds.toFixed(2)} s: ${Math.round(total / seconds)} events/s (sequential acked publishes)`);
  });
});
