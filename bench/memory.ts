// Daemon memory per account: RSS after GC in a fresh child process (node --expose-gc) running a
// whole Daemon (pool, projector, relay on its own NATS prefix/stream, HTTP, scheduler) with 1, 100
// and 1,000 bybit accounts configured and synced once each against the emulator (in the parent).
// Baseline, same run: the bare adapter (createExchangeAccess + one fetchSnapshot per account) in
// the same kind of child, i.e. what the ccxt instances alone cost.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Daemon } from '../src/daemon/daemon.js';
import { startEmulator } from '../src/emulator/index.js';
import { createExchangeAccess } from '../src/exchanges/index.js';
import { createInstance } from '../src/exchanges/instances.js';
import { silentLogger } from '../src/log.js';
import { benchAccounts, benchConfig, seedEmulator, sleep } from './common.js';
import type { Figure } from './report.js';

const here = fileURLToPath(import.meta.url);
const KB = 1024;

interface Mem {
  rssKB: number;
  heapUsedKB: number;
  externalKB: number;
  arrayBuffersKB: number;
}
export interface MemoryChildResult {
  mode: 'daemon' | 'adapter';
  accounts: number;
  /** After start (accounts configured, nothing synced). */
  started: Mem;
  /** After one sync of every account, projections and relay caught up. */
  synced: Mem;
  ok: number;
  seconds: number;
}

async function settled(): Promise<Mem> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return { rssKB: Math.round(m.rss / KB), heapUsedKB: Math.round(m.heapUsed / KB), externalKB: Math.round(m.external / KB), arrayBuffersKB: Math.round(m.arrayBuffers / KB) };
}

async function child(mode: 'daemon' | 'adapter', n: number, emuUrl: string, dbUrl: string): Promise<void> {
  const accounts = benchAccounts(n, emuUrl);
  // Load the module graph (ccxt, undici, zod, pg, nats) before the first reading.
  createInstance({ exchange: 'bybit', testnet: false }, {}, { timeoutMs: 1000 });
  const t0 = performance.now();
  let ok = 0;
  let started: Mem;
  let synced: Mem;
  if (mode === 'adapter') {
    const access = createExchangeAccess(accounts, { timeoutMs: 30_000 });
    started = await settled();
    const results = await Promise.allSettled(accounts.map((a) => access.fetchSnapshot(a)));
    ok = results.filter((r) => r.status === 'fulfilled').length;
    synced = await settled();
    await access.close();
  } else {
    const daemon = new Daemon(benchConfig(dbUrl, accounts), { logger: silentLogger(), pollMs: 500, httpHost: '127.0.0.1' });
    await daemon.start();
    for (let i = 0; i < 200 && !daemon.nats; i++) await sleep(50);
    started = await settled();
    const results = await daemon.sync({}, 'api');
    ok = results.filter((r) => r.status === 'ok').length;
    // Let the projector and relay take the events in, then settle.
    const last = Math.max(...results.map((r) => r.globalPosition));
    for (let i = 0; i < 600; i++) {
      const lag = (await daemon.status()) as { lag: { relay: { events: number }; projections: { events: number } } };
      if (lag.lag.relay.events === 0 && lag.lag.projections.events === 0) break;
      await sleep(100);
    }
    void last;
    synced = await settled();
    const stream = daemon.config.nats.stream;
    await daemon.stop();
    const nc = await connect({ servers: (process.env.NATS_URL ?? 'nats://127.0.0.1:4222').replace(/^nats:\/\//, '') });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
    await nc.close();
  }
  const result: MemoryChildResult = { mode, accounts: n, started, synced, ok, seconds: Math.round(performance.now() - t0) / 1000 };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

function runChild(mode: 'daemon' | 'adapter', n: number, emuUrl: string, dbUrl: string): Promise<MemoryChildResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', here, '--child', mode, String(n), emuUrl, dbUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('exit', (code) => {
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line) reject(new Error(`memory child ${mode}/${n} exited ${code}`));
      else resolve(JSON.parse(line) as MemoryChildResult);
    });
  });
}

const perAccount = (a: MemoryChildResult, b: MemoryChildResult, k: keyof Mem) => (b.synced[k] - a.synced[k]) / (b.accounts - a.accounts);

export async function benchMemory(dbUrl: string, opts: { counts: number[] }): Promise<{ figures: Figure[]; runs: MemoryChildResult[] }> {
  const emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0 });
  seedEmulator(emu, Math.max(...opts.counts));
  const runs: MemoryChildResult[] = [];
  try {
    for (const n of opts.counts) {
      runs.push(await runChild('daemon', n, emu.url, dbUrl));
      runs.push(await runChild('adapter', n, emu.url, dbUrl));
    }
  } finally {
    await emu.close();
  }
  const figures: Figure[] = [];
  const byMode = (m: MemoryChildResult['mode']) => runs.filter((r) => r.mode === m).sort((a, b) => a.accounts - b.accounts);
  const d = byMode('daemon');
  const a = byMode('adapter');
  for (const r of d) {
    const base = a.find((x) => x.accounts === r.accounts);
    figures.push({
      name: `memory, daemon RSS, ${r.accounts} acct${r.accounts > 1 ? 's' : ''} synced (${r.ok} ok)`,
      unit: 'KB',
      value: r.synced.rssKB,
      baselineName: 'bare adapter RSS',
      baseline: base?.synced.rssKB,
      lowerIsBetter: true,
    });
  }
  const first = 0;
  const last = d.length - 1;
  if (last > first) {
    figures.push({
      name: `memory, daemon RSS per extra acct (${d[first]!.accounts}->${d[last]!.accounts})`,
      unit: 'KB',
      value: perAccount(d[first]!, d[last]!, 'rssKB'),
      baselineName: 'bare adapter per acct',
      baseline: perAccount(a[first]!, a[last]!, 'rssKB'),
      lowerIsBetter: true,
      max: 150,
    });
    figures.push({
      name: `memory, daemon heapUsed per extra acct`,
      unit: 'KB',
      value: perAccount(d[first]!, d[last]!, 'heapUsedKB'),
      baselineName: 'bare adapter per acct',
      baseline: perAccount(a[first]!, a[last]!, 'heapUsedKB'),
      lowerIsBetter: true,
    });
  }
  return { figures, runs };
}

const args = process.argv.slice(2);
if (args[0] === '--child') await child(args[1] as 'daemon' | 'adapter', Number(args[2]), args[3]!, args[4]!);
