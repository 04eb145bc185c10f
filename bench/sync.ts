// Sync throughput per exchange: accounts/s through the daemon's SyncService (the exchange's plan,
// lock, append, as the Daemon runs it) vs a bare ccxt loop making the same calls with the same
// instances' settings and recording nothing. Each account has every wallet and position kind its
// exchange's plan reads. Both sides: 4 requests streams per exchange (the adapter's default
// concurrencyPerExchange; SyncService itself allows 8 in flight), markets loaded once and shared,
// the emulator at zero latency with prices frozen. Also prints the HTTP requests each snapshot
// costs on both sides, counted at the emulator: they must be equal, or the loops compare
// different work.
import type { Account } from '../src/config.js';
import type { Pool } from '../src/events/db.js';
import { EventStore } from '../src/events/store.js';
import { SyncService } from '../src/daemon/sync.js';
import { startEmulator, type Emulator, type EmulatorAccountInput } from '../src/emulator/index.js';
import { loadExchange } from '../src/exchanges/ccxt-modules.js';
import { createExchangeAccess } from '../src/exchanges/index.js';
import { createInstance, type Instance } from '../src/exchanges/instances.js';
import { silentLogger } from '../src/log.js';
import { timed } from './common.js';
import type { Figure } from './report.js';

const IN_FLIGHT = 8;
const STREAMS = 4;

type Exchange = 'bybit' | 'binance' | 'okx';
type Dict = Record<string, unknown>;

function holdings(exchange: Exchange): Partial<EmulatorAccountInput> {
  const spot = { USDT: { free: '1000.5', used: '1' }, BTC: { free: '0.1', used: '0' }, ETH: { free: '2.000000000000000001', used: '0' } };
  const funding = { USDT: { free: '250.5', used: '0' } };
  const linear = { symbol: 'BTC/USDT:USDT', side: 'long' as const, contracts: '1', entryPrice: '60000', leverage: '10', marginMode: 'cross' as const };
  const inverse = { symbol: 'BTC/USD:BTC', side: 'short' as const, contracts: '10', entryPrice: '66000', leverage: '3', marginMode: 'isolated' as const };
  if (exchange === 'bybit') return { balances: spot, fundingBalances: funding, positions: [linear, { ...linear, symbol: 'BTC/USDC:USDC' }, inverse] };
  if (exchange === 'binance') return { balances: spot, fundingBalances: funding, futuresBalances: { USDT: { free: '800', used: '12' } }, deliveryBalances: { BTC: { free: '0.2', used: '0' } }, positions: [linear, inverse] };
  return { balances: spot, fundingBalances: funding, positions: [linear, inverse] };
}

function seed(emu: Emulator, exchange: Exchange, n: number): Account[] {
  return Array.from({ length: n }, (_, i) => {
    const keys = { apiKey: `bench-${exchange}-key-${i}`, secret: `bench-${exchange}-secret-${i}`, passphrase: exchange === 'okx' ? `bench-pass-${i}` : undefined };
    emu.setAccount({ exchange, ...keys, ...holdings(exchange) } as EmulatorAccountInput);
    return { account: `a${i}`, exchange, apiKey: keys.apiKey, secret: keys.secret, password: keys.passphrase, testnet: false, apiUrl: emu.url, options: {} };
  });
}

const call = (inst: Instance, method: string, params: Dict = {}) => (inst as unknown as Record<string, (p: Dict) => Promise<Dict>>)[method]!.call(inst, params);

/** The calls the exchange's plan makes for one snapshot in steady state, straight on ccxt. */
export const BARE: Record<Exchange, (inst: Instance) => Promise<void>> = {
  async bybit(inst) {
    await call(inst, 'privateGetV5AccountInfo');
    inst.parseBalance(await call(inst, 'privateGetV5AccountWalletBalance', { accountType: 'UNIFIED' }));
    inst.parseBalance(await call(inst, 'privateGetV5AssetTransferQueryAccountCoinsBalance', { accountType: 'FUND' }));
    for (const params of [{ category: 'linear', settleCoin: 'USDT' }, { category: 'linear', settleCoin: 'USDC' }, { category: 'inverse' }]) {
      const reply = await call(inst, 'privateGetV5PositionList', { ...params, limit: 200 });
      for (const row of (reply.result as { list: Dict[] }).list) inst.parsePosition(row);
    }
    await inst.fetchTickers(['BTC/USDT', 'ETH/USDT']);
  },
  async binance(inst) {
    await inst.fetchBalance({ type: 'spot' });
    await inst.fetchBalance({ type: 'funding' });
    await inst.fetchBalance({ type: 'future' });
    await inst.fetchPositionsRisk(undefined, { type: 'future', subType: 'linear', useV2: true });
    await inst.fetchBalance({ type: 'delivery' });
    await inst.fetchPositionsRisk(undefined, { type: 'delivery', subType: 'inverse' });
    await inst.fetchTickers(['BTC/USDT', 'ETH/USDT']);
  },
  async okx(inst) {
    await inst.fetchBalance({ type: 'trading' });
    await inst.fetchBalance({ type: 'funding' });
    await inst.fetchPositions();
    await inst.fetchTickers(['BTC/USDT', 'ETH/USDT']);
  },
};

async function benchExchange(pool: Pool, emu: Emulator, exchange: Exchange, opts: { accounts: number; rounds: number }): Promise<Figure[]> {
  const accounts = seed(emu, exchange, opts.accounts);
  const logger = silentLogger();
  const access = createExchangeAccess(accounts, { logger });
  const service = new SyncService(new EventStore(pool), access, logger, { maxConcurrent: IN_FLIGHT });
  await loadExchange(exchange);
  const loader = createInstance(accounts[0]!, {}, { timeoutMs: 10_000 });
  const instances = Array.from({ length: STREAMS }, () => createInstance(accounts[0]!, {}, { timeoutMs: 10_000 }));
  const viaService = async () => {
    const results = await Promise.all(accounts.map((a) => service.sync(a, 'api')));
    const bad = results.filter((r) => r.status !== 'ok');
    if (bad.length) throw new Error(`${exchange}: ${bad.length} syncs failed: ${bad[0]!.message}`);
  };
  const bare = async () => {
    let next = 0;
    await Promise.all(
      instances.map(async (inst) => {
        while (next < accounts.length) {
          const a = accounts[next++]!;
          inst.apiKey = a.apiKey!;
          inst.secret = a.secret!;
          if (a.password) inst.password = a.password;
          await BARE[exchange](inst);
        }
      }),
    );
  };
  try {
    await loader.loadMarkets();
    for (const inst of instances) inst.setMarketsFromExchange(loader);
    // Warm: market loads, instances, connections, account types; the first recorded sync of each
    // account is a snapshot_recorded, later ones (frozen prices) snapshot_unchanged as in steady state.
    await viaService();
    await bare();
    let serviceSecs = 0;
    let bareSecs = 0;
    let serviceRequests = 0;
    let bareRequests = 0;
    for (let r = 0; r < opts.rounds; r++) {
      emu.resetRequestCounts();
      serviceSecs += await timed(viaService);
      serviceRequests += emu.requestCount({ exchange });
      emu.resetRequestCounts();
      bareSecs += await timed(bare);
      bareRequests += emu.requestCount({ exchange });
    }
    const n = opts.accounts * opts.rounds;
    return [
      {
        name: `sync, ${opts.accounts} ${exchange} accts (every wallet), ${IN_FLIGHT} in flight`,
        unit: 'accounts/s',
        value: n / serviceSecs,
        baselineName: 'bare ccxt loop, same calls',
        baseline: n / bareSecs,
        target: 0.8,
      },
      {
        name: `requests per ${exchange} snapshot`,
        unit: 'requests',
        value: serviceRequests / n,
        baselineName: 'bare ccxt loop',
        baseline: bareRequests / n,
        target: 1,
        lowerIsBetter: true,
      },
    ];
  } finally {
    await access.close();
  }
}

export async function benchSync(pool: Pool, opts: { accounts: number; rounds: number }): Promise<Figure[]> {
  const emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0 });
  emu.freezePrices(true);
  try {
    const figures: Figure[] = [];
    for (const exchange of ['bybit', 'binance', 'okx'] as const) figures.push(...(await benchExchange(pool, emu, exchange, opts)));
    return figures;
  } finally {
    await emu.close();
  }
}
