import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readinessChecks, startHttpServer, type HttpServer, type ReadinessReport } from '../src/daemon/http.js';
import { createMetrics, recordSync, type Metrics } from '../src/daemon/metrics.js';
import { connectNats, type NatsConnection } from '../src/daemon/nats.js';
import type { SyncResult } from '../src/daemon/sync.js';
import type { EventData } from '../src/events/catalog.js';
import { createPool, type Pool } from '../src/events/db.js';
import { EventStore } from '../src/events/store.js';
import { accountStream } from '../src/events/streams.js';
import { silentLogger } from '../src/log.js';
import { PROJECTIONS } from '../src/projections/index.js';
import { createTestDb, type TestDb } from './support/db.js';

const NATS = { url: process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222', prefix: 'http_test', stream: 'HTTP_TEST', auth: {} };

let db: TestDb;
let nc: NatsConnection;

before(async () => {
  db = await createTestDb();
  nc = await connectNats(NATS, silentLogger(), { name: 'http-test', waitOnFirstConnect: false });
});
after(async () => {
  await nc.close();
  await db.drop();
});

async function serve(t: TestContext, opts: { metrics?: Metrics; readiness?: () => Promise<ReadinessReport> } = {}): Promise<HttpServer> {
  const server = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    registry: (opts.metrics ?? createMetrics({ defaultMetrics: false })).registry,
    readiness: opts.readiness ?? readinessChecks({ pool: db.pool, nc }),
  });
  t.after(() => server.close());
  return server;
}

async function get(server: HttpServer, path: string, init?: RequestInit): Promise<{ status: number; type: string; text: string; headers: Headers }> {
  const res = await fetch(`${server.url}${path}`, init);
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text(), headers: res.headers };
}

async function readyz(server: HttpServer): Promise<{ status: number; body: ReadinessReport }> {
  const res = await get(server, '/readyz');
  return { status: res.status, body: JSON.parse(res.text) as ReadinessReport };
}

/** Value of one sample line, e.g. sample(text, 'exchange_sync_syncs_total{exchange="bybit",...}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function syncResult(over: Partial<SyncResult> & Pick<SyncResult, 'exchange' | 'account' | 'status'>, durationMs: number): SyncResult {
  const finished = new Date();
  return {
    syncId: randomUUID(),
    streamPosition: 2,
    globalPosition: 2,
    startedAt: new Date(finished.getTime() - durationMs).toISOString(),
    finishedAt: finished.toISOString(),
    ...(over.status === 'ok' ? { changed: true } : {}),
    ...over,
  };
}

function completed(): { type: 'sync_completed'; data: EventData<'sync_completed'> } {
  const now = new Date().toISOString();
  return {
    type: 'sync_completed',
    data: { syncId: randomUUID(), trigger: 'schedule', startedAt: now, finishedAt: now, fetchMs: 120, attempts: 1, balances: 3, positions: 1, changed: true },
  };
}

describe('liveness and routing', () => {
  test('/healthz answers ok without touching any dependency', async (t) => {
    const server = await serve(t, { readiness: () => Promise.reject(new Error('must not be called')) });
    const res = await get(server, '/healthz');
    assert.equal(res.status, 200);
    assert.match(res.type, /^application\/json/);
    assert.deepEqual(JSON.parse(res.text), { status: 'ok' });
    const head = await get(server, '/healthz', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  test('unknown paths are 404, other methods 405 with Allow', async (t) => {
    const server = await serve(t);
    assert.equal((await get(server, '/nope')).status, 404);
    assert.equal((await get(server, '/metrics/extra')).status, 404);
    const post = await get(server, '/metrics', { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    assert.equal((await get(server, '/readyz', { method: 'DELETE' })).status, 405);
    // Query strings do not change the route.
    assert.equal((await get(server, '/healthz?probe=1')).status, 200);
  });

  test('a readiness function that throws gives 503, and the server keeps serving', async (t) => {
    const server = await serve(t, { readiness: () => Promise.reject(new Error('boom')) });
    const res = await get(server, '/readyz');
    assert.equal(res.status, 503);
    assert.deepEqual(JSON.parse(res.text), { status: 'unavailable', error: 'boom' });
    assert.equal((await get(server, '/healthz')).status, 200);
  });

  test('a port in use is reported to the caller, not thrown at the process', async (t) => {
    const server = await serve(t);
    const port = Number(new URL(server.url).port);
    await assert.rejects(
      startHttpServer({ port, host: '127.0.0.1', registry: createMetrics({ defaultMetrics: false }).registry, readiness: readinessChecks({ pool: db.pool }) }),
      /EADDRINUSE/,
    );
  });
});

describe('/readyz', () => {
  test('200 with a migrated database and a live NATS connection', async (t) => {
    const server = await serve(t);
    const { status, body } = await readyz(server);
    assert.equal(status, 200);
    assert.deepEqual(body, { status: 'ok', checks: { postgres: { ok: true }, nats: { ok: true }, schema: { ok: true } } });
  });

  test('503 naming postgres and schema when the database is gone', async (t) => {
    const gone = await createTestDb();
    await gone.drop();
    const pool = createPool(gone.url);
    t.after(() => pool.end());
    const server = await serve(t, { readiness: readinessChecks({ pool, nc }) });
    const { status, body } = await readyz(server);
    assert.equal(status, 503);
    assert.equal(body.status, 'unavailable');
    assert.equal(body.checks.postgres.ok, false);
    assert.match(body.checks.postgres.error ?? '', /does not exist/);
    assert.equal(body.checks.schema.ok, false);
    assert.deepEqual(body.checks.nats, { ok: true });
  });

  test('a PostgreSQL that accepts but never answers makes /readyz fail within its bound, not hang', async (t) => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as { port: number }).port;
    const pool = createPool(`postgres://postgres@127.0.0.1:${port}/nothing`);
    t.after(async () => {
      // Hanging up makes the stuck connection attempt fail, so the pool can end.
      for (const s of sockets) s.destroy();
      silent.close();
      await pool.end();
    });
    const server = await serve(t, { readiness: readinessChecks({ pool, nc, timeoutMs: 300 }) });
    const startedAt = Date.now();
    const { status, body } = await readyz(server);
    const elapsed = Date.now() - startedAt;
    assert.equal(status, 503);
    assert.match(body.checks.postgres.error ?? '', /postgres: no answer within 300 ms/);
    assert.match(body.checks.schema.error ?? '', /no answer within 300 ms/);
    assert.ok(elapsed < 1500, `answered in ${elapsed} ms`);
  });

  test('503 naming nats when the connection is closed or absent', async (t) => {
    const closed = await connectNats(NATS, silentLogger(), { name: 'http-test-closed', waitOnFirstConnect: false });
    await closed.close();
    const server = await serve(t, { readiness: readinessChecks({ pool: db.pool, nc: closed }) });
    const { status, body } = await readyz(server);
    assert.equal(status, 503);
    assert.deepEqual(body.checks.nats, { ok: false, error: 'NATS connection is closed' });
    assert.deepEqual(body.checks.postgres, { ok: true });
    assert.deepEqual(body.checks.schema, { ok: true });

    let current: NatsConnection | undefined;
    const lazy = await serve(t, { readiness: readinessChecks({ pool: db.pool, nc: () => current }) });
    assert.deepEqual((await readyz(lazy)).body.checks.nats, { ok: false, error: 'no NATS connection' });
    current = nc;
    assert.equal((await readyz(lazy)).status, 200, 'ready once the connection exists');
  });

  test('503 naming schema while a migration is pending', async (t) => {
    const fresh = await createTestDb({ migrate: false });
    t.after(() => fresh.drop());
    const server = await serve(t, { readiness: readinessChecks({ pool: fresh.pool, nc }) });
    const { status, body } = await readyz(server);
    assert.equal(status, 503);
    assert.deepEqual(body.checks.postgres, { ok: true });
    assert.equal(body.checks.schema.ok, false);
    assert.match(body.checks.schema.error ?? '', /001_event_store\.sql.*not applied/);
  });
});

describe('/metrics', () => {
  test('sync counters, durations, errors and last-sync times after recordSync', async (t) => {
    const metrics = createMetrics();
    recordSync(metrics, syncResult({ exchange: 'bybit', account: 'main', status: 'ok' }, 420));
    recordSync(metrics, syncResult({ exchange: 'bybit', account: 'main', status: 'ok' }, 3_000));
    const failed = syncResult({ exchange: 'binance', account: 'hedge', status: 'failed', errorClass: 'rate_limit', message: 'binance 429', retryable: true }, 8_000);
    recordSync(metrics, failed);
    const server = await serve(t, { metrics });
    const res = await get(server, '/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.type, 'text/plain; version=0.0.4; charset=utf-8');
    const text = res.text;
    assert.equal(sample(text, 'exchange_sync_syncs_total{exchange="bybit",account="main",outcome="ok"}'), 2);
    assert.equal(sample(text, 'exchange_sync_syncs_total{exchange="binance",account="hedge",outcome="failed"}'), 1);
    assert.equal(sample(text, 'exchange_sync_exchange_errors_total{exchange="binance",class="rate_limit"}'), 1);
    assert.equal(sample(text, 'exchange_sync_sync_duration_seconds_count{exchange="bybit"}'), 2);
    assert.equal(sample(text, 'exchange_sync_sync_duration_seconds_sum{exchange="bybit"}'), 3.42);
    assert.equal(sample(text, 'exchange_sync_sync_duration_seconds_bucket{le="0.5",exchange="bybit"}'), 1);
    assert.equal(sample(text, 'exchange_sync_sync_duration_seconds_bucket{le="5",exchange="bybit"}'), 2);
    assert.equal(sample(text, 'exchange_sync_last_sync_timestamp_seconds{exchange="binance",account="hedge",outcome="failed"}'), Date.parse(failed.finishedAt) / 1000);
    assert.equal(sample(text, 'exchange_sync_last_sync_timestamp_seconds{exchange="binance",account="hedge",outcome="ok"}'), undefined);
    // Process metrics carry the prefix too.
    assert.ok(sample(text, 'exchange_sync_process_cpu_user_seconds_total') !== undefined);
    assert.match(text, /^exchange_sync_nodejs_heap_size_used_bytes \d+/m);
    // Without a pool there is no lag to report.
    assert.doesNotMatch(text, /lag_events/);
  });

  test('lag gauges count events after each checkpoint below the horizon; held-back gauges the ones above it', async (t) => {
    const store = new EventStore(db.pool);
    const relay = `relay-${randomUUID()}`;
    const metrics = createMetrics({ pool: db.pool, relaySubscriber: relay, defaultMetrics: false });
    const server = await serve(t, { metrics });
    const scrape = async () => (await get(server, '/metrics')).text;

    const projectionCheckpoints = PROJECTIONS.map((p) => p.checkpoint);
    await db.pool.query(`INSERT INTO exchange_sync.checkpoints (subscriber, transaction_id, global_position) SELECT unnest($1::text[]), '0', 0`, [
      [...projectionCheckpoints, relay],
    ]);
    let text = await scrape();
    assert.equal(sample(text, 'exchange_sync_projection_lag_events'), 0);
    assert.equal(sample(text, 'exchange_sync_projection_lag_seconds'), 0);
    assert.equal(sample(text, 'exchange_sync_lag_query_ok{subscriber="projections"}'), 1);
    assert.equal(sample(text, `exchange_sync_lag_query_ok{subscriber="${relay}"}`), 1);

    const stream = accountStream({ exchange: 'bybit', account: 'main' });
    const appended = [];
    for (let i = 0; i < 3; i++) appended.push(await store.append(stream, [completed()]));
    await sleep(250);
    text = await scrape();
    assert.equal(sample(text, 'exchange_sync_projection_lag_events'), 3);
    assert.equal(sample(text, 'exchange_sync_relay_lag_events'), 3);
    const seconds = sample(text, 'exchange_sync_projection_lag_seconds') ?? NaN;
    assert.ok(seconds >= 0.25 && seconds < 30, `lag seconds ${seconds}`);

    // The projector catches up to the second event (the checkpoint moves as a subscriber moves it).
    const { rows } = await db.pool.query<{ tx: string }>('SELECT transaction_id::text AS tx FROM exchange_sync.events WHERE global_position = $1', [
      appended[1]!.events[0]!.globalPosition,
    ]);
    await db.pool.query('UPDATE exchange_sync.checkpoints SET transaction_id = $2::xid8, global_position = $3 WHERE subscriber = ANY ($1::text[])', [
      projectionCheckpoints,
      rows[0]!.tx,
      appended[1]!.events[0]!.globalPosition,
    ]);
    text = await scrape();
    assert.equal(sample(text, 'exchange_sync_projection_lag_events'), 1);
    assert.equal(sample(text, 'exchange_sync_relay_lag_events'), 3);

    // An append still open holds back one committed after it: no subscriber can deliver that one
    // yet, so it is not lag yet either.
    const open = await db.pool.connect();
    try {
      await open.query('BEGIN');
      await store.append(accountStream({ exchange: 'bybit', account: 'slow' }), [completed()], { client: open });
      await store.append(accountStream({ exchange: 'bybit', account: 'fast' }), [completed()]);
      text = await scrape();
      assert.equal(sample(text, 'exchange_sync_projection_lag_events'), 1);
      assert.equal(sample(text, 'exchange_sync_relay_lag_events'), 3);
      // ...but it is shown as held back, with how long it has waited.
      await sleep(200);
      text = await scrape();
      assert.equal(sample(text, 'exchange_sync_held_back_events'), 1);
      const waited = sample(text, 'exchange_sync_held_back_seconds') ?? NaN;
      assert.ok(waited >= 0.2 && waited < 30, `held back for ${waited} s`);
      await open.query('COMMIT');
    } finally {
      open.release();
    }
    text = await scrape();
    assert.equal(sample(text, 'exchange_sync_projection_lag_events'), 3);
    assert.equal(sample(text, 'exchange_sync_relay_lag_events'), 5);
    assert.equal(sample(text, 'exchange_sync_held_back_events'), 0);
    assert.equal(sample(text, 'exchange_sync_held_back_seconds'), 0);
  });

  test('a subscriber without a checkpoint row is behind by the whole log', async (t) => {
    const fresh = await createTestDb();
    t.after(() => fresh.drop());
    await new EventStore(fresh.pool).append(accountStream({ exchange: 'binance', account: 'x' }), [completed(), completed()]);
    const server = await serve(t, { metrics: createMetrics({ pool: fresh.pool, defaultMetrics: false }) });
    const text = (await get(server, '/metrics')).text;
    assert.equal(sample(text, 'exchange_sync_projection_lag_events'), 2);
    assert.doesNotMatch(text, /relay_lag/);
  });

  test('with the database down a scrape still answers: lag is NaN, everything else is there', async (t) => {
    const gone = await createTestDb();
    await gone.drop();
    const pool: Pool = createPool(gone.url);
    t.after(() => pool.end());
    const metrics = createMetrics({ pool, relaySubscriber: 'relay', lagTimeoutMs: 500 });
    recordSync(metrics, syncResult({ exchange: 'bybit', account: 'main', status: 'ok' }, 100));
    const server = await serve(t, { metrics });
    const res = await get(server, '/metrics');
    assert.equal(res.status, 200);
    assert.equal(sample(res.text, 'exchange_sync_syncs_total{exchange="bybit",account="main",outcome="ok"}'), 1);
    assert.ok(Number.isNaN(sample(res.text, 'exchange_sync_projection_lag_events')));
    assert.ok(Number.isNaN(sample(res.text, 'exchange_sync_relay_lag_seconds')));
    assert.equal(sample(res.text, 'exchange_sync_lag_query_ok{subscriber="projections"}'), 0);
    assert.equal(sample(res.text, 'exchange_sync_lag_query_ok{subscriber="relay"}'), 0);
    assert.ok(sample(res.text, 'exchange_sync_process_resident_memory_bytes') !== undefined);
  });
});
