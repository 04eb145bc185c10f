// Cost basis: (a) rebuild of the holdings projection over a log of N fills (each sync a snapshot
// and a batch of fills), fills/s, vs a plain scan and parse of the same rows (SELECT data of the
// events it reads, jsonb parsed by pg); (b) portfolio query p99 with A accounts x 20 assets, one
// account and all of them, vs the plain SELECT of the same rows; (c) append of a fill -> visible in
// holdings, p50/p99, vs the append's NOTIFY arriving (the floor of any live projection).
import { createHash, randomUUID } from 'node:crypto';
import type { Pool } from '../src/events/db.js';
import { multiplyDecimals } from '../src/events/decimal.js';
import { Exact } from '../src/cost-basis/exact.js';
import { EventStore, type NewEvent } from '../src/events/store.js';
import { readPortfolio } from '../src/portfolio/portfolio.js';
import { catchUpProjections, holdings, rebuild } from '../src/projections/index.js';
import { percentile, timed } from './common.js';
import { benchProjectionLatency } from './latency.js';
import type { Figure } from './report.js';

const ASSETS = ['BTC', 'ETH', 'SOL', 'BNB', 'XRP', 'ADA', 'DOGE', 'DOT', 'LINK', 'AVAX', 'TRX', 'LTC', 'ATOM', 'UNI', 'XLM', 'NEAR', 'APT', 'ARB', 'OP', 'USDT'];
const T0 = 1_790_000_000_000;

function snapshotEvent(account: number, sync: number, totals: Record<string, string>): NewEvent {
  const at = new Date(T0 + sync * 1_800_000 + account).toISOString();
  const assets = Object.keys(totals).sort();
  const snapshot = {
    exchange: 'bybit',
    account: `acct${account}`,
    quote: 'USDT',
    wallets: ['unified' as const],
    balances: assets.map((asset) => ({ wallet: 'unified' as const, asset, free: totals[asset]!, used: '0', total: totals[asset]! })),
    positions: [],
    prices: Object.fromEntries(assets.filter((a) => a !== 'USDT').map((a, k) => [a, `${(k + 1) * 1000 + (sync % 100)}.5`])),
    fetchedAt: at,
    exchangeTime: null,
  };
  return { type: 'snapshot_recorded', data: { syncId: randomUUID(), contentHash: createHash('sha256').update(JSON.stringify(snapshot)).digest('hex'), snapshot } };
}

/** An account's balances as its fills leave them, so each snapshot agrees with the history (no drift). */
type Balances = Record<string, Exact>;
const startBalances = (): Balances => ({ USDT: Exact.of('10000000'), BTC: Exact.of('1'), ETH: Exact.of('10') });
const totalsOf = (b: Balances) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.toString()]));

/** `n` fills of one sync, before its snapshot: buys and sells over two symbols, fees in the quote. */
function tradesEvent(account: number, sync: number, n: number, balances: Balances): NewEvent {
  const trades = Array.from({ length: n }, (_, i) => {
    const buy = (i + sync) % 3 !== 0;
    const base = i % 4 < 2 ? 'BTC' : 'ETH';
    const price = `${(base === 'BTC' ? 60000 : 3000) + ((sync * 7 + i) % 500)}.5`;
    const amount = buy ? '0.002' : '0.003';
    const cost = multiplyDecimals(price, amount);
    const fee = '0.06';
    const q = Exact.of(cost);
    balances[base] = buy ? balances[base]!.plus(Exact.of(amount)) : balances[base]!.minus(Exact.of(amount));
    balances.USDT = buy ? balances.USDT!.minus(q).minus(Exact.of(fee)) : balances.USDT!.plus(q).minus(Exact.of(fee));
    return {
      id: `${account}-${sync}-${i}`,
      orderId: null,
      symbol: `${base}/USDT`,
      marketType: 'spot' as const,
      side: buy ? ('buy' as const) : ('sell' as const),
      amount,
      price,
      cost,
      fees: [{ currency: 'USDT', cost: fee }],
      takerOrMaker: 'taker' as const,
      timestamp: new Date(T0 + sync * 1_800_000 - 1_000_000 + i * 100 + account).toISOString(),
      realizedPnl: null,
    };
  });
  return { type: 'trades_recorded', data: { syncId: randomUUID(), trades, coverage: {} } };
}

async function seed(store: EventStore, accounts: number, syncs: number, fillsPerSync: number): Promise<void> {
  const books = Array.from({ length: accounts }, startBalances);
  let next = 0;
  // Accounts in parallel, each account's syncs in order (its balances run on).
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < accounts) {
        const a = next++;
        for (let s = 0; s < syncs; s++) {
          const trades = tradesEvent(a, s, fillsPerSync, books[a]!);
          await store.append(`bybit:acct${a}`, s === 0 ? [snapshotEvent(a, -1, totalsOf(startBalances())), trades, snapshotEvent(a, s, totalsOf(books[a]!))] : [trades, snapshotEvent(a, s, totalsOf(books[a]!))]);
        }
      }
    }),
  );
}

export async function benchHoldingsRebuild(pool: Pool, opts: { accounts: number; syncs: number; fillsPerSync: number; rounds: number }): Promise<Figure[]> {
  const store = new EventStore(pool);
  await seed(store, opts.accounts, opts.syncs, opts.fillsPerSync);
  const fills = opts.accounts * opts.syncs * opts.fillsPerSync;
  await pool.query('VACUUM ANALYZE exchange_sync.events');
  const types = holdings.selector.types;
  const scan = async () => {
    const { rows } = await pool.query<{ data: { trades?: unknown[] } }>('SELECT data FROM exchange_sync.events WHERE type = ANY($1)', [types]);
    const seen = rows.reduce((n, r) => n + (r.data.trades?.length ?? 0), 0);
    if (seen !== fills) throw new Error(`scan saw ${seen} of ${fills} fills`);
  };
  // Warm both (the first rebuild also compiles the fold).
  await scan();
  await rebuild(store, { projections: ['holdings'] });
  let rebuildSecs = 0;
  let scanSecs = 0;
  for (let r = 0; r < opts.rounds; r++) {
    rebuildSecs += await timed(async () => {
      await rebuild(store, { projections: ['holdings'] });
    });
    scanSecs += await timed(scan);
  }
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM exchange_sync.holdings WHERE quantity <> 0`);
  if (Number(rows[0]!.n) === 0) throw new Error('rebuild left no holdings');
  return [
    {
      name: `holdings rebuild, ${(fills / 1e6).toFixed(2)}M fills (${opts.accounts} accts)`,
      unit: 'fills/s',
      value: (fills * opts.rounds) / rebuildSecs,
      baselineName: 'SELECT data scan + parse',
      baseline: (fills * opts.rounds) / scanSecs,
      target: 0.5,
    },
  ];
}

export async function benchPortfolioQuery(pool: Pool, opts: { accounts: number; samples: number }): Promise<Figure[]> {
  const store = new EventStore(pool);
  for (let a = 0; a < opts.accounts; a += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, opts.accounts - a) }, (_, k) => {
        const b = startBalances();
        const trades = tradesEvent(a + k, 0, 4, b);
        return store.append(`bybit:acct${a + k}`, [trades, snapshotEvent(a + k, 0, { ...Object.fromEntries(ASSETS.map((x, i) => [x, `${i + 1}.5`])), ...totalsOf(b) })]);
      }),
    );
  }
  await catchUpProjections(store, undefined, { projections: [holdings] });
  await pool.query('VACUUM ANALYZE exchange_sync.holdings');
  const time = async (fn: () => Promise<unknown>, n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n + 5; i++) {
      const t0 = performance.now();
      await fn();
      if (i >= 5) out.push(performance.now() - t0);
    }
    return out.sort((x, y) => x - y);
  };
  let i = 0;
  const oneAccount = () => `bybit:acct${(i++ * 7919) % opts.accounts}`;
  const one = await time(async () => {
    const p = await readPortfolio(store, 'average', { account: oneAccount() });
    if (p.holdings.length < 20) throw new Error(`portfolio had ${p.holdings.length} holdings`);
  }, opts.samples);
  const oneFloor = await time(() => pool.query(`SELECT * FROM exchange_sync.holdings WHERE exchange = 'bybit' AND account = $1 AND method = 'average'`, [oneAccount().slice(6)]), opts.samples);
  const all = await time(() => readPortfolio(store, 'average'), Math.max(10, opts.samples / 20));
  const allFloor = await time(() => pool.query(`SELECT * FROM exchange_sync.holdings WHERE method = 'average'`), Math.max(10, opts.samples / 20));
  return [
    { name: `portfolio, 1 of ${opts.accounts} accts x 20 assets, p99`, unit: 'ms', value: percentile(one, 99), baselineName: 'plain SELECT of its rows p99', baseline: percentile(oneFloor, 99), lowerIsBetter: true },
    { name: `portfolio, all ${opts.accounts} accts x 20 assets, p99`, unit: 'ms', value: percentile(all, 99), baselineName: 'plain SELECT of its rows p99', baseline: percentile(allFloor, 99), lowerIsBetter: true },
  ];
}

/** Append of a fill (one account's next 2 fills) -> in holdings, through the live projector, vs the append's NOTIFY. */
export async function benchHoldingsLatency(pool: Pool, dbUrl: string, opts: { samples: number }): Promise<Figure[]> {
  const store = new EventStore(pool);
  const accounts = 20;
  const books = Array.from({ length: accounts }, startBalances);
  for (let a = 0; a < accounts; a++) await store.append(`bybit:acct${a}`, [snapshotEvent(a, 0, totalsOf(books[a]!))]);
  return benchProjectionLatency(pool, dbUrl, {
    samples: opts.samples,
    projections: [holdings],
    name: 'fill append -> in holdings',
    events: (i) => ({ stream: `bybit:acct${i % accounts}`, events: [tradesEvent(i % accounts, i + 1, 2, books[i % accounts]!)] }),
  });
}
