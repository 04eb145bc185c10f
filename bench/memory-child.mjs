// One measured process of bench/memory.ts, in compiled JavaScript under plain node (what `run`
// is in production; tsx would double the memory of what it loads):
//   node --expose-gc bench/memory-child.mjs <daemon|adapter|baseline> <accounts> <emulatorUrl> <dbUrl>
// daemon: a whole Daemon with N bybit accounts, each synced once, projections and relay caught up.
// adapter: the exchange adapter alone, one snapshot per account. baseline: node with pg and the
// NATS client loaded and connected, nothing of ours.
import { randomBytes } from 'node:crypto';

const [mode, n, emuUrl, dbUrl] = [process.argv[2], Number(process.argv[3]), process.argv[4], process.argv[5]];
const KB = 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function settled() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return { rssKB: Math.round(m.rss / KB), heapUsedKB: Math.round(m.heapUsed / KB), externalKB: Math.round(m.external / KB), arrayBuffersKB: Math.round(m.arrayBuffers / KB) };
}

// The keys the emulator was seeded with (bench/common.ts benchKey).
const accounts = Array.from({ length: n }, (_, i) => ({
  account: `a${i}`,
  exchange: 'bybit',
  apiKey: `bench-bybit-key-${i}`,
  secret: `bench-bybit-secret-${i}`,
  testnet: false,
  apiUrl: emuUrl,
  options: {},
}));

const t0 = performance.now();
let ok = 0;
let started;
let synced;
if (mode === 'baseline') {
  const pg = (await import('pg')).default;
  const { connect } = await import('@nats-io/transport-node');
  const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  await pool.query('SELECT 1');
  const nc = await connect({ servers: (process.env.NATS_URL ?? 'nats://127.0.0.1:4222').replace(/^nats:\/\//, '') });
  started = await settled();
  synced = await settled();
  await nc.close();
  await pool.end();
} else if (mode === 'adapter') {
  const { createExchangeAccess } = await import('../dist/exchanges/index.js');
  const access = createExchangeAccess(accounts, { timeoutMs: 30_000 });
  started = await settled();
  const results = await Promise.allSettled(accounts.map((a) => access.fetchSnapshot(a)));
  ok = results.filter((r) => r.status === 'fulfilled').length;
  synced = await settled();
  await access.close();
} else {
  const { Daemon } = await import('../dist/daemon/daemon.js');
  const { loadConfig } = await import('../dist/config.js');
  const { silentLogger } = await import('../dist/log.js');
  const suffix = randomBytes(4).toString('hex');
  const config = {
    ...loadConfig({
      DATABASE_URL: dbUrl,
      EXCHANGE_SYNC_EXCHANGES: 'bybit',
      EXCHANGE_SYNC_ENABLED: 'false',
      EXCHANGE_SYNC_HTTP_PORT: '0',
      EXCHANGE_SYNC_LOG_DIR: '',
      EXCHANGE_SYNC_NATS_PREFIX: `es_bench_${suffix}`,
      EXCHANGE_SYNC_STREAM: `ES_BENCH_${suffix.toUpperCase()}`,
      NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    }),
    accounts,
  };
  const daemon = new Daemon(config, { logger: silentLogger(), pollMs: 500, httpHost: '127.0.0.1' });
  await daemon.start();
  for (let i = 0; i < 200 && !daemon.nats; i++) await sleep(50);
  started = await settled();
  const results = await daemon.sync({}, 'api');
  ok = results.filter((r) => r.status === 'ok').length;
  for (let i = 0; i < 600; i++) {
    const { lag } = await daemon.status();
    if (lag.relay.events === 0 && lag.projections.events === 0) break;
    await sleep(100);
  }
  synced = await settled();
  await daemon.stop();
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: (process.env.NATS_URL ?? 'nats://127.0.0.1:4222').replace(/^nats:\/\//, '') });
  await (await jetstreamManager(nc)).streams.delete(config.nats.stream).catch(() => {});
  await nc.close();
}
process.stdout.write(`${JSON.stringify({ mode, accounts: n, started, synced, ok, seconds: Math.round(performance.now() - t0) / 1000 })}\n`);
process.exit(0);
