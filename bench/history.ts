// History ingest: fills/s recorded through the daemon's SyncService (the snapshot, then the
// history fetch over every window and page, dedupe against the log's coverage, one append) vs a
// bare ccxt loop making the same calls (the snapshot's, then the same windows and pages of
// /v5/execution/list and the transfer records) and recording nothing. Each
// bybit account holds `fills` spot fills over `days` days; both sides fetch every account's whole
// backfill, 4 request streams, the emulator at zero latency. Also: bytes per fill in the log and
// in the trades table.
import type { Account } from '../src/config.js';
import type { Pool } from '../src/events/db.js';
import { EventStore } from '../src/events/store.js';
import { SyncService } from '../src/daemon/sync.js';
import { startEmulator, type Emulator, type EmulatorAccountInput } from '../src/emulator/index.js';
import { loadExchange } from '../src/exchanges/ccxt-modules.js';
import { createExchangeAccess } from '../src/exchanges/index.js';
import { createInstance, type Instance } from '../src/exchanges/instances.js';
import { silentLogger } from '../src/log.js';
import { catchUpProjections } from '../src/projections/index.js';
import { timed } from './common.js';
import { BARE } from './sync.js';
import type { Figure } from './report.js';

const DAY = 24 * 60 * 60 * 1000;
const STREAMS = 4;

function seed(emu: Emulator, n: number, fills: number, days: number, prefix: string): Account[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => {
    const keys = { apiKey: `${prefix}-key-${i}`, secret: `${prefix}-secret-${i}` };
    const trades = Array.from({ length: fills }, (_, k) => ({
      symbol: 'BTC/USDT',
      side: k % 2 ? ('sell' as const) : ('buy' as const),
      amount: `0.00${(k % 9) + 1}`,
      price: `${60000 + (k % 1000)}.25`,
      at: now - days * DAY + Math.floor(((k + 0.5) * days * DAY) / fills),
    }));
    emu.setAccount({ exchange: 'bybit', ...keys, balances: { USDT: { free: '1000', used: '0' } }, positions: [], trades } as EmulatorAccountInput);
    return { account: `${prefix}${i}`, exchange: 'bybit', ...keys, testnet: false, apiUrl: emu.url, options: {} };
  });
}

type Dict = Record<string, unknown>;

/** The calls one sync makes for an account's snapshot and whole backfill, straight on ccxt. */
async function bareBackfill(inst: Instance, now: number, since: number): Promise<number> {
  await BARE.bybit(inst);
  let fills = 0;
  for (const category of ['spot', 'linear', 'inverse']) {
    for (let end = now; end > since; end -= 7 * DAY) {
      const start = Math.max(end - 7 * DAY, since);
      let cursor: string | undefined;
      for (;;) {
        const params: Dict = { category, execType: 'Trade', startTime: start, endTime: end - 1, limit: 100 };
        if (cursor) params.cursor = cursor;
        const reply = await (inst as unknown as Record<string, (p: Dict) => Promise<Dict>>).privateGetV5ExecutionList!.call(inst, params);
        const result = reply.result as { list: Dict[]; nextPageCursor?: string };
        fills += inst.parseTrades(result.list).length;
        if (!result.nextPageCursor || result.list.length === 0) break;
        cursor = result.nextPageCursor;
      }
    }
  }
  for (const method of ['privateGetV5AssetDepositQueryRecord', 'privateGetV5AssetWithdrawQueryRecord']) {
    for (let end = now; end > since; end -= 30 * DAY) {
      await (inst as unknown as Record<string, (p: Dict) => Promise<Dict>>)[method]!.call(inst, { startTime: Math.max(end - 30 * DAY, since), endTime: end - 1, limit: 50 });
    }
  }
  return fills;
}

async function logBytes(pool: Pool, table: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT pg_total_relation_size($1::regclass) AS n`, [table]);
  return Number(rows[0]!.n);
}

export async function benchHistory(pool: Pool, opts: { accounts: number; fills: number; days: number }): Promise<Figure[]> {
  const emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0 });
  emu.freezePrices(true);
  const logger = silentLogger();
  try {
    const recorded = seed(emu, opts.accounts, opts.fills, opts.days, 'hist');
    const bareAccounts = seed(emu, opts.accounts, opts.fills, opts.days, 'bare');
    const access = createExchangeAccess(recorded, { logger });
    const store = new EventStore(pool);
    // The whole backfill in one sync, so both sides fetch the same windows once.
    const service = new SyncService(store, access, logger, { maxConcurrent: 8, history: { since: { days: opts.days + 1 }, maxWindows: 1000 } });
    await loadExchange('bybit');
    const loader = createInstance(bareAccounts[0]!, {}, { timeoutMs: 10_000 });
    const instances = Array.from({ length: STREAMS }, () => createInstance(bareAccounts[0]!, {}, { timeoutMs: 10_000 }));
    try {
      await loader.loadMarkets();
      for (const inst of instances) inst.setMarketsFromExchange(loader);
      const eventsBefore = await logBytes(pool, 'exchange_sync.events');
      let recordedFills = 0;
      const serviceSecs = await timed(async () => {
        const results = await Promise.all(recorded.map((a) => service.sync(a, 'api')));
        const bad = results.find((r) => r.status !== 'ok' || r.history?.errorClass);
        if (bad) throw new Error(`history sync failed: ${bad.message ?? bad.history?.message}`);
        recordedFills = results.reduce((n, r) => n + (r.history?.trades ?? 0), 0);
      });
      if (recordedFills !== opts.accounts * opts.fills) throw new Error(`recorded ${recordedFills} fills, seeded ${opts.accounts * opts.fills}`);
      const eventsAfter = await logBytes(pool, 'exchange_sync.events');
      await catchUpProjections(store, undefined);
      const tradesBytes = await logBytes(pool, 'exchange_sync.trades');

      const now = Date.now();
      const since = now - (opts.days + 1) * DAY;
      let bareFills = 0;
      const bareSecs = await timed(async () => {
        let next = 0;
        await Promise.all(
          instances.map(async (inst) => {
            while (next < bareAccounts.length) {
              const a = bareAccounts[next++]!;
              inst.apiKey = a.apiKey!;
              inst.secret = a.secret!;
              const got = await bareBackfill(inst, now, since);
              bareFills += got;
            }
          }),
        );
      });
      if (bareFills !== opts.accounts * opts.fills) throw new Error(`bare loop saw ${bareFills} fills, seeded ${opts.accounts * opts.fills}`);
      const n = opts.accounts * opts.fills;
      return [
        {
          name: `history ingest, ${opts.accounts} bybit accts x ${opts.fills} fills over ${opts.days} days`,
          unit: 'fills/s',
          value: n / serviceSecs,
          baselineName: 'bare ccxt execution/list loop, same windows',
          baseline: n / bareSecs,
          target: 0.8,
        },
        // Snapshots and sync events are in the log too, a few KB per account: spread over the fills.
        { name: 'log bytes per fill (heap and indexes)', unit: 'B', value: (eventsAfter - eventsBefore) / n, lowerIsBetter: true },
        { name: 'trades table bytes per fill (heap and indexes)', unit: 'B', value: tradesBytes / n, lowerIsBetter: true },
      ];
    } finally {
      await access.close();
    }
  } finally {
    await emu.close();
  }
}
