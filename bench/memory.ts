// Daemon memory: RSS after GC of a fresh child process running the compiled daemon under plain
// node (bench/memory-child.mjs: pool, projectors, relay on its own NATS prefix/stream, HTTP,
// scheduler) with 1, 100 and 1,000 bybit accounts, each synced once against the emulator (in the
// parent). Baselines, same run: node with pg and the NATS client loaded and connected (what any
// such service costs), and the bare exchange adapter in the same kind of child.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../src/emulator/index.js';
import { seedEmulator } from './common.js';
import type { Figure } from './report.js';

const CHILD = fileURLToPath(new URL('./memory-child.mjs', import.meta.url));
const MB = 1024;

interface Mem {
  rssKB: number;
  heapUsedKB: number;
  externalKB: number;
  arrayBuffersKB: number;
}
export interface MemoryChildResult {
  mode: 'daemon' | 'adapter' | 'baseline';
  accounts: number;
  /** After start (accounts configured, nothing synced). */
  started: Mem;
  /** After one sync of every account, projections and relay caught up. */
  synced: Mem;
  ok: number;
  seconds: number;
}

function runChild(mode: MemoryChildResult['mode'], n: number, emuUrl: string, dbUrl: string): Promise<MemoryChildResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--expose-gc', CHILD, mode, String(n), emuUrl, dbUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  let baseline: MemoryChildResult;
  try {
    baseline = await runChild('baseline', 0, emu.url, dbUrl);
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
      baselineName: 'node + pg + NATS client RSS',
      baseline: baseline.synced.rssKB,
      lowerIsBetter: true,
      // Targets: 100 MB with one account, 150 MB with 1,000.
      ...(r.accounts === 1 ? { max: 100 * MB } : r.accounts >= 1000 ? { max: 150 * MB } : {}),
    });
    if (base) {
      figures.push({
        name: `memory, bare adapter RSS, ${r.accounts} acct${r.accounts > 1 ? 's' : ''}`,
        unit: 'KB',
        value: base.synced.rssKB,
        baselineName: 'node + pg + NATS client RSS',
        baseline: baseline.synced.rssKB,
        lowerIsBetter: true,
      });
    }
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
  return { figures, runs: [baseline, ...runs] };
}

