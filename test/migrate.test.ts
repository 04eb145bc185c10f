import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { MigrationError, SCHEMA_DIR, assertCurrent, migrate, readMigrations, schemaStatus } from '../src/events/migrate.js';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { EventStore } from '../src/events/store.js';
import { balances, catchUpProjections, positions, projectionAt, projectionNow, rebuild } from '../src/projections/index.js';
import { createTestDb, type TestDb } from './support/db.js';

const run = promisify(execFile);
let db: TestDb;

before(async () => {
  db = await createTestDb({ migrate: false });
});
after(() => db.drop());

function cli(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    env: { ...process.env, DATABASE_URL: db.url, EXCHANGE_SYNC_LOG_DIR: '', ...env },
  });
}

test('two migrate processes started at once both succeed and apply each file once', async () => {
  const [a, b] = await Promise.all([cli(['migrate']), cli(['migrate'])]);
  const outputs = [a.stdout, b.stdout].sort();
  assert.match(outputs.join('\n'), /applied 001_event_store\.sql/);
  assert.match(outputs.join('\n'), /nothing to apply/);
  const { rows } = await db.pool.query('SELECT name FROM exchange_sync.schema_migrations ORDER BY name');
  assert.deepEqual(
    rows.map((r) => r.name),
    (await schemaStatus(db.pool)).applied,
  );
  assert.deepEqual((await schemaStatus(db.pool)).pending, []);
});

test('migrate again applies nothing', async () => {
  assert.deepEqual(await migrate(db.pool), []);
  const { stdout } = await cli(['migrate']);
  assert.match(stdout, /schema is current/);
});

test('an applied migration edited afterwards is refused with its name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'es-schema-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(SCHEMA_DIR, dir, { recursive: true });
  await appendFile(join(dir, '001_event_store.sql'), '\n-- an innocent-looking edit\n');
  await writeFile(join(dir, '999_later.sql'), 'CREATE TABLE exchange_sync.later (x int);');
  await assert.rejects(migrate(db.pool, dir), (err: unknown) => {
    assert.ok(err instanceof MigrationError);
    assert.match(err.message, /schema\/001_event_store\.sql changed after it was applied/);
    return true;
  });
  // Refused as a whole: the new file was not applied either.
  const { rows } = await db.pool.query(`SELECT to_regclass('exchange_sync.later') AS t`);
  assert.equal(rows[0].t, null);
});

test('migrate against an unreachable database exits 1 with one line, no stack trace', async () => {
  const err = await cli(['migrate'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }).then(
    () => assert.fail('should fail'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 1);
  assert.match(err.stderr, /^exchange-sync migrate: .*ECONNREFUSED/);
  assert.doesNotMatch(err.stderr, /\n\s+at /);
});

test('a database of the first release (001, 002) upgrades in place: its events stay, retries of them are still recognized', async (t) => {
  const old = await createTestDb({ migrate: false });
  t.after(() => old.drop());
  const dir = await mkdtemp(join(tmpdir(), 'es-schema-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(SCHEMA_DIR, dir, { recursive: true });
  for (const f of await readdir(dir)) if (!/^00[12]_/.test(f)) await rm(join(dir, f), { recursive: true, force: true });
  assert.deepEqual(await migrate(old.pool, dir), ['001_event_store.sql', '002_projections.sql']);

  const store = new EventStore(old.pool);
  const now = new Date().toISOString();
  const completed = () => ({
    id: randomUUID(),
    type: 'sync_completed',
    data: { syncId: randomUUID(), trigger: 'schedule', startedAt: now, finishedAt: now, fetchMs: 40, attempts: 1, balances: 3, positions: 0, changed: false },
  });
  const before = [completed(), completed()];
  const first = await store.append('bybit:main', before);

  const applied = await migrate(old.pool);
  assert.deepEqual(applied, (await schemaStatus(old.pool)).applied.filter((n) => !/^00[12]_/.test(n)));
  assert.ok(applied.includes('004_append_on_conflict.sql'));

  const retry = await store.append('bybit:main', before, { expectedPosition: 0 });
  assert.equal(retry.duplicate, true);
  assert.deepEqual(retry.events, first.events);
  const next = await store.append('bybit:main', [completed()], { expectedPosition: 2 });
  assert.equal(next.streamPosition, 3);
  await catchUpProjections(store);
  const { rows } = await old.pool.query('SELECT event_position FROM exchange_sync.sync_runs ORDER BY event_position');
  assert.deepEqual(
    rows.map((r) => Number(r.event_position)),
    [...first.events, ...next.events].map((e) => e.globalPosition),
  );
});

const FUNCTION_FILES = ['functions/append_events.sql', 'functions/refuse_event_change.sql'];

function syncCompleted() {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    type: 'sync_completed',
    data: { syncId: randomUUID(), trigger: 'schedule', startedAt: now, finishedAt: now, fetchMs: 40, attempts: 1, balances: 3, positions: 0, changed: false },
  };
}

async function schemaCopy(t: { after(fn: () => Promise<void>): void }, keep?: RegExp): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'es-schema-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(SCHEMA_DIR, dir, { recursive: true });
  if (keep) for (const f of await readdir(dir)) if (!keep.test(f)) await rm(join(dir, f), { recursive: true, force: true });
  return dir;
}

async function prosrc(pool: TestDb['pool'], fn: string): Promise<string> {
  const { rows } = await pool.query(`SELECT prosrc FROM pg_proc WHERE oid = $1::regproc`, [fn]);
  return rows[0].prosrc;
}

test('a fresh database gets the numbered files, then the function files; again, nothing', async (t) => {
  const fresh = await createTestDb({ migrate: false });
  t.after(() => fresh.drop());
  const applied = await migrate(fresh.pool);
  const numbered = applied.filter((n) => /^\d{3}_/.test(n));
  assert.deepEqual(applied, [...numbered, ...FUNCTION_FILES]);
  assert.deepEqual(numbered.slice(0, 4), ['001_event_store.sql', '002_projections.sql', '003_sync_run_rows.sql', '004_append_on_conflict.sql']);
  assert.deepEqual(applied, (await readMigrations()).map((f) => f.name));
  assert.deepEqual(await migrate(fresh.pool), []);
  const status = await schemaStatus(fresh.pool);
  assert.deepEqual(status.pending, []);
  assert.deepEqual(status.edited, []);
  assert.deepEqual(status.applied, applied);
  assertCurrent(status);

  // A function file recorded once but gone from this version (its function dropped) is no concern.
  await fresh.pool.query(`INSERT INTO exchange_sync.schema_migrations (name, checksum) VALUES ('functions/gone.sql', 'x')`);
  assert.deepEqual((await schemaStatus(fresh.pool)).unknown, []);
  assert.deepEqual(await migrate(fresh.pool), []);
});

test('a changed function file is pending, refused at start, and re-applied alone by migrate', async (t) => {
  const fdb = await createTestDb();
  t.after(() => fdb.drop());
  const dir = await schemaCopy(t);
  const path = join(dir, 'functions', 'append_events.sql');
  const original = await readFile(path, 'utf8');
  const marker = '-- changed: marker 7c1e';
  const changed = original.replace(/\nBEGIN\n/, `\nBEGIN\n  ${marker}\n`);
  assert.notEqual(changed, original);
  await writeFile(path, changed);

  const files = await readMigrations(dir);
  const status = await schemaStatus(fdb.pool, files);
  assert.deepEqual(status.pending, ['functions/append_events.sql']);
  assert.deepEqual(status.edited, []);
  assert.ok(!status.applied.includes('functions/append_events.sql'));
  assert.throws(
    () => assertCurrent(status),
    (err: unknown) => err instanceof MigrationError && /functions\/append_events\.sql/.test(err.message),
  );

  const { rows: before } = await fdb.pool.query(`SELECT applied_at FROM exchange_sync.schema_migrations WHERE name = 'functions/append_events.sql'`);
  assert.ok(!(await prosrc(fdb.pool, 'exchange_sync.append_events')).includes(marker));
  assert.deepEqual(await migrate(fdb.pool, dir), ['functions/append_events.sql']);
  assert.ok((await prosrc(fdb.pool, 'exchange_sync.append_events')).includes(marker));
  const { rows: after } = await fdb.pool.query(
    `SELECT checksum, applied_at FROM exchange_sync.schema_migrations WHERE name = 'functions/append_events.sql'`,
  );
  assert.equal(after[0].checksum, files.find((f) => f.name === 'functions/append_events.sql')?.checksum);
  assert.ok(after[0].applied_at > before[0].applied_at);
  assert.deepEqual(await migrate(fdb.pool, dir), []);
  assertCurrent(await schemaStatus(fdb.pool, files));

  // The body that this version ships is now the changed one, from its point of view.
  assert.deepEqual((await schemaStatus(fdb.pool)).pending, ['functions/append_events.sql']);
  assert.deepEqual(await migrate(fdb.pool), ['functions/append_events.sql']);
  assert.ok(!(await prosrc(fdb.pool, 'exchange_sync.append_events')).includes(marker));
  const appended = await new EventStore(fdb.pool).append('bybit:main', [syncCompleted()], { expectedPosition: 0 });
  assert.equal(appended.streamPosition, 1);
});

test('a function file that fails is named, and nothing of that migrate is kept', async (t) => {
  const fdb = await createTestDb();
  t.after(() => fdb.drop());
  const dir = await schemaCopy(t);
  await appendFile(join(dir, 'functions', 'append_events.sql'), '\nSELECT no_such_function();\n');
  await writeFile(join(dir, '999_later.sql'), 'CREATE TABLE exchange_sync.later (x int);');
  await assert.rejects(migrate(fdb.pool, dir), (err: unknown) => {
    assert.ok(err instanceof MigrationError);
    assert.match(err.message, /^schema\/functions\/append_events\.sql failed: /);
    return true;
  });
  const { rows } = await fdb.pool.query(`SELECT to_regclass('exchange_sync.later') AS t`);
  assert.equal(rows[0].t, null);
  assert.deepEqual((await schemaStatus(fdb.pool)).pending, []);
});

test('a database at 004 upgrades in place: its events stay, retries are recognized, the function files are recorded', async (t) => {
  const old = await createTestDb({ migrate: false });
  t.after(() => old.drop());
  const dir = await schemaCopy(t, /^00[1-4]_/);
  assert.deepEqual(await migrate(old.pool, dir), ['001_event_store.sql', '002_projections.sql', '003_sync_run_rows.sql', '004_append_on_conflict.sql']);

  const store = new EventStore(old.pool);
  const before = [syncCompleted(), syncCompleted()];
  const first = await store.append('bybit:main', before);

  const applied = await migrate(old.pool);
  assert.deepEqual(applied.slice(-2), FUNCTION_FILES);
  assert.equal((await schemaStatus(old.pool)).pending.length, 0);
  const { rows: recorded } = await old.pool.query(
    `SELECT name FROM exchange_sync.schema_migrations WHERE name LIKE 'functions/%' ORDER BY name`,
  );
  assert.deepEqual(
    recorded.map((r) => r.name),
    FUNCTION_FILES,
  );

  const { rows: stored } = await old.pool.query(
    `SELECT event_id, stream_position::int AS position FROM exchange_sync.events WHERE stream_id = 'bybit:main' ORDER BY stream_position`,
  );
  assert.deepEqual(stored, before.map((e, i) => ({ event_id: e.id, position: i + 1 })));
  const retry = await store.append('bybit:main', before, { expectedPosition: 0 });
  assert.equal(retry.duplicate, true);
  assert.deepEqual(retry.events, first.events);
  const next = await store.append('bybit:main', [syncCompleted()], { expectedPosition: 2 });
  assert.equal(next.streamPosition, 3);
  assert.equal(next.duplicate, false);
  // The trigger function, replaced by its file, still keeps the log append-only.
  await assert.rejects(old.pool.query('DELETE FROM exchange_sync.events'), (err: unknown) => {
    assert.equal((err as { code?: string }).code, 'ESAPP');
    return true;
  });
});

test('a database at 004 with projected tables keeps them: each projection goes on from the shared checkpoint it had', async (t) => {
  const old = await createTestDb({ migrate: false });
  t.after(() => old.drop());
  await migrate(old.pool, await schemaCopy(t, /^00[1-4]_/));
  const store = new EventStore(old.pool);
  const first = await store.append('bybit:main', [syncCompleted(), syncCompleted()]);
  // What the 004 daemon's projector left: sync_runs made by sync_run_rows, one 'projections' checkpoint.
  await old.pool.query(`INSERT INTO exchange_sync.sync_runs SELECT * FROM exchange_sync.sync_run_rows($1::bigint[])`, [first.events.map((e) => e.globalPosition)]);
  await old.pool.query(
    `INSERT INTO exchange_sync.checkpoints (subscriber, transaction_id, global_position)
     SELECT 'projections', transaction_id, global_position FROM exchange_sync.events ORDER BY transaction_id DESC, global_position DESC LIMIT 1`,
  );
  const { rows: shared } = await old.pool.query(`SELECT transaction_id::text AS tx, global_position::int AS gp FROM exchange_sync.checkpoints`);

  await migrate(old.pool);
  const { rows: checkpoints } = await old.pool.query(
    `SELECT subscriber, transaction_id::text AS tx, global_position::int AS gp FROM exchange_sync.checkpoints ORDER BY subscriber`,
  );
  assert.deepEqual(
    checkpoints,
    ['projection:balances', 'projection:positions', 'projection:sync_runs'].map((subscriber) => ({ subscriber, ...shared[0] })),
  );
  const { rows: fn } = await old.pool.query(`SELECT to_regprocedure('exchange_sync.sync_run_rows(bigint[])') AS f`);
  assert.equal(fn[0].f, null, 'the SQL mapping of sync_runs is gone: the projection module makes the rows');

  // Nothing is projected twice (sync_runs would refuse a second row per sync), and new events are.
  const next = await store.append('bybit:main', [syncCompleted()]);
  await catchUpProjections(store);
  const { rows } = await old.pool.query('SELECT event_position::int AS p FROM exchange_sync.sync_runs ORDER BY event_position');
  assert.deepEqual(
    rows.map((r) => r.p),
    [...first.events, ...next.events].map((e) => e.globalPosition),
  );
});

/** A snapshot_recorded as 0.1 and 0.2 wrote it: v1, one wallet, balances without a wallet. */
function snapshotV1(exchange: string, account: string, fetchedAt: string, balances: Array<[string, string, string | null]>, prices: Record<string, string>) {
  return {
    type: 'snapshot_recorded',
    version: 1,
    data: {
      syncId: randomUUID(),
      contentHash: 'c'.repeat(64),
      snapshot: {
        exchange,
        account,
        quote: 'USDT',
        balances: balances.map(([asset, total, used]) => ({ asset, free: total, used, total })),
        positions:
          exchange === 'binance'
            ? [{ symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.1', contractSize: '1', entryPrice: '63000', markPrice: '65000', liquidationPrice: null, notional: '6500', unrealizedPnl: '200', leverage: null, marginMode: 'cross' }]
            : [],
        prices,
        fetchedAt,
        exchangeTime: null,
      },
    },
  };
}

test('a database at 005 with v1 snapshots: 006 labels its balances by wallet as the v1 upcaster does, and a rebuild and --at give the same rows', async (t) => {
  const old = await createTestDb({ migrate: false });
  t.after(() => old.drop());
  await migrate(old.pool, await schemaCopy(t, /^00[1-5]_/));
  const store = new EventStore(old.pool);
  await store.append('bybit:main', [snapshotV1('bybit', 'main', '2026-11-01T00:00:00.000Z', [['BTC', '0.5', '0'], ['USDT', '100.25', null]], { BTC: '65000.5', USDT: '1' })]);
  await store.append('binance:main', [snapshotV1('binance', 'main', '2026-11-01T00:01:00.000Z', [['ETH', '4.5', '0']], { ETH: '3400' })]);
  await store.append('kraken:main', [snapshotV1('kraken', 'main', '2026-11-01T00:02:00.000Z', [['XBT', '1', null]], {})]);
  // What the 0.2 projector left: one row per asset, no wallet, and its checkpoints at the end.
  await old.pool.query(`
    INSERT INTO exchange_sync.balances (exchange, account, asset, free, used, total, price, quote, value, as_of, event_position)
    SELECT split_part(e.stream_id, ':', 1), split_part(e.stream_id, ':', 2), b->>'asset', (b->>'free')::numeric, (b->>'used')::numeric, (b->>'total')::numeric,
           (e.data->'snapshot'->'prices'->>(b->>'asset'))::numeric, 'USDT',
           (b->>'total')::numeric * (e.data->'snapshot'->'prices'->>(b->>'asset'))::numeric,
           (e.data->'snapshot'->>'fetchedAt')::timestamptz, e.global_position
    FROM exchange_sync.events e, jsonb_array_elements(e.data->'snapshot'->'balances') b`);
  await old.pool.query(`
    INSERT INTO exchange_sync.positions (exchange, account, symbol, side, contracts, contract_size, entry_price, mark_price, liquidation_price, notional, unrealized_pnl, leverage, margin_mode, as_of, event_position)
    SELECT split_part(e.stream_id, ':', 1), split_part(e.stream_id, ':', 2), p->>'symbol', p->>'side', (p->>'contracts')::numeric, (p->>'contractSize')::numeric,
           (p->>'entryPrice')::numeric, (p->>'markPrice')::numeric, NULL, (p->>'notional')::numeric, (p->>'unrealizedPnl')::numeric, NULL, p->>'marginMode',
           (e.data->'snapshot'->>'fetchedAt')::timestamptz, e.global_position
    FROM exchange_sync.events e, jsonb_array_elements(e.data->'snapshot'->'positions') p`);
  await old.pool.query(`
    INSERT INTO exchange_sync.checkpoints (subscriber, transaction_id, global_position)
    SELECT s, transaction_id, global_position FROM exchange_sync.events, unnest(ARRAY['projection:balances', 'projection:positions', 'projection:sync_runs']) s
    ORDER BY transaction_id DESC, global_position DESC LIMIT 3`);

  await migrate(old.pool);
  const migrated = await projectionNow(old.pool, balances, {});
  assert.deepEqual(
    migrated.map((r) => [r.exchange, r.wallet, r.asset, r.total, r.value]),
    [
      ['binance', 'spot', 'ETH', '4.5', '15300'],
      ['bybit', 'unified', 'BTC', '0.5', '32500.25'],
      ['bybit', 'unified', 'USDT', '100.25', '100.25'],
      ['kraken', 'default', 'XBT', '1', null],
    ],
  );
  const migratedPositions = await projectionNow(old.pool, positions, {});
  const at = new Date().toISOString();
  assert.deepEqual(await projectionAt(store, balances, at, {}), migrated, '--at replays the v1 events through the upcaster to the same rows');
  await rebuild(store, { projections: ['balances', 'positions'] });
  assert.deepEqual(await projectionNow(old.pool, balances, {}), migrated, 'a rebuild from the v1 events gives the rows the migration labelled');
  assert.deepEqual(await projectionNow(old.pool, positions, {}), migratedPositions);
});
