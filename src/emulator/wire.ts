// The contract between the HTTP server and an exchange module: the server parses the request
// and applies faults; the module decides the exchange's answer, in that exchange's dialect.
import type { IncomingHttpHeaders } from 'node:http';
import type { EmulatorState } from './state.js';
import type { EmulatorExchange } from './types.js';

export interface ExchangeRequest {
  method: string;
  path: string;
  /** query string exactly as sent (no leading "?"): signatures are computed over it */
  rawQuery: string;
  query: URLSearchParams;
  /** the request body exactly as sent ('' when none): binance signs POST parameters sent in it */
  body: string;
  headers: IncomingHttpHeaders;
  /** the exchange's clock for this request, ms (includes any clock_skew fault) */
  now: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** JSON-serialised unless it is already a string */
  body: unknown;
}

export interface ExchangeModule {
  exchange: EmulatorExchange;
  /** Whether a path belongs to this exchange (bybit: /v5/..., binance: /api, /fapi, /sapi, ...). */
  owns(path: string): boolean;
  /** The API key a request carries, for counting and fault matching (undefined on public calls). */
  apiKeyOf(headers: IncomingHttpHeaders): string | undefined;
  handle(req: ExchangeRequest, state: EmulatorState): Reply;
  rateLimited(req: ExchangeRequest): Reply;
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** What a load balancer in front of an exchange sends when the backend is down. */
export function gatewayError(status: number): Reply {
  const reason: Record<number, string> = {
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Temporarily Unavailable',
    504: 'Gateway Time-out',
  };
  const title = `${status} ${reason[status] ?? 'Server Error'}`;
  return {
    status,
    headers: { 'content-type': 'text/html' },
    body: `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`,
  };
}

export function notFound(req: ExchangeRequest, exchange: string): Reply {
  return {
    status: 404,
    headers: { 'content-type': 'text/plain' },
    body: `emulator: ${exchange} has no endpoint ${req.method} ${req.path} (see docs/emulator.md for the endpoints served)`,
  };
}
