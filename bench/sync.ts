// Sync throughput: accounts/s through the daemon's SyncService (fetch + lock + append, as the
// Daemon runs it) vs a bare loop making the same ccxt calls through the same adapter
// (createExchangeAccess().fetchSnapshot: fetchBalance, fetchPositions, fetchTickers) and recording
// nothing. Both sides: same adapter settings, at most 8 accounts in flight (SyncService's default
// slots), the adapter's default 4 per exchange endpoint, emulator with zero latency, prices frozen.
import type { Pool } from '../src/events/db.js';
import { EventStore } from '../src/events/store.js';
import { SyncService } from '../src/daemon/sync.js';
import { startEmulator } from '../src/emulator/index.js';
import { createExchangeAccess } from '../src/exchanges/index.js';
import { silentLogger } from '../src/log.js';
import { benchAccounts, seedEmulator, timed } from './common.js';
import type { Figure } from './report.js';

const IN_FLIGHT = 8;

export async function benchSync(pool: Pool, opts: { accounts: number; rounds: number }): Promise<Figure[]> {
  const emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0 });
  emu.freezePrices(true);
  seedEmulator(emu, opts.accounts);
  const accounts = benchAccounts(opts.accounts, emu.url);
  const logger = silentLogger();
  const serviceAccess = createExchangeAccess(accounts, { logger });
  const bareAccess = createExchangeAccess(accounts, { logger });
  const service = new SyncService(new EventStore(pool), serviceAccess, logger, { maxConcurrent: IN_FLIGHT });
  const viaService = async () => {
    const results = await Promise.all(accounts.map((a) => service.sync(a, 'api')));
    const bad = results.filter((r) => r.status !== 'ok');
    if (bad.length) throw new Error(`${bad.length} syncs failed: ${bad[0]!.message}`);
  };
  const bare = async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < accounts.length) await bareAccess.fetchSnapshot(accounts[next++]!);
      }),
    );
  };
  try {
    // Warm: market loads, instances, connections, plan caches; the first recorded sync of each
    // account is a snapshot_recorded, later ones (frozen prices) snapshot_unchanged as in steady state.
    await viaService();
    await bare();
    let serviceSecs = 0;
    let bareSecs = 0;
    for (let r = 0; r < opts.rounds; r++) {
      serviceSecs += await timed(viaService);
      bareSecs += await timed(bare);
    }
    const n = opts.accounts * opts.rounds;
    return [
      {
        name: `sync, ${opts.accounts} bybit accts, ${IN_FLIGHT} in flight`,
        unit: 'accounts/s',
        value: n / serviceSecs,
        baselineName: 'bare fetchSnapshot loop',
        baseline: n / bareSecs,
        target: 0.8,
      },
    ];
  } finally {
    await serviceAccess.close();
    await bareAccess.close();
    await emu.close();
  }
}
