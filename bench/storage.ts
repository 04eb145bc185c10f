// Bytes the log grows by per sync: a changed snapshot (full balances, positions, prices) and an
// unchanged one (hash and time only), heap and indexes included, measured against the emulator.
import type { Account } from '../src/config.js';
import { SyncService } from '../src/daemon/sync.js';
import type { Pool } from '../src/events/db.js';
import { EventStore } from '../src/events/store.js';
import { startEmulator } from '../src/emulator/index.js';
import { createExchangeAccess } from '../src/exchanges/index.js';
import { silentLogger } from '../src/log.js';
import type { Figure } from './report.js';

async function logBytes(pool: Pool): Promise<number> {
  await pool.query('VACUUM exchange_sync.events');
  const { rows } = await pool.query<{ n: string }>(`SELECT pg_total_relation_size('exchange_sync.events') AS n`);
  return Number(rows[0]!.n);
}

export async function benchStorage(pool: Pool, opts: { syncs: number }): Promise<Figure[]> {
  const emu = await startEmulator({ port: 0 });
  const account: Account = { account: 'storage', exchange: 'bybit', apiKey: 'demo-bybit-key', secret: 'demo-bybit-secret', testnet: false, options: {}, apiUrl: emu.url };
  const access = createExchangeAccess([account], {});
  const service = new SyncService(new EventStore(pool), access, silentLogger());
  try {
    emu.freezePrices(true);
    await service.sync(account, 'cli');
    let before = await logBytes(pool);
    for (let i = 0; i < opts.syncs; i++) await service.sync(account, 'cli');
    const unchanged = ((await logBytes(pool)) - before) / opts.syncs;
    before = await logBytes(pool);
    for (let i = 0; i < opts.syncs; i++) {
      emu.setPrice('bybit', 'BTC/USDT', String(60000 + i));
      await service.sync(account, 'cli');
    }
    const changed = ((await logBytes(pool)) - before) / opts.syncs;
    return [
      { name: 'log bytes per changed sync (4 balances, 2 positions)', unit: 'B', value: changed, lowerIsBetter: true },
      { name: 'log bytes per unchanged sync', unit: 'B', value: unchanged, lowerIsBetter: true },
    ];
  } finally {
    await access.close();
    await emu.close();
  }
}
