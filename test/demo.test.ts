// `demo --embedded`: a PostgreSQL of its own, under the working directory, that records the
// demo's events and is stopped on Ctrl-C.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';

const BIN = fileURLToPath(new URL('../bin/exchange-sync.mjs', import.meta.url));

test('demo --embedded records events into a database of its own and stops it on Ctrl-C', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'es-demo-'));
  // A working folder as people have them (mkdtemp makes it 0700): run as root, the server runs as
  // user postgres, which has to reach the data folder below it.
  await chmod(cwd, 0o755);
  const suffix = randomBytes(4).toString('hex');
  const stream = `ES_TEST_DEMO_${suffix.toUpperCase()}`;
  t.after(async () => {
    const nc = await connect({ servers: '127.0.0.1:4222' });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
    await nc.close();
    await rm(cwd, { recursive: true, force: true });
  });
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(NODE_OPTIONS|DATABASE_URL|DB_[A-Z]+)$/.test(k)));
  const child = spawn(process.execPath, [BIN, 'demo', '--embedded', '--port', '0', '--http-port', '0'], {
    cwd,
    env: { ...clean, EXCHANGE_SYNC_NATS_PREFIX: `es_test_demo_${suffix}`, EXCHANGE_SYNC_STREAM: stream, EXCHANGE_SYNC_LOG_DIR: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    const deadline = Date.now() + 60_000;
    while (!/event #\d+ /.test(stderr) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    const url = /database +(postgres:\/\/\S+)/.exec(stderr)?.[1];
    assert.ok(url, `the demo names its database:\n${stderr}`);
    assert.notEqual(new URL(url).port, '5432', 'not the machine PostgreSQL');
    const dataDir = join(cwd, '.exchange-sync', 'postgres');
    assert.ok(existsSync(join(dataDir, 'PG_VERSION')), 'the cluster lives under the working directory');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const synced = async () =>
      (await client.query<{ n: number }>(`SELECT count(DISTINCT stream_id)::int AS n FROM exchange_sync.events WHERE type = 'sync_completed'`)).rows[0]!.n;
    while ((await synced()) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const rows = [{ n: await synced() }];
    await client.end();
    assert.ok(rows[0]!.n >= 3, 'the three demo accounts synced into it');

    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, stderr);
    assert.match(stderr, /embedded PostgreSQL stopped/);
    assert.ok(!existsSync(join(dataDir, 'postmaster.pid')), 'the server is stopped');
    await assert.rejects(
      (async () => {
        const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
        await c.connect();
        await c.end();
      })(),
      /ECONNREFUSED/,
    );
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
