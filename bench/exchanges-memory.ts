// Memory of the exchange adapter per account, and HTTP requests per snapshot.
//
//   node --expose-gc --import tsx bench/exchanges-memory.ts [--accounts 1,500] [--out FILE]
//
// The emulator runs in this (parent) process; each account count is measured in a fresh child
// process (so one run's garbage cannot inflate the next) that creates the accounts, loads
// markets once, takes one snapshot per account, forces GC and reports RSS and heapUsed.
// A "naive" child does what the adapter avoids, markets loaded per account instance, to show
// what sharing saves.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Account } from '../src/config.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { createExchangeAccess } from '../src/exchanges/index.js';
import { createInstance } from '../src/exchanges/instances.js';
import { loadExchange } from '../src/exchanges/ccxt-modules.js';

// createInstance() builds from loaded exchange modules; the adapter loads them on first sync.
await Promise.all(['bybit', 'binance'].map(loadExchange));

const MB = 1024 * 1024;
const here = fileURLToPath(import.meta.url);

interface Memory {
  rssMB: number;
  heapUsedMB: number;
}

interface ChildResult {
  mode: 'shared' | 'naive';
  accounts: number;
  baseline: Memory;
  loaded: Memory;
  snapshotsOk: number;
  seconds: number;
}

const round = (n: number) => Math.round(n * 10) / 10;

function keyFor(exchange: string, i: number) {
  return { apiKey: `bench-${exchange}-key-${i}`, secret: `bench-${exchange}-secret-${i}` };
}

function benchAccounts(exchange: 'bybit' | 'binance', n: number, url: string): Account[] {
  return Array.from({ length: n }, (_, i) => ({ account: `a${i}`, exchange, ...keyFor(exchange, i), testnet: false, apiUrl: url, options: {} }));
}

async function settledMemory(): Promise<Memory> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return { rssMB: round(m.rss / MB), heapUsedMB: round(m.heapUsed / MB) };
}

async function child(mode: 'shared' | 'naive', n: number, url: string): Promise<void> {
  const accounts = benchAccounts('bybit', n, url);
  // Warm the module graph (ccxt, undici, zod) so the baseline holds the code, not the accounts.
  createInstance({ exchange: 'bybit', testnet: false }, {}, { timeoutMs: 1000 });
  const baseline = await settledMemory();
  const started = performance.now();
  let ok = 0;
  let keep: unknown;
  if (mode === 'shared') {
    const access = createExchangeAccess(accounts, { timeoutMs: 30_000, concurrencyPerExchange: 16 });
    const results = await Promise.allSettled(accounts.map((a) => access.fetchSnapshot(a)));
    ok = results.filter((r) => r.status === 'fulfilled').length;
    keep = access;
  } else {
    const instances = accounts.map((a) => createInstance(a, {}, { timeoutMs: 30_000 }, a));
    for (let i = 0; i < instances.length; i += 16) {
      const batch = instances.slice(i, i + 16);
      const results = await Promise.allSettled(batch.map(async (inst) => (await inst.loadMarkets(), inst.fetchBalance())));
      ok += results.filter((r) => r.status === 'fulfilled').length;
    }
    keep = instances;
  }
  const seconds = round((performance.now() - started) / 1000);
  const loaded = await settledMemory();
  const result: ChildResult = { mode, accounts: n, baseline, loaded, snapshotsOk: ok, seconds };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  void keep;
  process.exit(0);
}

function runChild(mode: 'shared' | 'naive', n: number, url: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', here, '--child', mode, '--accounts', String(n), '--url', url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('exit', (code) => {
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line) reject(new Error(`child ${mode}/${n} exited ${code}`));
      else resolve(JSON.parse(line) as ChildResult);
    });
  });
}

async function requestsPerSnapshot(emu: Emulator, exchange: 'bybit' | 'binance'): Promise<{ coldTotal: number; marketLoad: Record<string, number>; perSnapshot: Record<string, number> }> {
  const [account] = benchAccounts(exchange, 1, emu.url).map((a) => ({ ...a, name: 'count' }));
  const access = createExchangeAccess([account!], { timeoutMs: 10_000 });
  const rows = (filter: Parameters<Emulator['requestCount']>[0]) => {
    // The counter only sums; list the paths each exchange serves that ccxt touched.
    const paths =
      exchange === 'bybit'
        ? ['/v5/market/instruments-info', '/v5/market/tickers', '/v5/market/time', '/v5/account/wallet-balance', '/v5/position/list', '/v5/user/query-api', '/v5/account/info', '/v5/asset/coin/query-info']
        : ['/api/v3/exchangeInfo', '/fapi/v1/exchangeInfo', '/api/v3/ticker/24hr', '/api/v3/time', '/api/v3/account', '/fapi/v3/positionRisk', '/fapi/v2/positionRisk', '/fapi/v1/leverageBracket', '/sapi/v1/margin/allPairs', '/sapi/v1/margin/isolated/allPairs'];
    return Object.fromEntries(paths.map((path) => [path, emu.requestCount({ ...filter, exchange, path })]).filter(([, n]) => (n as number) > 0));
  };
  try {
    emu.resetRequestCounts();
    await access.fetchSnapshot(account!);
    const cold = rows({});
    const coldTotal = emu.requestCount({ exchange });
    emu.resetRequestCounts();
    await access.fetchSnapshot(account!);
    const perSnapshot = rows({});
    const marketLoad = Object.fromEntries(
      Object.entries(cold)
        .map(([p, n]) => [p, (n as number) - ((perSnapshot[p] as number | undefined) ?? 0)] as const)
        .filter(([, n]) => n > 0),
    );
    return { coldTotal, marketLoad, perSnapshot };
  } finally {
    await access.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      accounts: { type: 'string', default: '1,500' },
      url: { type: 'string' },
      out: { type: 'string' },
      naive: { type: 'boolean', default: true },
    },
  });
  if (values.child) return child(values.child as 'shared' | 'naive', Number(values.accounts), values.url!);

  const counts = values.accounts.split(',').map(Number);
  const emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0 });
  try {
    const max = Math.max(...counts);
    for (const exchange of ['bybit', 'binance'] as const) {
      for (let i = 0; i < max; i++) {
        emu.setAccount({
          exchange,
          ...keyFor(exchange, i),
          balances: { USDT: { free: '1000.5', used: '1' }, BTC: { free: '0.1', used: '0' }, ETH: { free: '2.000000000000000001', used: '0' } },
          positions: [{ symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.01', entryPrice: '60000', leverage: '10', marginMode: 'cross' }],
        });
      }
    }
    const requests = { bybit: await requestsPerSnapshot(emu, 'bybit'), binance: await requestsPerSnapshot(emu, 'binance') };

    const runs: ChildResult[] = [];
    for (const n of counts) runs.push(await runChild('shared', n, emu.url));
    if (values.naive) runs.push(await runChild('naive', max, emu.url));

    const one = runs.find((r) => r.mode === 'shared' && r.accounts === Math.min(...counts));
    const many = runs.find((r) => r.mode === 'shared' && r.accounts === max);
    const perAccount =
      one && many && many.accounts > one.accounts
        ? {
            rssKB: Math.round(((many.loaded.rssMB - one.loaded.rssMB) * 1024) / (many.accounts - one.accounts)),
            heapUsedKB: Math.round(((many.loaded.heapUsedMB - one.loaded.heapUsedMB) * 1024) / (many.accounts - one.accounts)),
          }
        : null;
    const report = { node: process.version, requests, memory: runs, perAdditionalAccount: perAccount };

    console.log('HTTP requests (emulator counts), one account:');
    for (const [ex, r] of Object.entries(requests)) {
      const per = Object.values(r.perSnapshot).reduce((a, b) => a + b, 0);
      console.log(`  ${ex}: cold start ${r.coldTotal} (market load ${JSON.stringify(r.marketLoad)}), then ${per} per snapshot ${JSON.stringify(r.perSnapshot)}`);
    }
    console.log('Memory after GC (bybit accounts, one snapshot each):');
    for (const r of runs) {
      console.log(
        `  ${r.mode.padEnd(6)} ${String(r.accounts).padStart(4)} accounts: rss ${r.loaded.rssMB} MB (baseline ${r.baseline.rssMB}), heapUsed ${r.loaded.heapUsedMB} MB (baseline ${r.baseline.heapUsedMB}), ${r.snapshotsOk} ok in ${r.seconds}s`,
      );
    }
    if (perAccount) console.log(`  per additional account: rss ~${perAccount.rssKB} KB, heapUsed ~${perAccount.heapUsedKB} KB`);
    if (values.out) writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await emu.close();
  }
}

await main();
