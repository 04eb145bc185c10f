// The projection registry end to end: every registered projection is the same live, after a
// rebuild and as of a moment; a projection added to a populated log catches up on its own.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Snapshot } from '../src/events/catalog.js';
import type { Queryable } from '../src/events/db.js';
import { EventStore, type NewEvent } from '../src/events/store.js';
import { accountStream, type AccountId } from '../src/events/streams.js';
import {
  catchUpProjections,
  defineProjection,
  Projector,
  PROJECTIONS,
  projectionAt,
  projectionNow,
  rebuild,
  type Projection,
} from '../src/projections/index.js';
import { createTestDb, type TestDb } from './support/db.js';

let db: TestDb;
let store: EventStore;

const ACCOUNTS: AccountId[] = [
  { exchange: 'bybit', account: 'main' },
  { exchange: 'bybit', account: 'sub-1' },
  { exchange: 'binance', account: 'main' },
];

const hash = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');

/**
 * Sync `n` of an account as SyncService records it. Holdings change on most syncs, some are
 * unchanged, some fail, and assets and positions come and go, so that a projection that kept a
 * superseded row or dropped a needed event would show it.
 */
function syncEvents(id: AccountId, n: number): NewEvent[] {
  const syncId = randomUUID();
  const at = new Date(Date.UTC(2026, 0, 1) + n * 1_800_000).toISOString();
  const timing = { syncId, trigger: 'schedule' as const, startedAt: at, finishedAt: at };
  if (n % 7 === 5) {
    return [{ type: 'sync_failed', data: { ...timing, errorClass: 'network', message: `timeout ${n}`, retryable: true, attempt: 2 } }];
  }
  if (n % 4 === 3) {
    return [
      { type: 'snapshot_unchanged', data: { syncId, contentHash: '0'.repeat(64), fetchedAt: at, exchangeTime: null } },
      { type: 'sync_completed', data: { ...timing, fetchMs: 40, attempts: 1, balances: 0, positions: 0, changed: false } },
    ];
  }
  const assets = ['BTC', 'ETH', 'SOL', 'USDT'].filter((_, k) => (n + k) % 3 !== 0);
  const snapshot: Snapshot = {
    exchange: id.exchange,
    account: id.account,
    quote: 'USDT',
    wallets: ['funding', 'unified'],
    // Odd assets in two wallets: rows are per wallet and asset.
    balances: assets.flatMap((asset, k) => {
      const row = { asset, free: `${n}.${k + 1}`, used: k % 2 ? null : '0.5', total: `${n + 1}.${k + 1}` };
      return k % 2 ? [{ wallet: 'funding' as const, ...row }, { wallet: 'unified' as const, ...row }] : [{ wallet: 'unified' as const, ...row }];
    }),
    positions:
      n % 3
        ? [
            {
              symbol: 'BTC/USDT:USDT',
              side: 'long',
              contracts: `0.0${n % 9 + 1}`,
              contractSize: '1',
              entryPrice: '60000',
              markPrice: `6${n % 10}000.5`,
              liquidationPrice: null,
              notional: null,
              unrealizedPnl: '-1.25',
              leverage: '10',
              marginMode: 'cross',
            },
          ]
        : [],
    prices: Object.fromEntries(assets.filter((a) => a !== 'SOL').map((a, k) => [a, `${k + 2}${n % 10}.125`])),
    fetchedAt: at,
    exchangeTime: null,
  };
  const history: NewEvent[] = [];
  if (n % 3 === 1) {
    // Two fills a time, one with its fee in two currencies.
    const trades = [0, 1].map((k) => ({
      id: `${n}-${k}`,
      orderId: k ? null : `o${n}`,
      symbol: k ? 'ETH/USDT:USDT' : 'BTC/USDT',
      marketType: k ? ('swap' as const) : ('spot' as const),
      side: k ? ('sell' as const) : ('buy' as const),
      amount: `0.0${k + 1}`,
      price: `6${n}000.5`,
      cost: `${6 * (k + 1)}${n}0.005`,
      fees: k ? [{ currency: 'USDT', cost: '0.1' }, { currency: 'BNB', cost: '0.0001' }] : [{ currency: 'BTC', cost: '0.00001' }],
      takerOrMaker: k ? ('maker' as const) : null,
      timestamp: at,
      realizedPnl: k ? '-1.5' : null,
    }));
    history.push({ type: 'trades_recorded', data: { syncId, trades, coverage: {} } });
  }
  if (n % 6 === 2 || n % 6 === 5) {
    // A deposit recorded pending, and three syncs later as settled (or failed): one row, the newest status.
    const settled = n % 6 === 5;
    const transfer = {
      id: `d${Math.floor(n / 6)}`,
      type: 'deposit' as const,
      currency: 'USDT',
      amount: `${n}00.25`,
      fee: null,
      status: settled ? (n % 12 === 5 ? ('ok' as const) : ('failed' as const)) : ('pending' as const),
      network: 'TRC20',
      txid: settled ? `0x${n}` : null,
      timestamp: at,
      previousStatus: settled ? ('pending' as const) : null,
    };
    history.push({ type: 'transfers_recorded', data: { syncId, transfers: [transfer], coverage: {} } });
  }
  return [
    { type: 'snapshot_recorded', data: { syncId, contentHash: hash(snapshot), snapshot } },
    ...history,
    { type: 'sync_completed', data: { ...timing, fetchMs: 40 + n, attempts: 1, balances: snapshot.balances.length, positions: snapshot.positions.length, changed: true } },
  ];
}

let syncs = 0;
async function appendRound(): Promise<void> {
  for (const id of ACCOUNTS) await store.append(accountStream(id), syncEvents(id, syncs));
  syncs += 1;
}

async function dbNow(): Promise<string> {
  const { rows } = await db.pool.query<{ t: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`);
  return rows[0]!.t;
}

/** Every row of every table of the projections, in a fixed order. */
async function dump(projections: readonly Projection[] = PROJECTIONS): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of projections.flatMap((p) => p.tables)) {
    const { rows } = await db.pool.query(`SELECT * FROM exchange_sync.${table}`);
    out[table] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

// A read model the product does not have, defined here as any new one would be: per account,
// how many syncs were recorded, how many failed, and the newest sync's status.
const toy = defineProjection({
  name: 'toy_sync_counts',
  tables: ['toy_sync_counts'],
  consumes: ['sync_completed', 'sync_failed'],
  replay: { kind: 'every' },
  async apply(tx: Queryable, events, t) {
    for (const e of events) {
      const id = { exchange: e.streamId.split(':')[0]!, account: e.streamId.split(':')[1]! };
      await tx.query(
        `INSERT INTO ${t.toy_sync_counts} AS c (exchange, account, syncs, failed, last_status) VALUES ($1, $2, 1, $3, $4)
         ON CONFLICT (exchange, account) DO UPDATE SET syncs = c.syncs + 1, failed = c.failed + excluded.failed, last_status = excluded.last_status`,
        [id.exchange, id.account, e.type === 'sync_failed' ? 1 : 0, e.type === 'sync_failed' ? 'failed' : 'ok'],
      );
    }
  },
  async read(db, t, filter) {
    const { rows } = await db.query<{ exchange: string; account: string; syncs: number; failed: number; last_status: string }>(
      `SELECT exchange, account, syncs, failed, last_status FROM ${t.toy_sync_counts}
       WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR account = $2) ORDER BY exchange, account`,
      [filter.exchange ?? null, filter.account ?? null],
    );
    return rows;
  },
});

/** The toy's answer computed straight from the log, independently of the projection. */
async function countsFromLog(at?: string) {
  const { rows } = await db.pool.query<{ stream_id: string; syncs: string; failed: string; last_type: string }>(
    `SELECT stream_id, count(*) AS syncs, count(*) FILTER (WHERE type = 'sync_failed') AS failed,
       (array_agg(type ORDER BY stream_position DESC))[1] AS last_type
     FROM exchange_sync.events WHERE type IN ('sync_completed', 'sync_failed') AND ($1::timestamptz IS NULL OR recorded_at <= $1)
     GROUP BY stream_id ORDER BY split_part(stream_id, ':', 1), split_part(stream_id, ':', 2)`,
    [at ?? null],
  );
  return rows.map((r) => {
    const [exchange, account] = r.stream_id.split(':') as [string, string];
    return { exchange, account, syncs: Number(r.syncs), failed: Number(r.failed), last_status: r.last_type === 'sync_failed' ? 'failed' : 'ok' };
  });
}

before(async () => {
  db = await createTestDb();
  store = new EventStore(db.pool);
});
after(() => db.drop());

describe('every registered projection', () => {
  /** Moments between rounds, with what each projection's live tables said then. */
  const seen: { at: string; rows: unknown[][] }[] = [];

  before(async () => {
    // Live, in batches of 7 events: two or three syncs of an account land in different batches.
    const projector = new Projector(store, { batchSize: 7, pollMs: 20 });
    projector.start();
    try {
      for (let round = 0; round < 24; round++) {
        await appendRound();
        if (round % 3 === 2) {
          await projector.caughtUp();
          seen.push({ at: await dbNow(), rows: await Promise.all(PROJECTIONS.map((p) => projectionNow(db.pool, p))) });
        }
      }
      await projector.caughtUp();
    } finally {
      await projector.stop();
    }
  });

  test('the registry lists balances, positions, sync_runs, trades, transfers and holdings, each with its own checkpoint', () => {
    assert.deepEqual(
      PROJECTIONS.map((p) => [p.name, p.checkpoint]),
      [
        ['balances', 'projection:balances'],
        ['positions', 'projection:positions'],
        ['sync_runs', 'projection:sync_runs'],
        ['trades', 'projection:trades'],
        ['transfers', 'projection:transfers'],
        ['holdings', 'projection:holdings'],
      ],
    );
  });

  test('the live tables are not empty: the log has many events per stream', async () => {
    const live = await dump();
    for (const p of PROJECTIONS) for (const table of p.tables) assert.ok(live[table]!.length > 0, `${table} has rows`);
    const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM exchange_sync.events');
    assert.ok(Number(rows[0]!.n) > 100);
  });

  test('rebuild equals live, with many events per stream per batch and with batches of 3', async () => {
    const live = await dump();
    await rebuild(store);
    assert.deepEqual(await dump(), live);
    await rebuild(store, { batchSize: 3 });
    assert.deepEqual(await dump(), live);
    for (const p of PROJECTIONS) {
      await rebuild(store, { projections: [p.name], batchSize: 50 });
      assert.deepEqual(await dump(), live, `after rebuilding ${p.name} alone`);
    }
  });

  test('as of each moment, each projection says what its live tables said then', async () => {
    assert.ok(seen.length >= 8);
    for (const { at, rows } of seen) {
      for (const [i, p] of PROJECTIONS.entries()) {
        assert.deepEqual(await projectionAt(store, p, at), rows[i], `${p.name} at ${at}`);
      }
    }
  });

  test('as of a moment, with an account filter: only that account, same rows', async () => {
    const { at, rows } = seen[seen.length - 2]!;
    for (const [i, p] of PROJECTIONS.entries()) {
      const mine = (rows[i] as AccountId[]).filter((r) => r.exchange === 'bybit' && r.account === 'sub-1');
      assert.ok(mine.length > 0, `${p.name} has rows for bybit:sub-1`);
      assert.deepEqual(await projectionAt(store, p, at, { exchange: 'bybit', account: 'sub-1' }), mine);
    }
  });
});

describe('a projection added to a populated log', () => {
  let beforeToy: { at: string; counts: Awaited<ReturnType<typeof countsFromLog>> };

  before(async () => {
    await catchUpProjections(store);
    await db.pool.query(`CREATE TABLE exchange_sync.toy_sync_counts (
      exchange text NOT NULL, account text NOT NULL, syncs integer NOT NULL, failed integer NOT NULL, last_status text NOT NULL,
      PRIMARY KEY (exchange, account))`);
    const at = await dbNow();
    beforeToy = { at, counts: await countsFromLog(at) };
    // More syncs after that moment, so --at has something to leave out.
    for (let i = 0; i < 3; i++) await appendRound();
  });

  test('catches up from the start on its own checkpoint while the others go on', async () => {
    const others = await db.pool.query<{ subscriber: string; global_position: string }>(
      `SELECT subscriber, global_position FROM exchange_sync.checkpoints WHERE subscriber LIKE 'projection:%' ORDER BY 1`,
    );
    assert.deepEqual(
      others.rows.map((r) => r.subscriber),
      ['projection:balances', 'projection:holdings', 'projection:positions', 'projection:sync_runs', 'projection:trades', 'projection:transfers'],
    );
    const registry = [...PROJECTIONS, toy];
    await catchUpProjections(store, undefined, { projections: registry });
    assert.deepEqual(await projectionNow(db.pool, toy), await countsFromLog());
    // The others moved on from where they were (sync_runs would refuse a second copy of a row).
    const { rows } = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM exchange_sync.sync_runs`);
    assert.equal(Number(rows[0]!.n), (await countsFromLog()).reduce((n, c) => n + c.syncs, 0));
    const cp = await db.pool.query<{ global_position: string }>(`SELECT global_position FROM exchange_sync.checkpoints WHERE subscriber = 'projection:toy_sync_counts'`);
    assert.equal(cp.rows.length, 1);
  });

  test('rebuilds', async () => {
    const registry = [...PROJECTIONS, toy];
    const live = await dump(registry);
    await rebuild(store, { registry, projections: ['toy_sync_counts'], batchSize: 5 });
    assert.deepEqual(await dump(registry), live);
    await rebuild(store, { registry });
    assert.deepEqual(await dump(registry), live);
  });

  test('answers as of a moment, and for one account', async () => {
    assert.deepEqual(await projectionAt(store, toy, beforeToy.at), beforeToy.counts);
    assert.deepEqual(
      await projectionAt(store, toy, beforeToy.at, { exchange: 'binance' }),
      beforeToy.counts.filter((c) => c.exchange === 'binance'),
    );
  });

  test('an unknown name is refused by rebuild', async () => {
    await assert.rejects(rebuild(store, { projections: ['nope'] }), /unknown projection nope/);
  });
});
