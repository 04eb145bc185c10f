// The control API under /_emulator/: JSON in and out, for tests in other processes, the demo and
// curl. Every body is validated; a bad one gets 400 and a message naming the field.
import type { RequestCounter } from './counts.js';
import type { FaultRegistry } from './faults.js';
import { describeIssues, ExchangeSchema, FreezeSchema, SetPricesSchema, TransferStatusInputSchema } from './schemas.js';
import type { EmulatorState } from './state.js';
import { EmulatorInputError, EXCHANGES, type EmulatorExchange } from './types.js';
import type { Reply } from './wire.js';

export interface Core {
  state: EmulatorState;
  faults: FaultRegistry;
  counter: RequestCounter;
}

export const CONTROL_PREFIX = '/_emulator/';

function ok(body: unknown, status = 200): Reply {
  return { status, headers: { 'content-type': 'application/json' }, body };
}

function bad(message: string, status = 400): Reply {
  return ok({ error: message }, status);
}

function parseBody(raw: string): unknown {
  if (raw.trim() === '') throw new EmulatorInputError('a JSON body is required');
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw new EmulatorInputError(`body is not valid JSON: ${(err as Error).message}`);
  }
}

function exchangeParam(value: string | undefined): EmulatorExchange {
  const parsed = ExchangeSchema.safeParse(value);
  if (!parsed.success) throw new EmulatorInputError(`unknown exchange "${value}" (expected ${EXCHANGES.join(' or ')})`);
  return parsed.data;
}

function snapshot(core: Core): unknown {
  const { state } = core;
  return {
    frozen: state.prices.bybit.isFrozen(),
    exchanges: Object.fromEntries(
      EXCHANGES.map((ex) => [
        ex,
        {
          prices: Object.fromEntries(state.markets(ex).map((m) => [m.symbol, state.price(ex, m.symbol)])),
          accounts: state
            .listAccounts()
            .filter((a) => a.exchange === ex)
            .map((a) => state.view(ex, a.apiKey)),
        },
      ]),
    ),
    faults: core.faults.list(),
    requests: core.counter.list(),
  };
}

function route(core: Core, method: string, path: string, query: URLSearchParams, rawBody: string): Reply {
  const rest = path.slice(CONTROL_PREFIX.length).split('/').map(decodeURIComponent);
  const [resource = '', ...args] = rest;
  switch (`${method} ${resource}`) {
    case 'GET state':
      return ok(snapshot(core));
    case 'PUT accounts': {
      const account = core.state.setAccount(parseBody(rawBody));
      return ok(core.state.view(account.exchange, account.apiKey));
    }
    case 'GET accounts': {
      if (args.length === 3 && args[2] === 'trades') return ok(core.state.fillViews(exchangeParam(args[0]), args[1] ?? ''));
      if (args.length === 3 && args[2] === 'transfers') return ok(core.state.transferViews(exchangeParam(args[0]), args[1] ?? ''));
      if (args.length !== 2) return bad('use GET /_emulator/accounts/<exchange>/<apiKey>[/trades|/transfers]', 404);
      return ok(core.state.view(exchangeParam(args[0]), args[1] ?? ''));
    }
    case 'POST accounts':
      return accountAction(core, args, rawBody);
    case 'DELETE accounts': {
      if (args.length !== 2) return bad('use DELETE /_emulator/accounts/<exchange>/<apiKey>', 404);
      const removed = core.state.removeAccount(exchangeParam(args[0]), args[1] ?? '');
      return removed ? ok({ removed: true }) : bad(`no ${args[0]} account with API key "${args[1]}"`, 404);
    }
    case 'GET faults':
      return ok(core.faults.list());
    case 'POST faults':
      return ok(core.faults.add(parseBody(rawBody)), 201);
    case 'DELETE faults':
      return ok({ cleared: core.faults.clear() });
    case 'POST prices': {
      const parsed = SetPricesSchema.safeParse(parseBody(rawBody));
      if (!parsed.success) {
        return bad(`invalid prices: expected {"exchange","symbol","price"} or {"exchange","prices":{symbol: price}}: ${describeIssues(parsed.error)}`);
      }
      const body = parsed.data;
      const prices = 'prices' in body ? body.prices : { [body.symbol]: body.price };
      for (const [symbol, price] of Object.entries(prices)) core.state.prices[body.exchange].set(symbol, price);
      return ok(Object.fromEntries(Object.keys(prices).map((s) => [s, core.state.price(body.exchange, s)])));
    }
    case 'POST freeze': {
      const parsed = FreezeSchema.safeParse(parseBody(rawBody));
      if (!parsed.success) return bad(`invalid freeze: ${describeIssues(parsed.error)}`);
      for (const ex of EXCHANGES) core.state.prices[ex].freeze(parsed.data.frozen);
      return ok({ frozen: parsed.data.frozen });
    }
    case 'GET requests': {
      const exchange = query.get('exchange');
      const filter = {
        exchange: exchange === null ? undefined : exchangeParam(exchange),
        path: query.get('path') ?? undefined,
        apiKey: query.get('apiKey') ?? undefined,
      };
      return ok({ count: core.counter.count(filter), rows: core.counter.list(filter) });
    }
    case 'POST reset-counts':
      core.counter.reset();
      return ok({ reset: true });
    default:
      return bad(`no control endpoint ${method} ${path} (see docs/emulator.md)`, 404);
  }
}

/** POST /_emulator/accounts/<exchange>/<apiKey>/trades | deposits | withdrawals | transfers/<id>/status */
function accountAction(core: Core, args: string[], rawBody: string): Reply {
  const [exchangeArg, apiKey = '', action, id, tail] = args;
  const exchange = exchangeParam(exchangeArg);
  const { state } = core;
  if (args.length === 3 && action === 'trades') return ok(state.trade(exchange, apiKey, parseBody(rawBody)), 201);
  if (args.length === 3 && action === 'deposits') return ok(state.deposit(exchange, apiKey, parseBody(rawBody)), 201);
  if (args.length === 3 && action === 'withdrawals') return ok(state.withdraw(exchange, apiKey, parseBody(rawBody)), 201);
  if (args.length === 5 && action === 'transfers' && tail === 'status') {
    const parsed = TransferStatusInputSchema.safeParse(parseBody(rawBody));
    if (!parsed.success) return bad(`invalid status: expected {"status": "pending" | "ok" | "failed"}: ${describeIssues(parsed.error)}`);
    return ok(state.setTransferStatus(exchange, apiKey, id ?? '', parsed.data.status));
  }
  return bad('use POST /_emulator/accounts/<exchange>/<apiKey>/trades | /deposits | /withdrawals | /transfers/<id>/status', 404);
}

export function handleControl(core: Core, method: string, path: string, query: URLSearchParams, rawBody: string): Reply {
  try {
    return route(core, method, path, query, rawBody);
  } catch (err) {
    if (err instanceof EmulatorInputError) return bad(err.message);
    throw err;
  }
}
