// What the installed command really runs: compiled JavaScript under plain node (no tsx), and of
// ccxt only the modules of the exchanges that accounts use. Asserted from the processes' own
// module loads, not from the files.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { createTestDb, type TestDb } from './support/db.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'exchange-sync.mjs');
const LOGGER = join(ROOT, 'test', 'support', 'module-log.mjs');

let db: TestDb;
let emu: Emulator;
let dir: string;

before(async () => {
  db = await createTestDb();
  emu = await startEmulator({ port: 0 });
  dir = await mkdtemp(join(tmpdir(), 'es-startup-'));
});
after(async () => {
  await emu.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the bin under plain node; returns its output and the URLs of every module it loaded. */
async function bin(args: string[], env: Record<string, string> = {}) {
  const log = join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`);
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS'));
  const { stdout, stderr } = await run(process.execPath, ['--import', LOGGER, BIN, ...args], {
    cwd: ROOT,
    env: { ...clean, MODULE_LOG: log, EXCHANGE_SYNC_LOG_DIR: '', ...env },
  });
  const modules = (await readFile(log, 'utf8')).trim().split('\n');
  return { stdout, stderr, modules };
}

const ccxtExchangeModules = (modules: string[]) =>
  [...new Set(modules.filter((u) => /\/node_modules\/ccxt\/js\/src\/[a-z0-9]+\.js$/.test(u)).map((u) => u.split('/').pop()!))].sort();

test('the bin runs the compiled CLI with plain node: no tsx, no TypeScript source', async () => {
  const { stdout, modules } = await bin(['events', '--help']);
  assert.match(stdout, /^Usage: exchange-sync events/);
  assert.ok(modules.some((u) => u.endsWith('/dist/cli.js')), 'dist/cli.js was loaded');
  assert.deepEqual(modules.filter((u) => u.includes('/node_modules/tsx/')), []);
  assert.deepEqual(modules.filter((u) => u.endsWith('.ts')), []);
  // A command that does not talk to exchanges loads no exchange.
  assert.deepEqual(ccxtExchangeModules(modules), []);
});

test('a bybit-only config loads the bybit module alone, and never the ccxt index', async () => {
  const { stdout, modules } = await bin(['sync'], {
    DATABASE_URL: db.url,
    EXCHANGE_SYNC_EXCHANGES: 'bybit',
    BYBIT_API_KEY: 'demo-bybit-key',
    BYBIT_API_SECRET: 'demo-bybit-secret',
    BYBIT_API_URL: emu.url,
  });
  assert.match(stdout, /bybit:default {2}ok/);
  assert.deepEqual(ccxtExchangeModules(modules), ['bybit.js']);
  assert.deepEqual(modules.filter((u) => u.endsWith('/node_modules/ccxt/js/ccxt.js')), []);
  assert.deepEqual(modules.filter((u) => u.includes('/node_modules/tsx/')), []);
});
