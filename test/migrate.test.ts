import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { MigrationError, SCHEMA_DIR, migrate, schemaStatus } from '../src/events/migrate.js';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { EventStore } from '../src/events/store.js';
import { catchUpProjections } from '../src/projections/index.js';
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
  for (const f of await readdir(dir)) if (!/^00[12]_/.test(f)) await rm(join(dir, f));
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
