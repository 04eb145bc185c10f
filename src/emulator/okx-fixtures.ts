// The recorded OKX v5 rows the okx module copies (ccxt's own static test data, see
// fixtures/ccxt-static/SOURCE.md): instruments per instType from markets/okx.json, and from
// response/okx.json the trading-account balance reply with one currency row, a funding-account
// row, position rows (linear swap, inverse swap cross and isolated), a ticker row, the account
// configuration and the server time. A missing piece is a FixtureError naming it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FixtureError, type Json } from './fixtures.js';

export type OkxInstType = 'SPOT' | 'SWAP' | 'FUTURES' | 'OPTION';
export const OKX_INST_TYPES: readonly OkxInstType[] = ['SPOT', 'SWAP', 'FUTURES', 'OPTION'];

export interface OkxFixtures {
  /**
   * Every recorded instrument row (markets/okx.json `info`), per instType. SPOT and SWAP rows are
   * also the emulator's markets (state.markets('okx')); the recording has no FUTURES row and one
   * OPTION row (BTC-USD-241227-60000-P).
   */
  instruments: Record<OkxInstType, Json[]>;
  /** GET /api/v5/account/balance reply (the trading account; recorded "spot balance", no params). */
  balanceReply: Json;
  /** One `details` row of it (BTC), every value overwritten per currency. */
  balanceDetail: Json;
  /** GET /api/v5/asset/balances row (the funding account). */
  fundingRow: Json;
  /** GET /api/v5/account/positions rows: linear swap (LTC-USDT-SWAP), inverse swap cross and isolated (BTC-USD-SWAP). */
  positionRows: { linear: Json; inverseCross: Json; inverseIsolated: Json };
  /** GET /api/v5/market/ticker(s) row (recorded BTC-USDT spot ticker). */
  ticker: Json;
  /** GET /api/v5/account/config row (recorded for fetchAccounts). */
  accountConfig: Json;
  /** GET /api/v5/trade/fills-history row (recorded fetchMyTrades "Fetch spot trade"). */
  fillRow: Json;
}

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FixtureError(`fixture: okx ${what} is not an object`);
  return v as Json;
}

function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new FixtureError(`fixture: okx ${what} is not a list`);
  return v;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new FixtureError(`fixture: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The httpResponse of the recorded `method` case with that description. */
function recorded(response: Json, method: string, description: string): Json {
  const cases = arr(obj(response.methods, 'methods')[method], `methods.${method}`);
  const found = cases.map((c, i) => obj(c, `${method}[${i}]`)).find((c) => c.description === description);
  if (!found) throw new FixtureError(`fixture: okx has no ${method} case "${description}"`);
  return obj(found.httpResponse, `${method} "${description}" httpResponse`);
}

/** `data[0]` of an okx reply, checked to be of the instrument (or currency) expected. */
function firstRow(reply: Json, what: string, expect?: Record<string, string>): Json {
  const row = obj(arr(reply.data, `${what} data`)[0], `${what} data[0]`);
  for (const [k, v] of Object.entries(expect ?? {})) {
    if (row[k] !== v) throw new FixtureError(`fixture: okx ${what} has ${k} ${JSON.stringify(row[k])}, expected "${v}"`);
  }
  return row;
}

/**
 * Loads the okx templates from a ccxt-static folder; undefined when the folder has no okx files at
 * all (a copy made before the okx module), a FixtureError when one of them is missing or lacks a row.
 */
export function loadOkxFixtures(dir: string): OkxFixtures | undefined {
  const marketsFile = join(dir, 'markets', 'okx.json');
  const responseFile = join(dir, 'response', 'okx.json');
  const hasMarkets = existsSync(marketsFile);
  const hasResponse = existsSync(responseFile);
  if (!hasMarkets && !hasResponse) return undefined;
  if (!hasMarkets || !hasResponse) {
    throw new FixtureError(`fixture: okx needs both ${marketsFile} and ${responseFile} (found only ${hasMarkets ? marketsFile : responseFile})`);
  }

  const instruments: Record<OkxInstType, Json[]> = { SPOT: [], SWAP: [], FUTURES: [], OPTION: [] };
  for (const [symbol, value] of Object.entries(obj(readJson(marketsFile), 'markets/okx.json'))) {
    const info = obj(value, symbol).info;
    if (info === undefined || info === null) continue; // a market recorded without the raw row
    const row = obj(info, `${symbol}.info`);
    const instType = row.instType;
    if (typeof instType !== 'string' || !(OKX_INST_TYPES as readonly string[]).includes(instType)) {
      throw new FixtureError(`fixture: okx market ${symbol} has instType ${JSON.stringify(instType)}`);
    }
    instruments[instType as OkxInstType].push(row);
  }
  for (const t of ['SPOT', 'SWAP'] as const) {
    if (instruments[t].length === 0) throw new FixtureError(`fixture: markets/okx.json has no ${t} instrument with info`);
  }

  const response = obj(readJson(responseFile), 'response/okx.json');
  const balanceReply = recorded(response, 'fetchBalance', 'spot balance');
  const balanceAccount = firstRow(balanceReply, 'account balance');
  const balanceDetail = arr(balanceAccount.details, 'account balance details')
    .map((d, i) => obj(d, `details[${i}]`))
    .find((d) => d.ccy === 'BTC');
  if (!balanceDetail) throw new FixtureError('fixture: okx account balance has no BTC details row');
  const fundingRow = firstRow(recorded(response, 'fetchBalance', 'funding balance'), 'funding balance');

  const positionRows = {
    linear: firstRow(recorded(response, 'fetchPosition', 'fetch position'), 'linear position', { instType: 'SWAP', instId: 'LTC-USDT-SWAP' }),
    inverseCross: firstRow(recorded(response, 'fetchPosition', 'Inverse swap cross fetch position'), 'inverse cross position', {
      instId: 'BTC-USD-SWAP',
      mgnMode: 'cross',
    }),
    inverseIsolated: firstRow(recorded(response, 'fetchPosition', 'Inverse swap isolated fetch position'), 'inverse isolated position', {
      instId: 'BTC-USD-SWAP',
      mgnMode: 'isolated',
    }),
  };
  const ticker = firstRow(recorded(response, 'fetchTicker', 'public spot ticker'), 'ticker', { instType: 'SPOT' });
  const accountConfig = firstRow(recorded(response, 'fetchAccounts', 'Fetch accounts'), 'account config');
  const fillRow = firstRow(recorded(response, 'fetchMyTrades', 'Fetch spot trade'), 'fill', { instType: 'SPOT' });

  return { instruments, balanceReply, balanceDetail, fundingRow, positionRows, ticker, accountConfig, fillRow };
}
