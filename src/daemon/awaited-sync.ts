// A commanded sync of an account another daemon is syncing right now: the reply is that sync's
// result, read from the log when it lands, not a second call to the exchange. If the other daemon
// dies before recording, its lease runs out and this daemon claims the account itself.
import type { EventStore } from '../events/store.js';
import { accountStream, type AccountId } from '../events/streams.js';
import { tryCurrent } from '../events/typed-events.js';
import type { SyncResult } from './sync.js';

/** The SyncResult a sync's last event says, or undefined for any other event. */
export function resultOf(id: AccountId, e: { type: string; streamPosition: number; globalPosition: number } & Parameters<typeof tryCurrent>[0]): SyncResult | undefined {
  const c = tryCurrent(e);
  if (c?.type === 'sync_completed') {
    const h = c.data.history;
    return {
      syncId: c.data.syncId,
      exchange: id.exchange,
      account: id.account,
      status: 'ok',
      changed: c.data.changed,
      history: h ? { trades: h.trades, transfers: h.transfers, errorClass: h.errorClass, message: h.message } : undefined,
      streamPosition: e.streamPosition,
      globalPosition: e.globalPosition,
      startedAt: c.data.startedAt,
      finishedAt: c.data.finishedAt,
    };
  }
  if (c?.type === 'sync_failed') {
    return {
      syncId: c.data.syncId,
      exchange: id.exchange,
      account: id.account,
      status: 'failed',
      errorClass: c.data.errorClass,
      message: c.data.message,
      retryable: c.data.retryable,
      streamPosition: e.streamPosition,
      globalPosition: e.globalPosition,
      startedAt: c.data.startedAt,
      finishedAt: c.data.finishedAt,
    };
  }
  return undefined;
}

export interface AwaitOptions {
  /** The stream's position before the other sync could have recorded (its result comes after it). */
  after: number;
  pollMs: number;
  /** Tries to claim the account (undefined while another daemon holds it). */
  claim: () => Promise<Promise<SyncResult | undefined> | undefined>;
  /** Gives up after this long (ms). */
  timeoutMs: number;
  signal?: AbortSignal;
}

export async function awaitSync(store: EventStore, id: AccountId, opts: AwaitOptions): Promise<SyncResult> {
  const stream = accountStream(id);
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const events = await store.readStream(stream, { fromPosition: opts.after + 1, limit: 100 });
    for (const e of events) {
      const r = resultOf(id, e);
      if (r) return r;
    }
    // The holder may have died or given the account back without recording: then it is ours.
    const mine = await opts.claim();
    if (mine) {
      const r = await mine;
      if (r) return r;
    }
    if (Date.now() > deadline) throw new Error(`${stream}: another daemon holds its sync and no result arrived within ${opts.timeoutMs} ms`);
    if (opts.signal?.aborted) throw new Error('daemon is shutting down');
    await new Promise((r) => setTimeout(r, opts.pollMs));
  }
}
