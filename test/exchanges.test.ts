// The exchange adapter against the emulator: real ccxt, real HTTP, real signatures.
// Every test uses its own API keys (and so its own emulator account) and its own
// createExchangeAccess, whose pooled ccxt instances keep state between calls, e.g. a measured
// clock offset.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { Account } from '../src/config.js';
import { startEmulator, type Emulator, type EmulatorAccountInput } from '../src/emulator/index.js';
import { SnapshotSchema, type Snapshot } from '../src/events/catalog.js';
import { toDecimal } from '../src/events/decimal.js';
import { allUrls, createExchangeAccess, ExchangeError, scrub, type ExchangeAccessOptions } from '../src/exchanges/index.js';
import { createInstance } from '../src/exchanges/instances.js';
import { loadExchange } from '../src/exchanges/ccxt-modules.js';
import { Limiter } from '../src/exchanges/limiter.js';
import { mapBalances, mapPositions } from '../src/exchanges/snapshot.js';

// createInstance() builds from loaded exchange modules; the adapter loads them on first sync.
await Promise.all(['bybit', 'binance', 'okx', 'kraken', 'kucoin', 'gate'].map(loadExchange));

type Ex = 'bybit' | 'binance';

let emu: Emulator;

before(async () => {
  emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0 });
  emu.freezePrices(true);
});
after(async () => {
  await emu.close();
});

// Small delays so retries do not slow the suite; the policy is the same as in production.
const FAST: ExchangeAccessOptions = { timeoutMs: 2000, retryBaseMs: 5, retryMaxMs: 20, maxAttempts: 4 };

let seq = 0;
/** A fresh emulator account and the matching exchange-sync account pointing at the emulator. */
function makeAccount(exchange: Ex, input: Partial<EmulatorAccountInput> = {}, extra: Partial<Account> = {}): Account {
  seq++;
  const apiKey = `${exchange}-key-${seq}-AbCdEf0123456789`;
  const secret = `${exchange}-secret-${seq}-ZyXwVu9876543210`;
  emu.setAccount({
    exchange,
    apiKey,
    secret,
    balances: { USDT: { free: '1000', used: '0' }, BTC: { free: '0.5', used: '0' } },
    positions: [],
    ...input,
  } as EmulatorAccountInput);
  return { account: `acct${seq}`, exchange, apiKey, secret, testnet: false, apiUrl: emu.url, options: {}, ...extra };
}

async function rejection(p: Promise<unknown>): Promise<ExchangeError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ExchangeError, `expected an ExchangeError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

/** The main wallet's balances (bybit unified, binance spot) as a snapshot has them. */
function expectedBalances(exchange: Ex, apiKey: string): Snapshot['balances'] {
  const view = emu.account(exchange, apiKey);
  const wallet = exchange === 'bybit' ? 'unified' : 'spot';
  return Object.entries(view.balances)
    .map(([asset, b]) => ({ wallet, asset, free: toDecimal(b.free), used: toDecimal(b.used), total: toDecimal(b.total) }) as const)
    .filter((b) => b.total !== '0')
    .sort((a, b) => (a.asset < b.asset ? -1 : 1));
}

const PORTFOLIO = {
  balances: {
    // 18 decimals on both sides of a sum, and amounts that are not exact in binary floating point.
    BTC: { free: '1.5', used: '0.000000000000000001' },
    ETH: { free: '0.123456789012345678', used: '0.1' },
    USDT: { free: '1000.000000000000000001', used: '250.5' },
    XRP: { free: '0', used: '0' },
  },
  positions: [
    { symbol: 'ETH/USDT:USDT', side: 'short', contracts: '1.5', entryPrice: '3500.25', leverage: '5', marginMode: 'isolated' },
    { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '0.01', entryPrice: '60000.1', leverage: '10', marginMode: 'cross' },
  ],
} satisfies Partial<EmulatorAccountInput>;

describe('snapshot contents', () => {
  for (const exchange of ['bybit', 'binance'] as const) {
    test(`${exchange}: balances, positions and prices equal the emulator's state exactly`, async () => {
      const account = makeAccount(exchange, PORTFOLIO);
      const access = createExchangeAccess([account], FAST);
      try {
        const { snapshot, attempts } = await access.fetchSnapshot(account);
        assert.equal(attempts, 1);
        SnapshotSchema.parse(snapshot);
        assert.equal(snapshot.exchange, exchange);
        assert.equal(snapshot.account, account.account);
        assert.equal(snapshot.quote, 'USDT');

        // Zero balances (XRP) dropped, sorted by asset, totals exact to 18 decimals.
        assert.deepEqual(snapshot.balances, expectedBalances(exchange, account.apiKey!));
        assert.deepEqual(
          snapshot.balances.map((b) => b.total),
          ['1.500000000000000001', '0.223456789012345678', '1250.500000000000000001'],
        );

        const view = emu.account(exchange, account.apiKey!);
        const want = [...view.positions].sort((a, b) => (a.symbol < b.symbol ? -1 : 1));
        assert.deepEqual(
          snapshot.positions.map((p) => p.symbol),
          ['BTC/USDT:USDT', 'ETH/USDT:USDT'],
        );
        for (const [i, p] of snapshot.positions.entries()) {
          const v = want[i]!;
          assert.equal(p.side, v.side);
          assert.equal(p.contracts, toDecimal(v.contracts));
          assert.equal(p.entryPrice, toDecimal(v.entryPrice));
          assert.equal(p.markPrice, toDecimal(v.markPrice));
          // Value at mark price on both exchanges (ccxt's Bybit notional is the entry value).
          assert.equal(p.notional, toDecimal(v.notional));
          assert.equal(p.unrealizedPnl, toDecimal(v.unrealizedPnl));
          assert.equal(p.leverage, toDecimal(v.leverage));
          if (exchange === 'bybit') {
            // A unified account margins every position by its account-wide mode (regular = cross).
            assert.equal(p.marginMode, 'cross');
          } else {
            assert.equal(p.marginMode, v.marginMode);
          }
        }

        assert.deepEqual(snapshot.prices, {
          BTC: toDecimal(emu.price(exchange, 'BTC/USDT')),
          ETH: toDecimal(emu.price(exchange, 'ETH/USDT')),
          USDT: '1',
        });
        assert.ok(snapshot.exchangeTime && !Number.isNaN(Date.parse(snapshot.exchangeTime)));
      } finally {
        await access.close();
      }
    });
  }

  test('an asset without a market against the quote gets no price; prices come from one ticker request', async () => {
    const account = makeAccount('bybit', { balances: { ZRX: { free: '5', used: '0' }, BTC: { free: '1', used: '0' }, ETH: { free: '1', used: '0' } } });
    const access = createExchangeAccess([account], FAST);
    try {
      emu.resetRequestCounts();
      const { snapshot, requests } = await access.fetchSnapshot(account);
      assert.deepEqual(Object.keys(snapshot.prices), ['BTC', 'ETH']);
      assert.ok(snapshot.balances.some((b) => b.asset === 'ZRX'));
      assert.equal(emu.requestCount({ exchange: 'bybit', path: '/v5/market/tickers' }), 1);
      // account/info, wallet-balance, FUND balance, position/list x 3, tickers: nothing else per
      // snapshot once markets are loaded.
      assert.equal(requests, 7);
    } finally {
      await access.close();
    }
  });

  test('binance: USD-M positions carry leverage and margin mode without any option (/fapi/v2/positionRisk)', async () => {
    const account = makeAccount('binance', PORTFOLIO);
    const access = createExchangeAccess([account], FAST);
    try {
      const { snapshot } = await access.fetchSnapshot(account);
      assert.deepEqual(
        snapshot.positions.map((p) => [p.symbol, p.leverage, p.marginMode]),
        [
          ['BTC/USDT:USDT', '10', 'cross'],
          ['ETH/USDT:USDT', '5', 'isolated'],
        ],
      );
    } finally {
      await access.close();
    }
  });

  test('mapping drops closed positions and zero balances and sorts by symbol then side', () => {
    const positions = mapPositions([
      { symbol: 'ETH/USDT:USDT', side: 'short', contracts: '2' },
      { symbol: 'BTC/USDT:USDT', side: undefined, contracts: '0' },
      { symbol: 'BTC/USDT:USDT', side: 'short', contracts: '1' },
      { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '3.10' },
    ]);
    assert.deepEqual(
      positions.map((p) => [p.symbol, p.side, p.contracts]),
      [
        ['BTC/USDT:USDT', 'long', '3.1'],
        ['BTC/USDT:USDT', 'short', '1'],
        ['ETH/USDT:USDT', 'short', '2'],
      ],
    );
    const balances = mapBalances({ info: {}, free: {}, ETH: { free: '0', used: '0', total: '0' }, BTC: { free: '1e-8', used: '0', total: '0.00000001' } }, 'spot');
    assert.deepEqual(balances, [{ wallet: 'spot', asset: 'BTC', free: '0.00000001', used: '0', total: '0.00000001' }]);
    // A float that reached the mapping is refused rather than recorded inexactly.
    assert.throws(() => mapBalances({ BTC: { free: 0.1, used: 0, total: 0.1 } }, 'spot'), /expected a decimal string/);
  });
});

describe('errors and retries', () => {
  for (const exchange of ['bybit', 'binance'] as const) {
    test(`${exchange}: a wrong key is auth, one request, not retried`, async () => {
      const wrong: Account = { account: 'wrongkey', exchange, apiKey: 'not-a-known-key-0123456789', secret: 'whatever-secret-0123456789', testnet: false, apiUrl: emu.url, options: {} };
      const access = createExchangeAccess([wrong], FAST);
      try {
        const err = await rejection(access.fetchSnapshot(wrong));
        assert.equal(err.errorClass, 'auth');
        assert.equal(err.retryable, false);
        assert.equal(err.attempt, 1);
        assert.equal(emu.requestCount({ exchange, apiKey: wrong.apiKey }), 1);
      } finally {
        await access.close();
      }
    });

    test(`${exchange}: a wrong secret (bad signature) is auth, one request`, async () => {
      const good = makeAccount(exchange);
      const account = { ...good, secret: 'a-different-secret-0123456789' };
      const access = createExchangeAccess([account], FAST);
      try {
        const err = await rejection(access.fetchSnapshot(account));
        assert.equal(err.errorClass, 'auth');
        assert.equal(emu.requestCount({ exchange, apiKey: account.apiKey }), 1);
      } finally {
        await access.close();
      }
    });

    test(`${exchange}: the exchange's clock off by a minute is a nonce error; re-measuring the offset recovers`, async () => {
      const account = makeAccount(exchange);
      const once = createExchangeAccess([account], { ...FAST, maxAttempts: 1 });
      const retrying = createExchangeAccess([account], FAST);
      emu.injectFault({ exchange, kind: 'clock_skew', ms: -60_000 });
      try {
        const err = await rejection(once.fetchSnapshot(account));
        assert.equal(err.errorClass, 'nonce');
        assert.equal(err.retryable, true);

        emu.resetRequestCounts();
        const ok = await retrying.fetchSnapshot(account);
        assert.equal(ok.attempts, 2);
        const timePath = exchange === 'bybit' ? '/v5/market/time' : '/api/v3/time';
        assert.equal(emu.requestCount({ exchange, path: timePath }), 1);
      } finally {
        emu.clearFaults();
        await once.close();
        await retrying.close();
      }
    });

    test(`${exchange}: our clock off by two minutes (a stale time offset) recovers the same way`, async () => {
      // ccxt signs with now - options.timeDifference: a wrong offset makes every timestamp we
      // send two minutes old, exactly what a slow local clock does.
      const account = makeAccount(exchange, {}, { options: { timeDifference: 120_000 } });
      const access = createExchangeAccess([account], FAST);
      try {
        const ok = await access.fetchSnapshot(account);
        assert.equal(ok.attempts, 2);
        assert.equal(ok.snapshot.balances.length, 2);
      } finally {
        await access.close();
      }
    });

    test(`${exchange}: two rate-limit replies, then success: attempts = 3`, async () => {
      const account = makeAccount(exchange);
      const access = createExchangeAccess([account], FAST);
      try {
        await access.fetchSnapshot(account); // markets loaded, so the fault meets the account's calls
        emu.injectFault({ exchange, kind: 'rate_limit', apiKey: account.apiKey, count: 2 });
        const ok = await access.fetchSnapshot(account);
        assert.equal(ok.attempts, 3);
        assert.deepEqual(ok.snapshot.balances, expectedBalances(exchange, account.apiKey!));
      } finally {
        emu.clearFaults();
        await access.close();
      }
    });

    test(`${exchange}: 5xx is retried; a lasting outage is exchange_down after maxAttempts`, async () => {
      const account = makeAccount(exchange);
      const access = createExchangeAccess([account], { ...FAST, maxAttempts: 3 });
      try {
        await access.fetchSnapshot(account);
        emu.injectFault({ exchange, kind: 'http_5xx', apiKey: account.apiKey, count: 1, status: 502 });
        assert.equal((await access.fetchSnapshot(account)).attempts, 2);

        emu.resetRequestCounts();
        emu.injectFault({ exchange, kind: 'http_5xx', apiKey: account.apiKey, status: 503 });
        const err = await rejection(access.fetchSnapshot(account));
        assert.equal(err.errorClass, 'exchange_down');
        assert.equal(err.retryable, true);
        assert.equal(err.attempt, 3);
        assert.equal(emu.requestCount({ exchange, apiKey: account.apiKey }), 3);
      } finally {
        emu.clearFaults();
        await access.close();
      }
    });

    test(`${exchange}: a hung request is a timeout within the configured bound`, async () => {
      const account = makeAccount(exchange);
      const access = createExchangeAccess([account], { ...FAST, timeoutMs: 300, maxAttempts: 2 });
      try {
        await access.fetchSnapshot(account);
        emu.injectFault({ exchange, kind: 'hang', apiKey: account.apiKey });
        const started = Date.now();
        const err = await rejection(access.fetchSnapshot(account));
        const elapsed = Date.now() - started;
        assert.equal(err.errorClass, 'timeout');
        assert.equal(err.attempt, 2);
        // 2 attempts x 300 ms plus backoff; far below anything a hang would take.
        assert.ok(elapsed < 5000, `took ${elapsed} ms`);
      } finally {
        emu.clearFaults();
        await access.close();
      }
    });

    test(`${exchange}: a truncated body is bad_response, not an empty account`, async () => {
      const account = makeAccount(exchange);
      const access = createExchangeAccess([account], { ...FAST, maxAttempts: 2 });
      try {
        await access.fetchSnapshot(account);
        emu.injectFault({ exchange, kind: 'malformed', apiKey: account.apiKey });
        const err = await rejection(access.fetchSnapshot(account));
        assert.equal(err.errorClass, 'bad_response');
        emu.clearFaults();
        emu.injectFault({ exchange, kind: 'malformed', apiKey: account.apiKey, count: 1 });
        const ok = await access.fetchSnapshot(account);
        assert.equal(ok.attempts, 2);
        assert.deepEqual(ok.snapshot.balances, expectedBalances(exchange, account.apiKey!));
      } finally {
        emu.clearFaults();
        await access.close();
      }
    });
  }

  test('binance: -2015 after a successful call (ccxt says DDoSProtection) is auth, not retried', async () => {
    const account = makeAccount('binance');
    const access = createExchangeAccess([account], FAST);
    try {
      await access.fetchSnapshot(account);
      emu.removeAccount('binance', account.apiKey!); // the key is revoked
      emu.resetRequestCounts();
      const err = await rejection(access.fetchSnapshot(account));
      assert.equal(err.errorClass, 'auth');
      assert.equal(err.retryable, false);
      assert.equal(emu.requestCount({ exchange: 'binance', apiKey: account.apiKey }), 1);
    } finally {
      await access.close();
    }
  });

  test('close() ends a pending backoff: the caller gets the last error instead of waiting', { timeout: 15_000 }, async () => {
    const account = makeAccount('bybit');
    const access = createExchangeAccess([account], { ...FAST, retryBaseMs: 600_000, retryMaxMs: 600_000 });
    await access.fetchSnapshot(account);
    emu.injectFault({ exchange: 'bybit', kind: 'rate_limit', apiKey: account.apiKey });
    emu.resetRequestCounts();
    try {
      const pending = rejection(access.fetchSnapshot(account));
      while (emu.requestCount({ exchange: 'bybit', apiKey: account.apiKey }) === 0) await new Promise((r) => setTimeout(r, 5));
      await access.close();
      const err = await pending; // a ten-minute backoff would trip the test timeout
      assert.equal(err.errorClass, 'rate_limit');
      assert.equal(err.attempt, 1);
      assert.equal(emu.requestCount({ exchange: 'bybit', apiKey: account.apiKey }), 1);
      const closed = await rejection(access.fetchSnapshot(account));
      assert.equal(closed.errorClass, 'internal');
    } finally {
      emu.clearFaults();
    }
  });

  test('an unknown account is refused as internal', async () => {
    const access = createExchangeAccess([], FAST);
    const err = await rejection(access.fetchSnapshot({ exchange: 'bybit', account: 'nobody' }));
    assert.equal(err.errorClass, 'internal');
    await access.close();
  });
});

describe('markets', () => {
  for (const exchange of ['bybit', 'binance'] as const) {
    test(`${exchange}: 50 accounts load markets once`, async () => {
      const marketPaths = exchange === 'bybit' ? ['/v5/market/instruments-info'] : ['/api/v3/exchangeInfo', '/fapi/v1/exchangeInfo', '/dapi/v1/exchangeInfo'];
      const marketRequests = () => marketPaths.reduce((n, path) => n + emu.requestCount({ exchange, path }), 0);

      const one = makeAccount(exchange);
      const single = createExchangeAccess([one], FAST);
      emu.resetRequestCounts();
      await single.fetchSnapshot(one);
      const perLoad = marketRequests();
      await single.close();
      // bybit: instruments-info spot, linear, inverse, and linear and inverse pre-launch; binance:
      // spot, USD-M and COIN-M exchangeInfo.
      assert.ok(perLoad > 0 && perLoad <= (exchange === 'bybit' ? 5 : 3), `one market load took ${perLoad} requests`);

      const many = Array.from({ length: 50 }, () => makeAccount(exchange));
      const access = createExchangeAccess(many, { ...FAST, concurrencyPerExchange: 8 });
      try {
        emu.resetRequestCounts();
        const results = await Promise.all(many.map((a) => access.fetchSnapshot(a)));
        assert.equal(results.length, 50);
        assert.ok(results.every((r) => r.snapshot.balances.length === 2));
        assert.equal(marketRequests(), perLoad);
      } finally {
        await access.close();
      }
    });
  }

  test('markets are reloaded on the refresh timer; a failed reload keeps the previous markets', { timeout: 20_000 }, async () => {
    const account = makeAccount('bybit');
    const access = createExchangeAccess([account], { ...FAST, marketsRefreshMs: 100 });
    const loads = () => emu.requestCount({ exchange: 'bybit', path: '/v5/market/instruments-info' });
    const waitForLoads = async (n: number) => {
      while (loads() < n) await new Promise((r) => setTimeout(r, 20));
    };
    try {
      emu.resetRequestCounts();
      await access.fetchSnapshot(account);
      const perLoad = loads();
      await waitForLoads(2 * perLoad); // the timer reloaded them without any snapshot asking

      emu.injectFault({ exchange: 'bybit', kind: 'http_5xx', path: '/v5/market/instruments-info' });
      const failedFrom = loads();
      await waitForLoads(failedFrom + 1);
      const { snapshot } = await access.fetchSnapshot(account);
      assert.equal(snapshot.prices.BTC, toDecimal(emu.price('bybit', 'BTC/USDT')));
    } finally {
      emu.clearFaults();
      await access.close();
    }
  });

  test('a failed market load is retried on the next call, not cached', async () => {
    const account = makeAccount('bybit');
    const access = createExchangeAccess([account], { ...FAST, maxAttempts: 1 });
    try {
      emu.injectFault({ exchange: 'bybit', kind: 'http_5xx', path: '/v5/market/instruments-info' });
      const err = await rejection(access.fetchSnapshot(account));
      assert.equal(err.errorClass, 'exchange_down');
      emu.clearFaults();
      const ok = await access.fetchSnapshot(account);
      assert.equal(ok.snapshot.balances.length, 2);
      assert.ok(ok.snapshot.prices.BTC);
    } finally {
      emu.clearFaults();
      await access.close();
    }
  });
});

describe('pooled instances', () => {
  for (const exchange of ['bybit', 'binance'] as const) {
    test(`${exchange}: accounts sharing a pool synced concurrently never see each other's balances; auth errors stay with their account`, { timeout: 60_000 }, async () => {
      const alice = makeAccount(exchange, { balances: { USDT: { free: '111.1', used: '0' }, BTC: { free: '0.1', used: '0' } } });
      const bob = makeAccount(exchange, { balances: { USDT: { free: '2222.22', used: '1' }, ETH: { free: '3', used: '0' } } });
      // A known key signed with the wrong secret: rejected by the exchange as a bad signature.
      const mallory = { ...makeAccount(exchange), secret: `${exchange}-not-the-secret-0123456789` };
      const accounts = [alice, bob, mallory];
      // Two instances for three accounts: every instance serves every account in turn.
      const access = createExchangeAccess(accounts, { ...FAST, concurrencyPerExchange: 2 });
      const rounds = 10;
      try {
        await access.fetchSnapshot(alice); // markets loaded, so every request below is a signed one
        emu.resetRequestCounts();
        // Signed requests per snapshot: bybit account/info, unified, FUND, position/list x 3;
        // binance (no futures) account/info, spot and funding.
        const signed = exchange === 'bybit' ? 6 : 3;
        const firstTime = 0;
        let bobFirst = true;
        const calls = Array.from({ length: rounds }, () => accounts).flat();
        const results = await Promise.allSettled(calls.map((a) => access.fetchSnapshot(a)));
        for (const [i, r] of results.entries()) {
          const a = calls[i]!;
          if (a === mallory) {
            assert.equal(r.status, 'rejected', `call ${i}: mallory's wrong secret was accepted`);
            const err = (r as PromiseRejectedResult).reason as ExchangeError;
            assert.ok(err instanceof ExchangeError);
            assert.equal(err.errorClass, 'auth', `call ${i}: ${err.message}`);
            assert.equal(err.attempt, 1);
            for (const other of [alice, bob]) {
              assert.ok(!err.message.includes(other.apiKey!) && !err.message.includes(other.secret!), 'another account in the error');
            }
          } else {
            assert.equal(r.status, 'fulfilled', `call ${i} (${a.account}): ${r.status === 'rejected' ? String(r.reason) : ''}`);
            const { snapshot, attempts, requests } = (r as PromiseFulfilledResult<Awaited<ReturnType<typeof access.fetchSnapshot>>>).value;
            assert.equal(snapshot.account, a.account);
            assert.equal(attempts, 1);
            assert.deepEqual(snapshot.balances, expectedBalances(exchange, a.apiKey!));
            // Counted per call even though the instance is shared: the signed ones and tickers.
            assert.equal(requests, signed + 1 + (a === bob && bobFirst ? firstTime : 0));
            if (a === bob) bobFirst = false;
          }
        }
        // Every signed request (tickers are public) went out under the key of the account it was
        // made for; mallory's first request of each snapshot is refused.
        assert.equal(emu.requestCount({ exchange, apiKey: alice.apiKey }), signed * rounds);
        assert.equal(emu.requestCount({ exchange, apiKey: bob.apiKey }), signed * rounds + firstTime);
        assert.equal(emu.requestCount({ exchange, apiKey: mallory.apiKey }), rounds);

        // A key revoked between syncs is an auth error for that account alone.
        emu.removeAccount(exchange, bob.apiKey!);
        const after = await Promise.allSettled([alice, bob, alice, bob].map((a) => access.fetchSnapshot(a)));
        assert.equal(after[0]!.status, 'fulfilled');
        assert.equal(after[2]!.status, 'fulfilled');
        for (const r of [after[1]!, after[3]!]) {
          assert.equal(r.status, 'rejected');
          assert.equal(((r as PromiseRejectedResult).reason as ExchangeError).errorClass, 'auth');
        }
      } finally {
        await access.close();
      }
    });
  }

  test('accounts with different ccxt options do not share instances', async () => {
    // fetchBalance.useV2 changes which endpoint the USD-M wallet comes from: if the two accounts
    // shared an instance, one of them would get the other's setting.
    const v2 = makeAccount('binance', PORTFOLIO, { options: { fetchBalance: { useV2: true } } });
    const v3 = makeAccount('binance', PORTFOLIO);
    const access = createExchangeAccess([v2, v3], { ...FAST, concurrencyPerExchange: 1 });
    try {
      for (let i = 0; i < 3; i++) await Promise.all([access.fetchSnapshot(v2), access.fetchSnapshot(v3)]);
      const at = (a: Account, path: string) => emu.requestCount({ exchange: 'binance', apiKey: a.apiKey, path });
      assert.deepEqual([at(v2, '/fapi/v2/account'), at(v2, '/fapi/v3/account')], [3, 0]);
      assert.deepEqual([at(v3, '/fapi/v2/account'), at(v3, '/fapi/v3/account')], [0, 3]);
    } finally {
      await access.close();
    }
  });
});

describe('endpoints and secrets', () => {
  test('apiUrl rewrites every urls.api entry, nested ones included, keeping paths', () => {
    const base = 'http://127.0.0.1:4321/relay';
    for (const exchange of ['bybit', 'binance', 'okx', 'kraken', 'kucoin', 'gate']) {
      const live = createInstance({ exchange, testnet: false }, {}, { timeoutMs: 1000 });
      const moved = createInstance({ exchange, testnet: false, apiUrl: base }, {}, { timeoutMs: 1000 });
      const before = allUrls(live.urls.api);
      const after = allUrls(moved.urls.api);
      assert.equal(after.length, before.length, exchange);
      assert.ok(after.length > 0, exchange);
      for (const url of after) assert.match(url, /^(http|ws):\/\/127\.0\.0\.1:4321\/relay/, `${exchange}: ${url}`);
      if (exchange === 'binance') {
        assert.ok(after.length >= 20);
        assert.equal((moved.urls.api as Record<string, string>).fapiPrivateV3, `${base}/fapi/v3`);
        assert.equal((moved.urls.api as Record<string, string>).sapi, `${base}/sapi/v1`);
      }
    }
  });

  test('bybit, binance and okx instances carry the tuned options; account options override them', () => {
    const bybit = createInstance({ exchange: 'bybit', testnet: false }, { enableUnifiedAccount: false }, { timeoutMs: 1234 });
    assert.equal(bybit.options.enableUnifiedAccount, false);
    assert.equal(bybit.options.enableUnifiedMargin, false);
    assert.deepEqual(bybit.options.fetchMarkets.types, ['spot', 'linear', 'inverse']);
    assert.equal(bybit.has.fetchCurrencies, false);
    assert.equal(bybit.timeout, 1234);
    const binance = createInstance({ exchange: 'binance', testnet: false }, {}, { timeoutMs: 1000 });
    assert.deepEqual(binance.options.fetchMarkets.types, ['spot', 'linear', 'inverse']);
    const okx = createInstance({ exchange: 'okx', testnet: false }, {}, { timeoutMs: 1000 });
    assert.deepEqual(okx.options.fetchMarkets.types, ['spot', 'swap', 'future'], 'no options: okx lists them per underlying');
    assert.equal(binance.options.fetchMargins, false);
    const testnet = createInstance({ exchange: 'bybit', testnet: true }, {}, { timeoutMs: 1000 });
    assert.ok(allUrls(testnet.urls.api).every((u) => u.includes('api-testnet')));
  });

  test('keys, secrets and signatures appear in no error message and no log line', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = pino({ level: 'trace' }, sink);
    const bybitBadSig = { ...makeAccount('bybit'), secret: 'bybit-wrong-secret-Q1W2E3R4T5' };
    const binanceHang = makeAccount('binance');
    const binance5xx = makeAccount('binance');
    const accounts = [bybitBadSig, binanceHang, binance5xx];
    const access = createExchangeAccess(accounts, { ...FAST, timeoutMs: 300, maxAttempts: 2, logger });
    const messages: string[] = [];
    try {
      await access.fetchSnapshot(binanceHang); // markets first, so the faults below hit signed calls
      emu.injectFault({ exchange: 'binance', kind: 'hang', apiKey: binanceHang.apiKey });
      emu.injectFault({ exchange: 'binance', kind: 'http_5xx', apiKey: binance5xx.apiKey });
      for (const a of accounts) {
        const err = await rejection(access.fetchSnapshot(a));
        messages.push(err.message, String(err.stack), JSON.stringify(err));
      }
    } finally {
      emu.clearFaults();
      await access.close();
    }
    // The bybit reply echoes the signed string (with the key); the binance URLs carry signature=.
    assert.ok(messages.some((m) => m.includes('error sign!')));
    assert.ok(messages.some((m) => m.includes('signature=***')));
    const text = messages.join('\n') + lines.join('');
    for (const a of accounts) {
      assert.ok(!text.includes(a.apiKey!), 'api key leaked');
      assert.ok(!text.includes(a.secret!), 'secret leaked');
    }
    assert.doesNotMatch(text, /signature=[0-9a-f]{16,}/);
    assert.ok(lines.length > 0);
  });

  test('scrub masks keys, URL-encoded secrets and signed query parameters', () => {
    const secrets = { apiKey: 'KEY-1234567890', secret: 'se/cr+et=42', password: 'p@ss-word' };
    const text = scrub(
      'GET /api?apiKey=KEY-1234567890&timestamp=1&signature=abcdef0123&sign=ff00 body se%2Fcr%2Bet%3D42 p@ss-word apiSignature[deadbeef]',
      secrets,
    );
    assert.doesNotMatch(text, /KEY-1234567890|se%2Fcr|p@ss-word|abcdef0123|ff00|deadbeef/);
    assert.match(text, /timestamp=1/);
  });
});

describe('concurrency limiter', () => {
  test('never runs more than its cap at once and runs everything', async () => {
    const limiter = new Limiter(3);
    let active = 0;
    let peak = 0;
    const gates: Array<() => void> = [];
    const runs = Array.from({ length: 10 }, (_, i) =>
      limiter.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise<void>((resolve) => gates.push(resolve));
        active--;
        return i;
      }),
    );
    // Release whatever is waiting until everything has run.
    while (gates.length > 0 || limiter.inFlight > 0) {
      await new Promise((r) => setImmediate(r));
      gates.shift()?.();
    }
    assert.deepEqual(await Promise.all(runs), [...Array(10).keys()]);
    assert.equal(peak, 3);
  });
});
