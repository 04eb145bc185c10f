// Shared pieces of the benchmarks: emulator accounts, daemon configs, timing and percentiles.
import { randomBytes } from 'node:crypto';
import type { Account, Config } from '../src/config.js';
import { loadConfig } from '../src/config.js';
import type { Emulator } from '../src/emulator/index.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const benchKey = (i: number) => ({ apiKey: `bench-bybit-key-${i}`, secret: `bench-bybit-secret-${i}` });

/** n bybit accounts in the emulator: 3 balances and one position each, as exchanges-memory.ts. */
export function seedEmulator(emu: Emulator, n: number): void {
  for (let i = 0; i < n; i++) {
    emu.setAccount({
      exchange: 'bybit',
      ...benchKey(i),
      balances: { USDT: { free: '1000.5', used: '1' }, BTC: { free: '0.1', used: '0' }, ETH: { free: '2.000000000000000001', used: '0' } },
      positions: [{ symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.01', entryPrice: '60000', leverage: '10', marginMode: 'cross' }],
    });
  }
}

export function benchAccounts(n: number, url: string): Account[] {
  return Array.from({ length: n }, (_, i) => ({ account: `a${i}`, exchange: 'bybit', ...benchKey(i), testnet: false, apiUrl: url, options: {} }));
}

/** A daemon Config built in code: no scheduling, HTTP on a free port, its own NATS prefix/stream. */
export function benchConfig(dbUrl: string, accounts: Account[], nats?: { prefix: string; stream: string }): Config {
  const suffix = randomBytes(4).toString('hex');
  const base = loadConfig({
    DATABASE_URL: dbUrl,
    EXCHANGE_SYNC_EXCHANGES: 'bybit',
    EXCHANGE_SYNC_ENABLED: 'false',
    EXCHANGE_SYNC_HTTP_PORT: '0',
    EXCHANGE_SYNC_LOG_DIR: '',
    EXCHANGE_SYNC_NATS_PREFIX: nats?.prefix ?? `es_bench_${suffix}`,
    EXCHANGE_SYNC_STREAM: nats?.stream ?? `ES_BENCH_${suffix.toUpperCase()}`,
    NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  });
  return { ...base, accounts };
}
