// The daemon's HTTP API for dashboards that called the old module (GET /portfolio, POST
// /portfolio/reload): GET /v1/portfolio and POST /v1/sync, the same answers as NATS cmd.portfolio
// and cmd.sync. Both start work or show money, so both want the bearer token; without one
// configured they are off, and say how to turn them on.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answerPortfolio, CommandError, MAX_COMMAND_BYTES, parsePortfolioQuery, parseSyncCommand, type CommandHandlers } from './commands.js';

export type ApiHandlers = Pick<CommandHandlers, 'sync' | 'portfolio'>;

export interface ApiOptions {
  /** EXCHANGE_SYNC_HTTP_TOKEN; the routes are off without it. */
  token?: string;
  handlers: ApiHandlers;
}

type Send = (res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>) => void;

export const API_ROUTES: Record<string, 'GET' | 'POST'> = { '/v1/portfolio': 'GET', '/v1/sync': 'POST' };

// Digests first: timingSafeEqual needs equal lengths, and comparing digests leaks neither the
// token's length nor where a guess first differs.
const digest = (s: string) => createHash('sha256').update(s).digest();

function authorized(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  const given = m ? m[1]!.trim() : '';
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_COMMAND_BYTES) throw new CommandError(400, `body is over ${MAX_COMMAND_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new CommandError(400, 'body is not valid JSON');
  }
}

/** The query string as a portfolio query: only `at` and `account`, each once. */
function portfolioParams(url: URL): unknown {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (k in out) throw new CommandError(400, `query parameter ${k} is given twice`);
    out[k] = v;
  }
  return out;
}

export async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, opts: ApiOptions, send: Send): Promise<void> {
  const method = API_ROUTES[url.pathname]!;
  if (req.method !== method) return send(res, 405, { error: `method ${req.method} not allowed` }, { Allow: method });
  if (opts.token === undefined) {
    return send(res, 403, { error: `${method} ${url.pathname} is off: set EXCHANGE_SYNC_HTTP_TOKEN on the daemon to turn it on` });
  }
  if (!authorized(req, opts.token)) return send(res, 401, { error: 'a valid bearer token is required (Authorization: Bearer <EXCHANGE_SYNC_HTTP_TOKEN>)' }, { 'WWW-Authenticate': 'Bearer' });
  try {
    if (url.pathname === '/v1/portfolio') return send(res, 200, await answerPortfolio(opts.handlers, parsePortfolioQuery(portfolioParams(url))));
    const cmd = parseSyncCommand(await readBody(req));
    const reply = await opts.handlers.sync(cmd);
    return send(res, cmd.wait ? 200 : 202, reply);
  } catch (err) {
    if (err instanceof CommandError) return send(res, err.code, { error: err.message, code: err.code });
    throw err;
  }
}
