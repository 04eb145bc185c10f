// ccxt instances, built with the settings that make a read-only balance sync cheap and exact.
// They carry no credentials when built: pool.ts lends them to one account's snapshot at a time.
import type { Exchange } from 'ccxt';
import type { Account } from '../config.js';
import { errors, loadedExchange } from './ccxt-modules.js';
import { rewriteApiUrls } from './urls.js';

/** A ccxt exchange plus the two things we add: strict JSON replies and a request counter. */
export interface Instance extends Exchange {
  /** HTTP requests this instance has sent (every attempt, every endpoint). */
  requestCount: number;
}

type Ctor = new (config?: Record<string, unknown>) => Instance;
type Dict = Record<string, unknown>;

// Exchanges whose every REST endpoint answers a JSON object or array. For them a 2xx body that
// is not JSON is a broken reply; ccxt would otherwise hand the raw text to the parser, which
// reads it as "no balances" and a garbled reply would look like an emptied account.
const STRICT_JSON = new Set(['bybit', 'binance']);

/** Preset options per exchange; account.options override them key by key. */
export function tunedOptions(exchangeId: string): Dict {
  switch (exchangeId) {
    case 'bybit':
      return {
        // instruments-info for spot, linear and inverse: options (one request per coin) are not
        // synced, so not loaded.
        fetchMarkets: { types: ['spot', 'linear', 'inverse'] },
        // Unknown flags make every balance call probe user/query-api and account/info first,
        // and query-api needs key permissions a read-only key lacks. Classic (non-UTA)
        // accounts set enableUnifiedAccount=false in their account options.
        enableUnifiedAccount: true,
        enableUnifiedMargin: false,
      };
    case 'binance':
      return {
        // Spot, USD-M and COIN-M; options (eapi) are not synced.
        fetchMarkets: { types: ['spot', 'linear', 'inverse'] },
        // Margin pair lists (two signed sapi calls) and the currency list only annotate markets.
        fetchMargins: false,
        fetchCurrencies: false,
        // positionRisk otherwise first loads the leverage-bracket table per account (a signed
        // call and ~200 symbols of brackets kept per instance) just to derive maintenance
        // margin, which a snapshot does not carry.
        leverageBrackets: {},
      };
    case 'okx':
      // Every instType but options: okx lists options per underlying, thousands of rows that a
      // snapshot only needs for accounts holding options (set fetchMarkets in their options).
      return { fetchMarkets: { types: ['spot', 'swap', 'future'] } };
    default:
      return {};
  }
}

function isPlainObject(v: unknown): v is Dict {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

export function deepMerge(base: Dict, over: Dict): Dict {
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const cur = out[k];
    out[k] = isPlainObject(cur) && isPlainObject(v) ? deepMerge(cur, v) : v;
  }
  return out;
}

const classes = new Map<string, Ctor>();

function hardenedClass(exchangeId: string): Ctor {
  const cached = classes.get(exchangeId);
  if (cached) return cached;
  const Base = loadedExchange(exchangeId);
  const strict = STRICT_JSON.has(exchangeId);
  const { BadResponse, NullResponse } = errors;
  const Parent = Base as unknown as new (config?: Dict) => Exchange;
  class Hardened extends Parent {
    requestCount = 0;

    override async fetch(url: string, method?: string, headers?: unknown, body?: unknown): Promise<unknown> {
      this.requestCount++;
      return super.fetch(url, method, headers, body);
    }

    override handleErrors(
      status: number,
      statusText: string,
      url: string,
      method: string,
      responseHeaders: Dict,
      responseBody: string,
      response: unknown,
      requestHeaders: unknown,
      requestBody: unknown,
    ): undefined {
      if (strict && status >= 200 && status < 300 && (response === undefined || response === null)) {
        // Only path and size: the URL's query string carries the signature.
        const path = url.split('?')[0]?.replace(/^[a-z]+:\/\/[^/]+/i, '') ?? '';
        const what = responseBody.trim() === '' ? 'an empty body' : `a body that is not JSON (${responseBody.length} bytes)`;
        const Err = responseBody.trim() === '' ? NullResponse : BadResponse;
        throw new Err(`${this.id} ${method} ${path} answered HTTP ${status} with ${what}`);
      }
      return super.handleErrors(status, statusText, url, method, responseHeaders, responseBody, response, requestHeaders, requestBody);
    }
  }
  const ctor = Hardened as unknown as Ctor;
  classes.set(exchangeId, ctor);
  return ctor;
}

export interface InstanceSettings {
  timeoutMs: number;
}

type Endpoint = Pick<Account, 'exchange' | 'testnet' | 'apiUrl'>;

/**
 * A configured instance. `credentials` is omitted for the shared market loader, which only
 * calls public endpoints and so never holds anyone's key.
 */
export function createInstance(endpoint: Endpoint, options: Dict, settings: InstanceSettings, credentials?: Pick<Account, 'apiKey' | 'secret' | 'password'>): Instance {
  const Ctor = hardenedClass(endpoint.exchange);
  const config: Dict = {
    enableRateLimit: true,
    timeout: settings.timeoutMs,
    // Amounts as the exchange's own decimal strings; a float has already lost digits.
    number: String,
    // Currency lists cost 1-3 extra (often signed) requests per market load and are not used.
    has: { fetchCurrencies: false },
    options: deepMerge(tunedOptions(endpoint.exchange), options),
  };
  if (credentials?.apiKey !== undefined) config.apiKey = credentials.apiKey;
  if (credentials?.secret !== undefined) config.secret = credentials.secret;
  if (credentials?.password !== undefined) config.password = credentials.password;
  const inst = new Ctor(config);
  if (endpoint.apiUrl) {
    inst.urls.api = rewriteApiUrls(inst.urls.api, endpoint.apiUrl);
  } else if (endpoint.testnet) {
    if (endpoint.exchange === 'binance') inst.options.disableFuturesSandboxWarning = true;
    inst.setSandboxMode(true);
  }
  return inst;
}

/** Identity of the endpoint set an account talks to: accounts with equal keys share markets. */
export function endpointKey(endpoint: Endpoint): string {
  const where = endpoint.apiUrl ? endpoint.apiUrl.replace(/\/+$/, '') : endpoint.testnet ? 'testnet' : 'live';
  return `${endpoint.exchange}|${where}`;
}
