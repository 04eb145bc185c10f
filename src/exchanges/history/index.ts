// One sync's history fetch: for every channel, first what is new since the log's coverage (one
// request per channel when synced often), then backfill towards `since`, at most `maxWindows`
// windows, so a long backfill spreads over several syncs and never holds a snapshot up for long. What is recorded already (coverage.ts) is
// left out, so each fill and transfer reaches the log once.
import type { ChannelState, Coverage, Snapshot, Trade, Transfer, TransferStatus } from '../../events/catalog.js';
import type { Instance } from '../instances.js';
import { channelsFor, type Channel } from './channels.js';
import { advance, freshState, OVERLAP_MS, PENDING_MS, TRANSFER_OVERLAP_MS, unseen, windowsFor, type Window } from './coverage.js';
import { classify } from '../errors.js';
import { scrub } from '../scrub.js';
import { mapTrade, mapTransfer } from './map.js';

export { coverageOf } from './coverage.js';
export { OVERLAP_MS };

export interface HistoryState {
  trades: Coverage;
  transfers: Coverage;
}

export type RecordedTransfer = Transfer & { previousStatus: TransferStatus | null };

export interface HistoryResult {
  trades: Trade[];
  transfers: RecordedTransfer[];
  /** Every channel's state after this fetch. */
  coverage: HistoryState;
  /** Windows fetched (requests, but for extra pages). */
  windows: number;
  /** Channels that failed this time: their coverage stays where it was, the others went on. */
  failed: Array<{ channel: string; errorClass: ReturnType<typeof classify>['errorClass']; message: string }>;
}

export interface HistoryOptions {
  now: number;
  /** Backfill reaches back to here (ms). */
  since: number;
  /** Backfill windows per sync (the forward ones, what is new, are always fetched first). */
  maxWindows: number;
}

export async function fetchHistory(inst: Instance, snapshot: Snapshot, prior: HistoryState, opts: HistoryOptions): Promise<HistoryResult> {
  const known = [...Object.keys(prior.trades), ...Object.keys(prior.transfers)];
  const channels = channelsFor(inst, snapshot, known);
  const states = new Map<Channel, ChannelState>();
  for (const ch of channels) states.set(ch, (ch.kind === 'trades' ? prior.trades : prior.transfers)[ch.key] ?? freshState(opts.now));

  // Forward windows of every channel first (in time order: `to` only moves over fetched time),
  // then one backfill window per channel in turn.
  const forward: Array<[Channel, Window]> = [];
  const backfill: Array<Array<[Channel, Window]>> = [];
  for (const ch of channels) {
    const ws = windowsFor(states.get(ch)!, opts.now, opts.since, ch.windowMs, overlapOf(ch));
    forward.push(...ws.filter((w) => w.kind === 'forward').map((w) => [ch, w] as [Channel, Window]));
    backfill.push(ws.filter((w) => w.kind === 'backfill').map((w) => [ch, w] as [Channel, Window]));
  }
  const queue = [...forward];
  for (let i = 0; backfill.some((b) => b.length > i); i++) for (const b of backfill) if (b[i]) queue.push(b[i]!);

  const trades: Trade[] = [];
  const transfers: RecordedTransfer[] = [];
  let windows = 0;
  let backfilled = 0;
  const failed: HistoryResult['failed'] = [];
  const broken = new Set<Channel>();
  // The queue stops at the budget: a channel's later window never runs before its earlier one.
  for (const [ch, w] of queue) {
    if (w.kind === 'backfill' && backfilled++ >= opts.maxWindows) break;
    // A channel that failed (a delisted symbol, a category the key may not read) keeps its
    // coverage and is asked again next sync; the account's other channels go on.
    if (broken.has(ch)) continue;
    const state = states.get(ch)!;
    windows++;
    try {
      const items = await ch.fetch(inst, w.start, w.end);
      if (ch.kind === 'trades') {
        // Keyed by symbol and id: some exchanges number fills per instrument.
        const mapped = items.map((t) => mapTrade(t, inst.markets)).map((t) => ({ id: `${t.symbol}|${t.id}`, timestamp: t.timestamp, trade: t }));
        trades.push(...unseen(state, mapped).map((x) => x.trade));
        states.set(ch, advance(state, w, mapped));
      } else {
        const overlap = overlapOf(ch);
        const mapped = items.map(mapTransfer);
        for (const t of unseen(state, mapped, (x) => x.status, overlap)) transfers.push({ ...t, previousStatus: state.pending?.[t.id]?.status ?? null });
        const next = advance(state, w, mapped, (x) => (x.status === 'pending' ? 'pending' : undefined), overlap);
        for (const [id, p] of Object.entries(next.pending ?? {})) if (Date.parse(p.at) < opts.now - PENDING_MS) delete next.pending![id];
        states.set(ch, next);
      }
    } catch (err) {
      broken.add(ch);
      const message = err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err);
      failed.push({ channel: ch.key, errorClass: classify(err, inst.id).errorClass, message: scrub(message, { apiKey: inst.apiKey, secret: inst.secret, password: inst.password }) });
    }
  }

  const coverage: HistoryState = { trades: { ...prior.trades }, transfers: { ...prior.transfers } };
  for (const [ch, state] of states) (ch.kind === 'trades' ? coverage.trades : coverage.transfers)[ch.key] = state;
  return { trades: dedupe(trades), transfers, coverage, windows, failed };
}

const overlapOf = (ch: Channel) => (ch.kind === 'transfers' ? TRANSFER_OVERLAP_MS : OVERLAP_MS);

/** A fill listed by two channels (an exchange that files it under two categories) counts once. */
function dedupe(trades: Trade[]): Trade[] {
  const byId = new Map<string, Trade>();
  for (const t of trades) byId.set(`${t.symbol}|${t.id}`, t);
  return [...byId.values()].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id < b.id ? -1 : 1));
}
