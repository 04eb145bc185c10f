// Start-up of the installed command, as a whole process under plain node (the bin runs dist/):
// `events --help` (loads no ccxt, no database), `balances` on an empty database, and one `sync`
// of one bybit account end to end against the emulator. Baseline, same run: a bare `node -e 0`.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startEmulator } from '../src/emulator/index.js';
import type { Figure } from './report.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../bin/exchange-sync.mjs', import.meta.url));

async function wallMs(args: string[], env: Record<string, string> = {}): Promise<number> {
  const t0 = performance.now();
  await run(process.execPath, args, { env: { ...process.env, EXCHANGE_SYNC_LOG_DIR: '', ...env } });
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median wall time of `rounds` runs, interleaved with the baseline's so both see the same machine. */
async function paired(rounds: number, args: string[], env?: Record<string, string>): Promise<{ value: number; baseline: number }> {
  const ours: number[] = [];
  const bare: number[] = [];
  await wallMs(args, env); // warm the file cache
  for (let i = 0; i < rounds; i++) {
    ours.push(await wallMs(args, env));
    bare.push(await wallMs(['-e', '0']));
  }
  return { value: median(ours), baseline: median(bare) };
}

export async function benchStartup(dbUrl: string, opts: { rounds: number }): Promise<Figure[]> {
  const emu = await startEmulator({ port: 0 });
  try {
    const db = { DATABASE_URL: dbUrl };
    const help = await paired(opts.rounds, [BIN, 'events', '--help']);
    const balances = await paired(opts.rounds, [BIN, 'balances'], db);
    const sync = await paired(Math.max(3, Math.floor(opts.rounds / 2)), [BIN, 'sync'], {
      ...db,
      EXCHANGE_SYNC_EXCHANGES: 'bybit',
      BYBIT_API_KEY: 'demo-bybit-key',
      BYBIT_API_SECRET: 'demo-bybit-secret',
      BYBIT_API_URL: emu.url,
    });
    const base = 'node -e 0';
    return [
      { name: 'start-up, exchange-sync events --help', unit: 'ms', ...help, baselineName: base, target: 4, lowerIsBetter: true },
      { name: 'start-up, exchange-sync balances (empty db)', unit: 'ms', ...balances, baselineName: base, target: 4, lowerIsBetter: true },
      { name: 'exchange-sync sync, 1 bybit account, end to end', unit: 'ms', ...sync, baselineName: base, lowerIsBetter: true, max: 1500 },
    ];
  } finally {
    await emu.close();
  }
}
