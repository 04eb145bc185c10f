// The history channels of an account: the sequences its exchange pages through, each with the
// longest time window the exchange allows per request, and how to fetch one window whole.
import type { Snapshot } from '../../events/catalog.js';
import { MalformedReplyError } from '../errors.js';
import type { Instance } from '../instances.js';
import { dict, list, raw, type Dict } from '../plans/plan.js';

const DAY = 24 * 60 * 60 * 1000;

export interface Channel {
  key: string;
  kind: 'trades' | 'transfers';
  /** The longest window the exchange answers in one query. */
  windowMs: number;
  /** Every item whose time is in [start, end), as ccxt structures. */
  fetch(inst: Instance, start: number, end: number): Promise<Dict[]>;
}

/** A page this many times over in one window means a cursor that loops. */
const MAX_PAGES = 200;

function within(items: Dict[], start: number, end: number): Dict[] {
  for (const i of items) {
    if (typeof i.timestamp !== 'number' || !Number.isFinite(i.timestamp)) throw new MalformedReplyError(`history row ${String(i.id)} has no timestamp`);
  }
  return items.filter((i) => (i.timestamp as number) >= start && (i.timestamp as number) < end);
}

/** bybit: one window, every cursor page. */
async function bybitPages(inst: Instance, method: string, params: Dict & { limit: number }, rowsKey: 'list' | 'rows'): Promise<Dict[]> {
  const rows: Dict[] = [];
  let cursor: string | undefined;
  const seen = new Set<string>();
  for (let page = 0; page < MAX_PAGES; page++) {
    const reply = await raw(inst, method, cursor ? { ...params, cursor } : params);
    const result = dict(reply.result, `bybit ${method} result`);
    const batch = list(result[rowsKey], `bybit ${method} ${rowsKey}`) as Dict[];
    rows.push(...batch);
    const next = typeof result.nextPageCursor === 'string' ? result.nextPageCursor : '';
    // bybit sends a cursor on the last page too: a short page is the last.
    if (next === '' || batch.length < params.limit) return rows;
    if (seen.has(next)) throw new MalformedReplyError(`bybit ${method}: cursor ${next} came back twice`);
    seen.add(next);
    cursor = next;
  }
  throw new MalformedReplyError(`bybit ${method}: more than ${MAX_PAGES} pages in one window`);
}

function bybitChannels(): Channel[] {
  const trades = (category: string): Channel => ({
    key: `trades:${category}`,
    kind: 'trades',
    // 7 days less a second: bybit refuses a window over 7 days, and the end is asked inclusive.
    windowMs: 7 * DAY - 1000,
    async fetch(inst, start, end) {
      const rows = await bybitPages(inst, 'privateGetV5ExecutionList', { category, startTime: start, endTime: end, limit: 100 }, 'list');
      // Every execution that changes a holding (trades, liquidations, ADL, delivery, block trades,
      // moved positions), not the funding and settlement rows. The rows do not say their category,
      // which ccxt needs to tell linear BTCUSDT from spot BTCUSDT.
      const fills = rows.filter((r) => r.execType !== 'Funding' && r.execType !== 'Settle').map((r) => ({ category, ...r }));
      return within(inst.parseTrades(fills) as unknown as Dict[], start, end);
    },
  });
  const transfers = (key: 'deposits' | 'withdrawals', method: string): Channel => ({
    key,
    kind: 'transfers',
    windowMs: 30 * DAY - 1000,
    async fetch(inst, start, end) {
      const rows = await bybitPages(inst, method, { startTime: start, endTime: end, limit: 50 }, 'rows');
      return within(inst.parseTransactions(rows) as unknown as Dict[], start, end);
    },
  });
  return [
    trades('spot'),
    trades('linear'),
    trades('inverse'),
    transfers('deposits', 'privateGetV5AssetDepositQueryRecord'),
    transfers('withdrawals', 'privateGetV5AssetWithdrawQueryRecord'),
  ];
}

type Unified = (inst: Instance, since: number, limit: number, until: number) => Promise<unknown[]>;

/**
 * One window through a unified ccxt method that takes since, limit and an `until` param. A window
 * that comes back full is split in two and each half asked again, so no page is ever cut short.
 */
function unifiedChannel(key: string, kind: Channel['kind'], windowMs: number, limit: number, call: Unified): Channel {
  const range = async (inst: Instance, start: number, end: number, depth: number): Promise<Dict[]> => {
    // The end asked inclusive, what is past it trimmed: an exchange whose end is exclusive, or in
    // seconds, still answers everything before `end`.
    const got = (await call(inst, start, limit, end)) as Dict[];
    if (got.length < limit) return within(got, start, end);
    // More than a page in one second cannot be split further: fail rather than lose the rest
    // (paging by id within a window is not done yet).
    if (end - start <= 1000 || depth > 40) throw new MalformedReplyError(`${inst.id} ${key}: ${limit} or more items within ${end - start} ms; cannot page them yet`);
    const mid = start + Math.floor((end - start) / 2);
    return [...(await range(inst, start, mid, depth + 1)), ...(await range(inst, mid, end, depth + 1))];
  };
  return { key, kind, windowMs, fetch: (inst, start, end) => range(inst, start, end, 0) };
}

/** Deposits and withdrawals through ccxt's unified methods, every currency at once. */
function transferChannels(windowMs: number, limit: number): Channel[] {
  return [
    unifiedChannel('deposits', 'transfers', windowMs, limit, (i, since, l, until) => i.fetchDeposits(undefined, since, l, { until })),
    unifiedChannel('withdrawals', 'transfers', windowMs, limit, (i, since, l, until) => i.fetchWithdrawals(undefined, since, l, { until })),
  ];
}

/** Quote currencies whose markets against a held asset are searched for its fills. */
const QUOTES = ['USDT', 'USDC', 'FDUSD', 'BTC', 'ETH', 'BNB'];

/** Spot symbols of the assets held in any wallet, and the symbols of open positions. */
function tradedSymbols(inst: Instance, snapshot: Snapshot): { spot: string[]; contracts: string[] } {
  const spot = new Set<string>();
  for (const asset of new Set(snapshot.balances.map((b) => b.asset))) {
    for (const q of QUOTES) {
      const symbol = `${asset}/${q}`;
      if (asset !== q && (inst.markets?.[symbol] as { spot?: boolean } | undefined)?.spot) spot.add(symbol);
    }
  }
  return { spot: [...spot].sort(), contracts: [...new Set(snapshot.positions.map((p) => p.symbol))].sort() };
}

function binanceChannels(inst: Instance, snapshot: Snapshot, known: string[]): Channel[] {
  const symbolOf = (key: string) => key.slice('trades:'.length);
  const { spot, contracts } = tradedSymbols(inst, snapshot);
  // A symbol once fetched stays a channel (its key is in the log's coverage), so fills of an asset
  // sold to zero since are still looked for.
  const symbols = new Set([...spot, ...contracts, ...known.filter((k) => k.startsWith('trades:')).map(symbolOf)]);
  const channels: Channel[] = [...symbols].sort().map((symbol) =>
    unifiedChannel(`trades:${symbol}`, 'trades', symbol.includes(':') ? 7 * DAY : DAY, 1000, (i, since, limit, until) => i.fetchMyTrades(symbol, since, limit, { until })),
  );
  return [...channels, ...transferChannels(90 * DAY, 1000)];
}

/** Any other exchange: what ccxt's `has` says it can list, a day at a time. */
function genericChannels(inst: Instance): Channel[] {
  const channels: Channel[] = [];
  const limit = 100;
  if (inst.has.fetchMyTrades === true) channels.push(unifiedChannel('trades', 'trades', 7 * DAY, limit, (i, since, l, until) => i.fetchMyTrades(undefined, since, l, { until })));
  const [deposits, withdrawals] = transferChannels(30 * DAY, limit);
  if (inst.has.fetchDeposits === true) channels.push(deposits!);
  if (inst.has.fetchWithdrawals === true) channels.push(withdrawals!);
  return channels;
}

/** okx: fills-history needs an instType per call; deposits and withdrawals list every currency. */
function okxChannels(): Channel[] {
  const trades = (instType: string): Channel =>
    unifiedChannel(`trades:${instType.toLowerCase()}`, 'trades', 7 * DAY, 100, (i, since, limit, until) => i.fetchMyTrades(undefined, since, limit, { until, instType }));
  return [
    trades('SPOT'),
    trades('SWAP'),
    trades('FUTURES'),
    ...transferChannels(30 * DAY, 100),
  ];
}

/** The channels to fetch for this account now; `known` are the channel keys already in its coverage. */
export function channelsFor(inst: Instance, snapshot: Snapshot, known: string[]): Channel[] {
  switch (inst.id) {
    case 'bybit':
      return bybitChannels();
    case 'binance':
      return binanceChannels(inst, snapshot, known);
    case 'okx':
      return okxChannels();
    default:
      return genericChannels(inst);
  }
}
