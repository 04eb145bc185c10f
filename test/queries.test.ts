import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Position, Snapshot } from '../src/events/catalog.js';
import { EnvelopeSchema, toEnvelope } from '../src/events/envelope.js';
import { follow } from '../src/events/follow.js';
import { EventStore, START, type NewEvent, type RecordedEvent } from '../src/events/store.js';
import { Notifier } from '../src/events/subscription.js';
import type { Pool } from '../src/events/db.js';
import type { AccountFilter } from '../src/events/streams.js';
import {
  balances as balancesProjection,
  catchUpProjections,
  positions as positionsProjection,
  projectionAt,
  projectionNow,
  type BalanceRow as BalanceView,
} from '../src/projections/index.js';
import { multiplyDecimals } from '../src/events/decimal.js';
import { balances } from '../src/commands/balances.js';
import { UsageError, type Command, type Values } from '../src/commands/command.js';
import { events } from '../src/commands/events.js';
import { positions } from '../src/commands/positions.js';
import { createTestDb, type TestDb } from './support/db.js';

// The queries the commands make: now from the live tables, or as of a moment through the projection.
const currentBalances = (pool: Pool, filter?: AccountFilter) => projectionNow(pool, balancesProjection, filter);
const currentPositions = (pool: Pool, filter?: AccountFilter) => projectionNow(pool, positionsProjection, filter);
const balancesAt = (pool: Pool, at: string, filter?: AccountFilter) => projectionAt(new EventStore(pool), balancesProjection, at, filter);
const positionsAt = (pool: Pool, at: string, filter?: AccountFilter) => projectionAt(new EventStore(pool), positionsProjection, at, filter);

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let db: TestDb;
let store: EventStore;
/** Moments between the appends below, from the database clock that sets recorded_at. */
const t: string[] = [];

const F1 = '2025-01-01T00:00:00.000Z';
const U1 = '2025-01-01T00:30:00.000Z';
const F2 = '2025-01-01T01:00:00.000Z';
const B1 = '2025-01-01T00:00:05.000Z';
const BU = '2025-01-01T01:00:05.000Z';

function position(p: Partial<Position> & Pick<Position, 'symbol' | 'side' | 'contracts'>): Position {
  return {
    contractSize: null,
    entryPrice: null,
    markPrice: null,
    liquidationPrice: null,
    notional: null,
    unrealizedPnl: null,
    leverage: null,
    marginMode: null,
    ...p,
  };
}

type BalanceIn = Omit<Snapshot['balances'][number], 'wallet'> & { wallet?: Snapshot['balances'][number]['wallet'] };

/** Balances without a wallet are in the exchange's main one (bybit unified, binance spot). */
function snapshot(stream: string, s: Pick<Snapshot, 'prices' | 'fetchedAt'> & { balances: BalanceIn[] } & Partial<Omit<Snapshot, 'balances'>>): Snapshot {
  const [exchange, account] = stream.split(':') as [string, string];
  const main = exchange === 'bybit' ? 'unified' : 'spot';
  const balances = s.balances.map((b) => ({ ...b, wallet: b.wallet ?? main }));
  const wallets = [...new Set(balances.map((b) => b.wallet))].sort();
  return { exchange, account, quote: 'USDT', positions: [], exchangeTime: null, ...s, wallets, balances };
}

function syncCompleted(syncId: string, finishedAt: string, changed: boolean, s?: Snapshot): NewEvent {
  return {
    type: 'sync_completed',
    data: {
      syncId,
      trigger: 'cli',
      startedAt: finishedAt,
      finishedAt,
      fetchMs: 42,
      attempts: 1,
      balances: s?.balances.length ?? 0,
      positions: s?.positions.length ?? 0,
      changed,
    },
  };
}

const hash = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');

async function recordSnapshot(stream: string, s: Snapshot) {
  const syncId = randomUUID();
  return store.append(stream, [{ type: 'snapshot_recorded', data: { syncId, contentHash: hash(s), snapshot: s } }, syncCompleted(syncId, s.fetchedAt, true, s)]);
}

async function recordUnchanged(stream: string, fetchedAt: string) {
  const syncId = randomUUID();
  return store.append(stream, [
    { type: 'snapshot_unchanged', data: { syncId, contentHash: '0'.repeat(64), fetchedAt, exchangeTime: null } },
    syncCompleted(syncId, fetchedAt, false),
  ]);
}

function syncFailed(message: string): NewEvent {
  const now = new Date().toISOString();
  return {
    type: 'sync_failed',
    data: { syncId: randomUUID(), trigger: 'schedule', startedAt: now, finishedAt: now, errorClass: 'auth', message, retryable: false, attempt: 1 },
  };
}

// Microsecond precision, same clock as recorded_at, and ISO-8601 so the CLI takes it too.
async function dbNow(): Promise<string> {
  const { rows } = await db.pool.query<{ t: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`);
  return rows[0]!.t;
}

const S1 = snapshot('bybit:main', {
  fetchedAt: F1,
  balances: [
    { asset: 'BTC', free: '1.2', used: '0.3', total: '1.5' },
    { asset: 'ETH', free: '10', used: '0', total: '10' },
    { asset: 'XRP', free: null, used: null, total: '250.5' },
  ],
  prices: { BTC: '65000.12', ETH: '3500.5' },
  positions: [position({ symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.01', entryPrice: '60000', leverage: '5', marginMode: 'cross' })],
});
const S2 = snapshot('bybit:main', {
  fetchedAt: F2,
  balances: [
    { wallet: 'funding', asset: 'BTC', free: '0.5', used: '0', total: '0.5' },
    { asset: 'BTC', free: '0.123456789012345678', used: '0', total: '0.123456789012345678' },
    { asset: 'DOGE', free: '12345.678901234567890123', used: null, total: '12345.678901234567890123' },
    { asset: 'USDT', free: '1000.000000000000000001', used: null, total: '1000.000000000000000001' },
    { wallet: 'funding', asset: 'USDT', free: '5.5', used: '0', total: '5.5' },
  ],
  prices: { BTC: '65432.123456789', USDT: '1' },
  positions: [
    position({ symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.001' }),
    position({
      symbol: 'ETH/USDT:USDT',
      side: 'short',
      contracts: '2.5',
      contractSize: '1',
      entryPrice: '3500.25',
      markPrice: '3490.1',
      liquidationPrice: '4100',
      notional: '8725.25',
      unrealizedPnl: '25.375',
      leverage: '10',
      marginMode: 'isolated',
    }),
  ],
});
const BINANCE_MAIN = snapshot('binance:main', {
  fetchedAt: B1,
  balances: [
    { asset: 'ADA', free: '0.5', used: '0', total: '0.5' },
    { asset: 'SOL', free: '3', used: '0', total: '3' },
  ],
  prices: { ADA: '0.2', SOL: '0.1' },
});
const BINANCE_OTHER = snapshot('binance:other', {
  fetchedAt: F2,
  balances: [{ asset: 'BTC', free: '-0.5', used: '0', total: '-0.5' }],
  prices: { BTC: '64000.5' },
});

const pos: Record<string, number> = {};

before(async () => {
  db = await createTestDb();
  store = new EventStore(db.pool);
  // Separate transactions, with the database clock read between them: t[i] splits the history.
  t.push(await dbNow());
  pos.s1 = (await recordSnapshot('bybit:main', S1)).events[0]!.globalPosition;
  pos.b1 = (await recordSnapshot('binance:main', BINANCE_MAIN)).events[0]!.globalPosition;
  await store.append('bybit:broken', [syncFailed('invalid api key\nsecond line')]);
  t.push(await dbNow());
  await recordUnchanged('bybit:main', U1);
  t.push(await dbNow());
  pos.s2 = (await recordSnapshot('bybit:main', S2)).events[0]!.globalPosition;
  await recordUnchanged('binance:main', BU);
  pos.o1 = (await recordSnapshot('binance:other', BINANCE_OTHER)).events[0]!.globalPosition;
  t.push(await dbNow());
  await catchUpProjections(store);
});
after(async () => {
  await db.drop();
});

function bybitMainS2(): BalanceView[] {
  const row = { exchange: 'bybit', account: 'main', quote: 'USDT', asOf: F2, eventPosition: pos.s2! };
  return [
    { ...row, wallet: 'funding', asset: 'BTC', free: '0.5', used: '0', total: '0.5', price: '65432.123456789', value: '32716.0617283945' },
    { ...row, wallet: 'unified', asset: 'BTC', free: '0.123456789012345678', used: '0', total: '0.123456789012345678', price: '65432.123456789', value: '8078.039860234554117574763907942' },
    { ...row, wallet: 'unified', asset: 'DOGE', free: '12345.678901234567890123', used: null, total: '12345.678901234567890123', price: null, value: null },
    { ...row, wallet: 'funding', asset: 'USDT', free: '5.5', used: '0', total: '5.5', price: '1', value: '5.5' },
    { ...row, wallet: 'unified', asset: 'USDT', free: '1000.000000000000000001', used: null, total: '1000.000000000000000001', price: '1', value: '1000.000000000000000001' },
  ];
}

describe('value', () => {
  test('total x price is exact decimal arithmetic in canonical form', () => {
    assert.equal(multiplyDecimals('0.123456789012345678', '65432.123456789'), '8078.039860234554117574763907942');
    assert.equal(multiplyDecimals('3', '0.1'), '0.3', 'a float would say 0.30000000000000004');
    assert.equal(multiplyDecimals('0.5', '0.2'), '0.1', 'numeric would say 0.10');
    assert.equal(multiplyDecimals('-0.5', '64000.5'), '-32000.25');
    assert.equal(multiplyDecimals('0', '-1.5'), '0');
    assert.equal(multiplyDecimals('1000.000000000000000001', '1'), '1000.000000000000000001');
  });
});

describe('current state (projection tables)', () => {
  test('balances equal the newest snapshot exactly; an asset missing from it is gone', async () => {
    const rows = await currentBalances(db.pool, { exchange: 'bybit', account: 'main' });
    assert.deepEqual(rows, bybitMainS2());
    assert.ok(!rows.some((r) => r.asset === 'ETH' || r.asset === 'XRP'));
  });

  test('values are canonical and exact across accounts; as_of follows snapshot_unchanged', async () => {
    const rows = await currentBalances(db.pool);
    assert.deepEqual(
      rows.map((r) => [r.exchange, r.account, r.asset, r.value, r.asOf]),
      [
        ['binance', 'main', 'ADA', '0.1', BU],
        ['binance', 'main', 'SOL', '0.3', BU],
        ['binance', 'other', 'BTC', '-32000.25', F2],
        ['bybit', 'main', 'BTC', '32716.0617283945', F2],
        ['bybit', 'main', 'BTC', '8078.039860234554117574763907942', F2],
        ['bybit', 'main', 'DOGE', null, F2],
        ['bybit', 'main', 'USDT', '5.5', F2],
        ['bybit', 'main', 'USDT', '1000.000000000000000001', F2],
      ],
    );
  });

  test('positions equal the newest snapshot', async () => {
    const rows = await currentPositions(db.pool, { account: 'main' });
    assert.deepEqual(
      rows,
      S2.positions.map((p) => ({ exchange: 'bybit', account: 'main', ...p, asOf: F2, eventPosition: pos.s2 })),
    );
  });

  test('filters: account name on any exchange, exchange alone, both', async () => {
    const keys = (rows: BalanceView[]) => [...new Set(rows.map((r) => `${r.exchange}:${r.account}`))];
    assert.deepEqual(keys(await currentBalances(db.pool, { account: 'main' })), ['binance:main', 'bybit:main']);
    assert.deepEqual(keys(await currentBalances(db.pool, { exchange: 'binance' })), ['binance:main', 'binance:other']);
    assert.deepEqual(keys(await currentBalances(db.pool, { exchange: 'binance', account: 'main' })), ['binance:main']);
    assert.deepEqual(await currentBalances(db.pool, { account: 'nobody' }), []);
  });
});

describe('as of a moment (the log)', () => {
  test('before any sync: nothing', async () => {
    assert.deepEqual(await balancesAt(db.pool, t[0]!), []);
    assert.deepEqual(await positionsAt(db.pool, t[0]!), []);
  });

  test('between the syncs: the first snapshot, as of its fetch', async () => {
    const rows = await balancesAt(db.pool, t[1]!, { exchange: 'bybit' });
    const row = { exchange: 'bybit', account: 'main', wallet: 'unified' as const, quote: 'USDT', asOf: F1, eventPosition: pos.s1! };
    assert.deepEqual(rows, [
      { ...row, asset: 'BTC', free: '1.2', used: '0.3', total: '1.5', price: '65000.12', value: '97500.18' },
      { ...row, asset: 'ETH', free: '10', used: '0', total: '10', price: '3500.5', value: '35005' },
      { ...row, asset: 'XRP', free: null, used: null, total: '250.5', price: null, value: null },
    ]);
    assert.deepEqual(
      await positionsAt(db.pool, t[1]!),
      S1.positions.map((p) => ({ exchange: 'bybit', account: 'main', ...p, asOf: F1, eventPosition: pos.s1 })),
    );
    // binance:other had no snapshot yet; bybit:broken never has one.
    assert.deepEqual([...new Set((await balancesAt(db.pool, t[1]!)).map((r) => `${r.exchange}:${r.account}`))], ['binance:main', 'bybit:main']);
  });

  test('after an unchanged snapshot: the same rows, as of the later fetch', async () => {
    const rows = await balancesAt(db.pool, t[2]!, { exchange: 'bybit', account: 'main' });
    assert.deepEqual(
      rows.map((r) => [r.asset, r.total, r.asOf, r.eventPosition]),
      [
        ['BTC', '1.5', U1, pos.s1],
        ['ETH', '10', U1, pos.s1],
        ['XRP', '250.5', U1, pos.s1],
      ],
    );
    assert.ok((await positionsAt(db.pool, t[2]!)).every((r) => r.asOf === U1));
  });

  test('after both syncs: the second snapshot, identical to the caught-up tables', async () => {
    assert.deepEqual(await balancesAt(db.pool, t[3]!, { account: 'main', exchange: 'bybit' }), bybitMainS2());
    assert.deepEqual(await balancesAt(db.pool, t[3]!), await currentBalances(db.pool));
    assert.deepEqual(await positionsAt(db.pool, t[3]!), await currentPositions(db.pool));
  });

  test('the snapshot lookup can use the events_stream_snapshots index', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('SET enable_seqscan = off');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT e.global_position FROM exchange_sync.events e
         WHERE e.stream_id = 'bybit:main' AND e.type = 'snapshot_recorded' AND e.recorded_at <= now()
         ORDER BY e.stream_position DESC LIMIT 1`,
      );
      assert.match(rows.map((r) => r['QUERY PLAN']).join('\n'), /events_stream_snapshots/);
    } finally {
      await client.query('RESET enable_seqscan');
      client.release();
    }
  });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function env(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url, EXCHANGE_SYNC_LOG_DIR: '/tmp' };
}

async function cli(...args: string[]): Promise<Run> {
  return cliWith(env(), ...args);
}

async function cliWith(environment: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env: environment });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal, stdout, stderr };
}

function ok(r: Run): string {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

async function logEvents(): Promise<RecordedEvent[]> {
  return store.readAfter(START, 100_000);
}

describe('the commands', () => {
  test('balances --json prints the current rows, amounts as strings', async () => {
    const printed = JSON.parse(ok(await cli('balances', '--json')));
    assert.deepEqual(printed, roundTrip(await currentBalances(db.pool)));
    assert.equal(printed.find((r) => r.asset === 'BTC' && r.exchange === 'bybit' && r.wallet === 'unified')?.value, '8078.039860234554117574763907942');
  });

  test('balances --by-asset sums each asset over the wallets, exactly', async () => {
    const printed = JSON.parse(ok(await cli('balances', '--json', '--by-asset', '--account', 'bybit:main')));
    assert.deepEqual(printed[0], {
      exchange: 'bybit',
      account: 'main',
      asset: 'BTC',
      wallets: ['funding', 'unified'],
      free: '0.623456789012345678',
      used: '0',
      total: '0.623456789012345678',
      price: '65432.123456789',
      quote: 'USDT',
      // 32716.0617283945 + 8078.039860234554117574763907942
      value: '40794.101588629054117574763907942',
      asOf: F2,
    });
    // An unknown part in one wallet is unknown in the sum, never taken as 0.
    const usdt = printed.find((r: { asset: string }) => r.asset === 'USDT');
    assert.deepEqual([usdt.wallets, usdt.free, usdt.used, usdt.total, usdt.value], [['funding', 'unified'], '1005.500000000000000001', null, '1005.500000000000000001', '1005.500000000000000001']);
    assert.deepEqual(
      printed.map((r: { asset: string }) => r.asset),
      ['BTC', 'DOGE', 'USDT'],
    );
    const table = ok(await cli('balances', '--by-asset', '--account', 'bybit:main'));
    assert.match(table.split('\n')[0]!, /^EXCHANGE\s+ACCOUNT\s+ASSET\s+WALLETS\s+FREE/);
    assert.match(table, /bybit\s+main\s+BTC\s+funding,unified\s+0\.623456789012345678/);
    const perWallet = ok(await cli('balances', '--account', 'bybit:main'));
    assert.match(perWallet, /BTC\s+funding\s+0\.5\s/);
    assert.match(perWallet, /BTC\s+unified\s+0\.123456789012345678/);
  });

  test('balances --at --json answers from the log', async () => {
    const printed = JSON.parse(ok(await cli('balances', '--json', '--at', t[1]!)));
    assert.deepEqual(printed, roundTrip(await balancesAt(db.pool, t[1]!)));
    assert.ok(printed.some((r: BalanceView) => r.asset === 'ETH'));
  });

  test('--account NAME (any exchange) and --exchange', async () => {
    const [both, ex] = await Promise.all([cli('balances', '--json', '--account', 'main'), cli('balances', '--json', '--exchange', 'binance')]);
    assert.deepEqual(JSON.parse(ok(both)), roundTrip(await currentBalances(db.pool, { account: 'main' })));
    assert.deepEqual(JSON.parse(ok(ex)), roundTrip(await currentBalances(db.pool, { exchange: 'binance' })));
  });

  test('positions --json, current and --at', async () => {
    const [now, then] = await Promise.all([cli('positions', '--json'), cli('positions', '--json', '--at', t[1]!)]);
    assert.deepEqual(JSON.parse(ok(now)), roundTrip(await currentPositions(db.pool)));
    assert.deepEqual(JSON.parse(ok(then)), roundTrip(await positionsAt(db.pool, t[1]!)));
  });

  test('tables: aligned columns with exact amounts; empty results say so', async () => {
    const [balances, positions, none, noneJson] = await Promise.all([
      cli('balances', '--account', 'bybit:main'),
      cli('positions'),
      cli('balances', '--at', t[0]!),
      cli('positions', '--json', '--account', 'nobody'),
    ]);
    const lines = ok(balances).trimEnd().split('\n');
    assert.match(lines[0]!, /^EXCHANGE\s+ACCOUNT\s+ASSET\s+WALLET\s+FREE\s+USED\s+TOTAL\s+PRICE\s+VALUE\s+QUOTE\s+AS_OF$/);
    assert.equal(lines.length, 6);
    assert.match(lines[2]!, /^bybit\s+main\s+BTC\s+unified\s+0\.123456789012345678\s.*65432\.123456789\s+8078\.039860234554117574763907942\s+USDT\s+2025-01-01T01:00:00\.000Z$/);
    assert.match(lines[3]!, /DOGE .* - +- +USDT/);
    // The decimal points of a column line up.
    const totalCol = lines[0]!.indexOf('TOTAL');
    assert.deepEqual(new Set(lines.slice(1).map((l) => l.indexOf('.', totalCol))).size, 1);
    assert.match(ok(positions), /^EXCHANGE\s+ACCOUNT\s+SYMBOL\s+SIDE\s+CONTRACTS\s+ENTRY\s+MARK\s+LIQ\s+NOTIONAL\s+UPNL\s+LEVERAGE\s+MARGIN\s+AS_OF\n/);
    assert.match(ok(positions), /ETH\/USDT:USDT\s+short\s+2\.5\s+3500\.25\s+3490\.1\s+4100\s+8725\.25\s+25\.375\s+10\s+isolated/);
    assert.equal(ok(none), `no balances recorded at or before ${t[0]}\n`);
    assert.equal(ok(noneJson), '[]\n');
  });

  test('--at garbage exits 2 with a one-line message and no stack trace', async () => {
    const r = await cli('balances', '--at', 'garbage');
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    const [message, hint, ...rest] = r.stderr.trimEnd().split('\n');
    assert.equal(message, 'exchange-sync balances: --at must be an ISO-8601 date-time with a time zone, such as 2025-01-31T12:00:00Z, got "garbage"');
    // cli.ts follows every usage error with a pointer to --help.
    assert.equal(hint, 'run "exchange-sync balances --help" for usage');
    assert.deepEqual(rest, []);
  });

  test('other bad flags are usage errors, raised before any connection', async () => {
    // No database behind this URL: a usage error must not need one.
    const cases: [Command, Values, RegExp][] = [
      [positions, { at: '2025-01-01' }, /--at must be an ISO-8601 date-time/],
      [positions, { at: '2025-01-01T12:00:00' }, /with a time zone/],
      [balances, { account: 'bybit:main', exchange: 'binance' }, /name different exchanges/],
      [balances, { account: 'bybit:' }, /NAME or EXCHANGE:NAME/],
      [events, { limit: '0' }, /--limit must be a whole number/],
      [events, { from: '-3' }, /--from must be a whole number/],
    ];
    for (const [command, values, message] of cases) await assert.rejects(command.run(values), (err: Error) => err instanceof UsageError && message.test(err.message));
  });

  test('--help', async () => {
    assert.match(ok(await cli('positions', '--help')), /^Usage: exchange-sync positions \[--account NAME/);
    for (const c of [balances, positions, events]) {
      assert.match(c.help, new RegExp(`^Usage: exchange-sync ${c.name} `));
      for (const flag of Object.keys(c.options)) assert.ok(c.help.includes(`--${flag}`), `${c.name} --help mentions --${flag}`);
    }
  });

  test('events --json prints the envelopes in log order', async () => {
    const printed = ok(await cli('events', '--json'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    const expected = (await logEvents()).map((e) => roundTrip(toEnvelope(e)));
    assert.deepEqual(printed, expected);
    for (const e of printed) EnvelopeSchema.parse(e);
    assert.equal((printed[0]?.data as { snapshot: Snapshot }).snapshot.balances[0]?.total, '1.5');
  });

  test('events --from --limit, and the table', async () => {
    const all = await logEvents();
    const [slice, table] = await Promise.all([cli('events', '--json', '--from', String(pos.s2), '--limit', '2'), cli('events')]);
    assert.deepEqual(
      ok(slice)
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).globalPosition),
      all.filter((e) => e.globalPosition >= pos.s2!).slice(0, 2).map((e) => e.globalPosition),
    );
    const lines = ok(table).trimEnd().split('\n');
    assert.match(lines[0]!, /^\s*POSITION\s+RECORDED_AT\s+STREAM\s+#\s+TYPE\s+SUMMARY$/);
    assert.equal(lines.length, all.length + 1);
    assert.match(lines[1]!, new RegExp(`^\\s+${pos.s1}  \\S+Z\\s+bybit:main\\s+1  snapshot_recorded\\s+3 balances, 1 positions, fetched ${F1}$`));
    assert.ok(lines.some((l) => /bybit:broken\s+1  sync_failed\s+failed \(schedule\) auth, attempt 1: invalid api key second line$/.test(l)));
  });
});

describe('following the log', () => {
  test('follow() wakes on a notification and ends on abort', async () => {
    const notifier = new Notifier(db.url);
    const stop = new AbortController();
    const seen: RecordedEvent[] = [];
    const end = (await logEvents()).at(-1)!;
    // The fallback poll is far away: only the notification can deliver in time.
    const reader = (async () => {
      for await (const batch of follow(store, { after: { transactionId: end.transactionId, globalPosition: end.globalPosition }, notifier, pollMs: 60_000, signal: stop.signal })) {
        seen.push(...batch);
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 300));
      const { events } = await store.append('bybit:follow-lib', [syncFailed('one')]);
      await waitFor(() => seen.some((e) => e.id === events[0]!.id), 5000, 'notified event');
    } finally {
      stop.abort();
      await reader;
      await notifier.stop();
    }
  });

  test('events --follow --json prints an event appended after it started, and exits 0 on SIGTERM', async () => {
    const end = (await logEvents()).at(-1)!;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'events', '--follow', '--json'], { cwd: ROOT, env: env() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    try {
      await waitFor(() => stdout.includes(end.id), 10_000, 'the backlog');
      const { events } = await store.append('bybit:follow-cli', [syncFailed('late')]);
      await waitFor(() => stdout.includes(events[0]!.id), 5000, 'the new event');
      const last = JSON.parse(stdout.trimEnd().split('\n').at(-1)!);
      assert.deepEqual(last, roundTrip(toEnvelope((await store.readStream('bybit:follow-cli'))[0]!)));
      child.kill('SIGTERM');
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      assert.deepEqual({ code, signal, stderr }, { code: 0, signal: null, stderr: '' });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Last in the file: it records one more sync, which the tests above do not expect.
describe('a role that may only read', () => {
  test('balances shows the tables as last projected, and says it could not bring them up to date', async (t) => {
    const role = `es_reader_${randomUUID().slice(0, 8)}`;
    await db.pool.query(`CREATE ROLE ${role} LOGIN`);
    t.after(async () => {
      await db.pool.query(`DROP OWNED BY ${role}`);
      await db.pool.query(`DROP ROLE ${role}`);
    });
    await db.pool.query(`GRANT USAGE ON SCHEMA exchange_sync TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA exchange_sync TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    const late = snapshot('bybit:late', { fetchedAt: '2025-01-03T00:00:00.000Z', balances: [{ asset: 'BTC', free: '1', used: '0', total: '1' }], prices: {} });
    await recordSnapshot('bybit:late', late);

    const reader = await cliWith({ ...env(), DATABASE_URL: url.toString() }, 'balances', '--json', '--account', 'bybit:late');
    assert.equal(reader.code, 0, reader.stderr);
    assert.deepEqual(JSON.parse(reader.stdout), []);
    assert.equal(reader.stderr, 'exchange-sync: no write access to bring the projections up to date; showing them as the daemon last projected them\n');

    const writer = JSON.parse(ok(await cli('balances', '--json', '--account', 'bybit:late')));
    assert.deepEqual(
      writer.map((r: BalanceView) => [r.asset, r.total]),
      [['BTC', '1']],
    );

    // --at projects into temporary tables of its own session: reading the log is enough.
    const at = await cliWith({ ...env(), DATABASE_URL: url.toString() }, 'balances', '--json', '--account', 'bybit:late', '--at', await dbNow());
    assert.equal(at.code, 0, at.stderr);
    assert.deepEqual(JSON.parse(at.stdout), writer);

    // A read-only session (a hot standby) cannot make them: one line says so, nothing is written.
    const standby = await cliWith({ ...env(), PGOPTIONS: '-c default_transaction_read_only=on' }, 'balances', '--at', await dbNow());
    assert.equal(standby.code, 1);
    assert.equal(standby.stderr, 'exchange-sync balances: --at projects into temporary tables, which a read-only session (a hot standby) cannot create; ask the primary\n');
  });
});
