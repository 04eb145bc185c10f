// Loads the recorded exchange replies (ccxt's own static test data, see
// fixtures/ccxt-static/SOURCE.md) once, and exposes them as templates: the emulator
// copies a real row and overwrites only the values its state decides, so field names, order and
// types stay what the exchange sends.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonical } from './decimal.js';
import { loadOkxFixtures, type OkxFixtures } from './okx-fixtures.js';
import type { EmulatorExchange } from './types.js';

export type Json = Record<string, unknown>;

export type MarketKind = 'spot' | 'linear' | 'inverse';

export interface MarketInfo {
  exchange: EmulatorExchange;
  /** ccxt unified symbol, e.g. BTC/USDT:USDT */
  symbol: string;
  /** exchange id, e.g. BTCUSDT */
  id: string;
  kind: MarketKind;
  base: string;
  quote: string;
  settle: string | undefined;
  /** price tick as the exchange writes it, e.g. "0.10" */
  tick: string;
  /** ccxt's contractSize ("1" for spot): base units per contract (linear), USD per contract (inverse) */
  contractSize: string;
  /** the raw instrument row the exchange sent */
  row: Json;
}

export interface Fixtures {
  dir: string;
  markets: Record<EmulatorExchange, MarketInfo[]>;
  bybit: {
    walletBalance: Json;
    coinRow: Json;
    positionRow: Json;
    linearTicker: Json;
    coinInfoRows: Json[];
    /** /v5/execution/list rows (recorded fetchMyTrades "spot trades without symbol", "swap trades without symbol") */
    spotExecution: Json;
    contractExecution: Json;
  };
  binance: {
    spotAccount: Json;
    futuresAccountV2: Json;
    futuresAccountV3: Json;
    futuresAssetV2: Json;
    futuresAssetV3: Json;
    accountPositionV3: Json;
    positionRiskV3: Json;
    /** COIN-M /dapi/v1/account: the reply (recorded for fetchMarginMode), one asset row, one position row */
    deliveryAccount: Json;
    deliveryAsset: Json;
    deliveryAccountPosition: Json;
    /** COIN-M /dapi/v1/positionRisk row (recorded "inverse positions") */
    deliveryPositionRisk: Json;
    spotTicker: Json;
    /** ccxt's parsed leverage brackets: unified symbol -> [notionalFloor, maintMarginRatio][] */
    leverageBrackets: Record<string, Array<[string, string]>>;
    /** /api/v3/myTrades and /fapi/v1/userTrades rows (recorded fetchMyTrades "Spot private trade", "Swap private trade") */
    spotTrade: Json;
    futuresTrade: Json;
    /** /sapi/v1/capital/deposit/hisrec and withdraw/history rows (recorded fetchDeposits, fetchWithdrawals) */
    depositRow: Json;
    withdrawalRow: Json;
  };
  /** okx templates (okx-fixtures.ts); undefined for a fixture folder without okx files */
  okx: OkxFixtures | undefined;
}

export class FixtureError extends Error {
  override name = 'FixtureError';
}

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FixtureError(`fixture: ${what} is not an object`);
  return v as Json;
}

function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new FixtureError(`fixture: ${what} is not a list`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new FixtureError(`fixture: ${what} is not a string`);
  return v;
}

/** A deep copy, so a handler can never edit a template by accident. */
export function clone<T>(v: T): T {
  return structuredClone(v);
}

export function defaultFixturesDir(): string {
  const fromEnv = process.env.EXCHANGE_SYNC_FIXTURES_DIR;
  if (fromEnv) return resolve(fromEnv);
  // Shipped with the package (a copy of ccxt's MIT-licensed test data, see its SOURCE.md), so the
  // emulator runs from any install, not only beside this workspace's shared/ folder.
  // Through the package root: this file runs from src/emulator/ (tsx) or dist/emulator/ (built),
  // and the build copies no JSON into dist/.
  return fileURLToPath(new URL('../../src/emulator/fixtures/ccxt-static/', import.meta.url));
}

function readJson(dir: string, ...parts: string[]): unknown {
  const file = join(dir, ...parts);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new FixtureError(`fixture: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The first row of a recorded reply, without the keys ccxt wrote into it while parsing (it records after parsing). */
function firstRecordedRow(list: unknown, what: string, ccxtKeys: string[]): Json {
  const row = { ...obj(arr(list, what)[0], `${what}[0]`) };
  for (const k of ccxtKeys) delete row[k];
  return row;
}

function methodCase(response: Json, method: string, description: string): Json {
  const methods = obj(response.methods, 'methods');
  const cases = arr(methods[method], `methods.${method}`);
  const found = cases.map((c, i) => obj(c, `${method}[${i}]`)).find((c) => c.description === description);
  if (!found) throw new FixtureError(`fixture: no ${method} case "${description}"`);
  return found;
}

/** A JSON number or string as a plain decimal string (JSON numbers may come as 1e-7). */
function decimalString(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return canonical(v);
  if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
  const text = String(v);
  return canonical(/e/i.test(text) ? v.toFixed(20) : text);
}

function tickOf(exchange: EmulatorExchange, row: Json, symbol: string): string {
  if (exchange === 'okx') return str(row.tickSz, `${symbol} tickSz`);
  if (exchange === 'bybit') return str(obj(row.priceFilter, `${symbol} priceFilter`).tickSize, `${symbol} tickSize`);
  const filters = arr(row.filters, `${symbol} filters`).map((f, i) => obj(f, `${symbol} filters[${i}]`));
  const priceFilter = filters.find((f) => f.filterType === 'PRICE_FILTER');
  if (!priceFilter) throw new FixtureError(`fixture: ${symbol} has no PRICE_FILTER`);
  // binance pads ticks to 8 decimals ("0.01000000"); the meaningful decimals are the tick's own
  return str(priceFilter.tickSize, `${symbol} tickSize`).replace(/(\.\d*?[1-9])0+$/, '$1');
}

function loadMarkets(dir: string, exchange: EmulatorExchange, optional = false): MarketInfo[] {
  if (optional && !existsSync(join(dir, 'markets', `${exchange}.json`))) return [];
  const parsed = obj(readJson(dir, 'markets', `${exchange}.json`), `markets/${exchange}.json`);
  const result: MarketInfo[] = [];
  for (const [symbol, value] of Object.entries(parsed)) {
    const m = obj(value, symbol);
    if (m.info === undefined || m.info === null) continue; // rows recorded without the raw instrument
    const type = m.type;
    let kind: MarketKind | undefined;
    if (type === 'spot') kind = 'spot';
    else if (type === 'swap' && m.linear === true) kind = 'linear';
    else if (type === 'swap' && m.inverse === true) kind = 'inverse';
    if (!kind) continue; // options and dated futures are not emulated
    const row = obj(m.info, `${symbol}.info`);
    result.push({
      exchange,
      symbol,
      id: str(m.id, `${symbol}.id`),
      kind,
      base: str(m.base, `${symbol}.base`),
      quote: str(m.quote, `${symbol}.quote`),
      settle: typeof m.settle === 'string' ? m.settle : undefined,
      tick: tickOf(exchange, row, symbol),
      contractSize: decimalString(m.contractSize) ?? '1',
      row,
    });
  }
  return result;
}

const cache = new Map<string, Fixtures>();

export function loadFixtures(dirOption?: string): Fixtures {
  const dir = resolve(dirOption ?? defaultFixturesDir());
  const cached = cache.get(dir);
  if (cached) return cached;
  if (!existsSync(dir)) {
    throw new FixtureError(
      `emulator fixtures not found at ${dir}: set EXCHANGE_SYNC_FIXTURES_DIR (or startEmulator({fixturesDir})) to the ccxt-static fixture folder`,
    );
  }
  const bybitResponse = obj(readJson(dir, 'response', 'bybit.json'), 'response/bybit.json');
  const binanceResponse = obj(readJson(dir, 'response', 'binance.json'), 'response/binance.json');

  const wallet = obj(methodCase(bybitResponse, 'fetchBalance', 'balance after availableToWithdraw update').httpResponse, 'bybit wallet');
  const walletAccount = obj(arr(obj(wallet.result, 'wallet.result').list, 'wallet list')[0], 'wallet account');
  const coinRow = arr(walletAccount.coin, 'wallet coins')
    .map((c, i) => obj(c, `coin[${i}]`))
    .find((c) => c.coin === 'USDT');
  if (!coinRow) throw new FixtureError('fixture: bybit wallet has no USDT coin row');

  const positions = obj(methodCase(bybitResponse, 'fetchPositions', 'Fetch linear position').httpResponse, 'bybit positions');
  const positionRow = { ...obj(arr(obj(positions.result, 'positions.result').list, 'positions list')[0], 'position row') };
  // ccxt writes the page cursor into the first row after parsing; the exchange does not send it there
  delete positionRow.nextPageCursor;

  const ticker = obj(methodCase(bybitResponse, 'fetchTicker', 'swap ticker').httpResponse, 'bybit ticker');
  const linearTicker = obj(arr(obj(ticker.result, 'ticker.result').list, 'ticker list')[0], 'ticker row');

  const currencies = obj(readJson(dir, 'currencies', 'bybit.json'), 'currencies/bybit.json');
  const coinInfoRows = Object.values(currencies).map((c, i) => obj(obj(c, `currency ${i}`).info, `currency ${i}.info`));

  const spotAccount = obj(methodCase(binanceResponse, 'fetchBalance', 'Spot balance').httpResponse, 'binance spot account');
  const futuresAccountV2 = obj(methodCase(binanceResponse, 'fetchBalance', 'Linear swap balance').httpResponse, 'binance futures v2');
  const futuresAccountV3 = obj(
    methodCase(binanceResponse, 'fetchPositions', 'Fetch linear positions using account endnpoint').httpResponse,
    'binance futures v3',
  );
  const assetV2 = obj(arr(futuresAccountV2.assets, 'v2 assets')[0], 'v2 asset');
  const assetV3 = arr(futuresAccountV3.assets, 'v3 assets')
    .map((a, i) => obj(a, `v3 asset ${i}`))
    .find((a) => a.asset === 'USDT');
  if (!assetV3) throw new FixtureError('fixture: binance v3 account has no USDT asset');
  const accountPositionV3 = obj(arr(futuresAccountV3.positions, 'v3 positions')[0], 'v3 position');
  const risk = arr(methodCase(binanceResponse, 'fetchPositions', 'Fetch linear positions without symbols').httpResponse, 'positionRisk');
  const spotTicker = obj(methodCase(binanceResponse, 'fetchTicker', 'public spot ticker').httpResponse, 'binance ticker');
  const deliveryAccount = obj(methodCase(binanceResponse, 'fetchMarginMode', 'inverse swap fetch margin mode').httpResponse, 'binance dapi account');
  const deliveryAsset = obj(arr(deliveryAccount.assets, 'dapi assets')[0], 'dapi asset');
  const deliveryAccountPosition = arr(deliveryAccount.positions, 'dapi positions')
    .map((p, i) => obj(p, `dapi position ${i}`))
    .find((p) => p.symbol === 'BTCUSD_PERP');
  if (!deliveryAccountPosition) throw new FixtureError('fixture: binance dapi account has no BTCUSD_PERP position row');
  const deliveryRisk = arr(methodCase(binanceResponse, 'fetchPositions', 'inverse positions').httpResponse, 'dapi positionRisk');

  const brackets: Record<string, Array<[string, string]>> = {};
  const options = obj(binanceResponse.options, 'binance options');
  for (const [symbol, list] of Object.entries(obj(options.leverageBrackets, 'leverageBrackets'))) {
    brackets[symbol] = arr(list, symbol).map((b) => {
      const pair = arr(b, symbol);
      return [str(pair[0], symbol), str(pair[1], symbol)];
    });
  }

  const bybitTrades = (description: string): Json =>
    firstRecordedRow(
      obj(obj(methodCase(bybitResponse, 'fetchMyTrades', description).httpResponse, `bybit ${description}`).result, `bybit ${description} result`).list,
      `bybit ${description} list`,
      ['nextPageCursor'],
    );
  const binanceRow = (method: string, description: string): Json =>
    // ccxt adds `type` to deposit and withdrawal rows before the recording was written; binance does not send it
    firstRecordedRow(methodCase(binanceResponse, method, description).httpResponse, `binance ${method} ${description}`, method === 'fetchMyTrades' ? [] : ['type']);

  const fixtures: Fixtures = {
    dir,
    // okx is optional: its market list ships with the okx module (markets/okx.json)
    markets: { bybit: loadMarkets(dir, 'bybit'), binance: loadMarkets(dir, 'binance'), okx: loadMarkets(dir, 'okx', true) },
    bybit: {
      walletBalance: wallet,
      coinRow,
      positionRow,
      linearTicker,
      coinInfoRows,
      spotExecution: bybitTrades('spot trades without symbol'),
      contractExecution: bybitTrades('swap trades without symbol'),
    },
    binance: {
      spotAccount,
      futuresAccountV2,
      futuresAccountV3,
      futuresAssetV2: assetV2,
      futuresAssetV3: assetV3,
      accountPositionV3,
      positionRiskV3: obj(risk[0], 'positionRisk row'),
      deliveryAccount,
      deliveryAsset,
      deliveryAccountPosition,
      deliveryPositionRisk: obj(deliveryRisk[0], 'dapi positionRisk row'),
      spotTicker,
      leverageBrackets: brackets,
      spotTrade: binanceRow('fetchMyTrades', 'Spot private trade'),
      futuresTrade: binanceRow('fetchMyTrades', 'Swap private trade'),
      depositRow: binanceRow('fetchDeposits', 'fetchDeposits'),
      withdrawalRow: binanceRow('fetchWithdrawals', 'fetchWithdrawals'),
    },
    okx: loadOkxFixtures(dir),
  };
  cache.set(dir, fixtures);
  return fixtures;
}
