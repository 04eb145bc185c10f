// One sync of one account: fetch a snapshot, then record it in ONE append (first write of its
// transaction). Within the process a second request for a running account joins it. Across
// processes: a daemon syncs under its lease on the account's schedule row (a SyncGuard: the lease
// is checked in the append's transaction, and the schedule advanced in it); a sync without one
// (the one-shot CLI, the library's own SyncService) takes a session advisory lock per account.
// Either way the append expects the stream where the sync first read it, so two syncs that did
// overlap cannot both record.
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventData, Snapshot, SyncTrigger } from '../events/catalog.js';
import type { Queryable } from '../events/db.js';
import type { EventStore, NewEvent } from '../events/store.js';
import { accountStream, type AccountId } from '../events/streams.js';
import { tryCurrent } from '../events/typed-events.js';
import { ExchangeError, type ExchangeAccess, type HistoryState, type SnapshotResult } from '../exchanges/index.js';
import type { HistoryFetch } from '../exchanges/index.js';
import { Limiter } from '../exchanges/limiter.js';

export interface SyncResult extends AccountId {
  syncId: string;
  status: 'ok' | 'failed';
  changed?: boolean;
  /** ok and history on: fills and transfers recorded by this sync, or why the history fetch failed. */
  history?: { trades: number; transfers: number; errorClass: ExchangeError['errorClass'] | null; message: string | null };
  errorClass?: ExchangeError['errorClass'];
  message?: string;
  retryable?: boolean;
  /** The stream position and global position of the sync's last event. */
  streamPosition: number;
  globalPosition: number;
  startedAt: string;
  finishedAt: string;
}

// 1163088217 = 'ESSY': the sync lock space, apart from the log's own stream locks.
const SYNC_LOCK_SPACE = 1163088217;

/** Content that makes two snapshots "the same": holdings and prices, not the fetch times. */
export function contentHash(s: Snapshot): string {
  const prices = Object.fromEntries(Object.entries(s.prices).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const content = JSON.stringify([s.quote, s.wallets, s.balances, s.positions, prices]);
  return createHash('sha256').update(content).digest('hex');
}

/**
 * What makes a daemon's sync safe beside other daemons: its lease. `check` runs in the append's
 * transaction right after it (throws when the lease was taken over: the append rolls back and
 * nothing is recorded), then `advance`, before the commit; `signal` aborts when the lease is lost, and the sync stops
 * waiting for the exchange.
 */
export interface SyncGuard {
  check(tx: Queryable): Promise<void>;
  advance(tx: Queryable, outcome: { ok: boolean; errorClass?: string }): Promise<void>;
  signal: AbortSignal;
}

/** Rejects with the signal's reason once it aborts; the work itself cannot be stopped and is left to finish unheard. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

/** History fetched with each sync: backfill reaches back to `since` (a moment, or days before now), `maxWindows` windows a sync. */
export interface HistorySettings {
  since: { days: number } | { at: string };
  maxWindows: number;
}

/** Where the backfill reaches back to, now. */
export function sinceMs(h: HistorySettings, now: number): number {
  return 'days' in h.since ? now - h.since.days * 24 * 60 * 60 * 1000 : Date.parse(h.since.at);
}

/** Progress worth an event of its own even without new items: new channels, backfill, or `to` this far ahead. */
const RECORD_PROGRESS_MS = 6 * 60 * 60 * 1000;

export class SyncService {
  private readonly running = new Map<string, Promise<SyncResult>>();
  // Each sync holds a pooled connection (its account lock lives in that session) from lock to
  // append; capping syncs in flight keeps the pool from running dry under "sync everything".
  private readonly slots: Limiter;

  constructor(
    private readonly store: EventStore,
    private readonly exchanges: ExchangeAccess,
    private readonly logger: Logger,
    opts: { maxConcurrent?: number; history?: HistorySettings } = {},
  ) {
    this.slots = new Limiter(opts.maxConcurrent ?? 8);
    this.history = opts.history;
  }

  private readonly history: HistorySettings | undefined;

  /** Syncs running in this process right now. */
  get inFlight(): number {
    return this.running.size;
  }

  /** Resolves when every sync running now has finished. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  sync(account: AccountId, trigger: SyncTrigger, guard?: SyncGuard): Promise<SyncResult> {
    const stream = accountStream(account);
    const existing = this.running.get(stream);
    if (existing) return existing;
    const run = this.slots.run(() => this.run(account, stream, trigger, guard)).finally(() => this.running.delete(stream));
    this.running.set(stream, run);
    return run;
  }

  private async run(account: AccountId, stream: string, trigger: SyncTrigger, guard?: SyncGuard): Promise<SyncResult> {
    const log = this.logger.child({ exchange: account.exchange, account: account.account });
    const client = await this.store.pool.connect();
    let broken = false;
    try {
      // Under a lease the lease is the lock: a session lock would outlive a stalled daemon and
      // keep the daemon that took over from syncing.
      if (!guard) await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [SYNC_LOCK_SPACE, stream]);
      try {
        const syncId = randomUUID();
        const startedAt = new Date().toISOString();
        // Where the stream stands before anything is read from it: the append expects it there.
        const position = await this.store.streamPosition(stream, client);
        let fetched: SnapshotResult | undefined;
        let failure: ExchangeError | undefined;
        try {
          fetched = await abortable(this.exchanges.fetchSnapshot(account), guard?.signal);
        } catch (err) {
          if (guard?.signal.aborted) throw err;
          failure = err instanceof ExchangeError ? err : new ExchangeError({ errorClass: 'internal', retryable: false, attempt: 1, message: String(err) });
        }
        // Under the account's lock, so what the log says is covered cannot change meanwhile.
        let history: { prior: HistoryState; fetched?: HistoryFetch; error?: ExchangeError } | undefined;
        if (fetched && this.history) {
          history = { prior: { trades: {}, transfers: {} } };
          const now = Date.now();
          try {
            history.prior = await historyState(this.store, stream, client);
            history.fetched = await abortable(
              this.exchanges.fetchHistory(account, fetched.snapshot, history.prior, { now, since: sinceMs(this.history, now), maxWindows: this.history.maxWindows }),
              guard?.signal,
            );
          } catch (err) {
            if (guard?.signal.aborted) throw err;
            // The snapshot still lands: a history that cannot be read must not stop the balances.
            history.error = err instanceof ExchangeError ? err : new ExchangeError({ errorClass: 'internal', retryable: false, attempt: 1, message: err instanceof Error ? err.message : String(err) });
            log.warn({ errorClass: history.error.errorClass, message: history.error.message }, 'history fetch failed; the snapshot is recorded without it');
          }
        }
        const finishedAt = new Date().toISOString();
        const events: NewEvent[] = fetched
          ? await this.recordedEvents(stream, syncId, trigger, startedAt, finishedAt, fetched, client, history)
          : [this.failedEvent(syncId, trigger, startedAt, finishedAt, failure!)];
        await client.query('BEGIN');
        try {
          const appended = await this.store.append(stream, events, { expectedPosition: position, client });
          // After the append (which must be its transaction's first write), before the commit: a
          // lease taken over rolls the append back with it.
          await guard?.check(client);
          await guard?.advance(client, { ok: fetched !== undefined, errorClass: failure?.errorClass });
          await client.query('COMMIT');
          const last = appended.events[appended.events.length - 1]!;
          const result: SyncResult = {
            syncId,
            exchange: account.exchange,
            account: account.account,
            status: fetched ? 'ok' : 'failed',
            changed: fetched ? events[0]!.type === 'snapshot_recorded' : undefined,
            history: historyOutcome(history),
            errorClass: failure?.errorClass,
            message: failure?.message,
            retryable: failure?.retryable,
            streamPosition: last.streamPosition,
            globalPosition: last.globalPosition,
            startedAt,
            finishedAt,
          };
          if (failure) log.warn({ syncId, errorClass: failure.errorClass, message: failure.message }, 'sync failed');
          else log.info({ syncId, changed: result.changed, fetchMs: fetched!.fetchMs }, 'sync completed');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {
            broken = true;
          });
          throw err;
        }
      } finally {
        if (!guard) {
          await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [SYNC_LOCK_SPACE, stream]).catch(() => {
            broken = true;
          });
        }
      }
    } catch (err) {
      broken = true;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private async recordedEvents(
    stream: string,
    syncId: string,
    trigger: SyncTrigger,
    startedAt: string,
    finishedAt: string,
    fetched: SnapshotResult,
    client: Queryable,
    history?: { prior: HistoryState; fetched?: HistoryFetch; error?: ExchangeError },
  ): Promise<NewEvent[]> {
    const { snapshot } = fetched;
    const hash = contentHash(snapshot);
    const last = await this.store.lastOfTypes(stream, ['snapshot_recorded', 'snapshot_unchanged'], client);
    const seen = last && tryCurrent(last);
    const previous = seen?.type === 'snapshot_recorded' || seen?.type === 'snapshot_unchanged' ? seen.data.contentHash : undefined;
    const changed = previous !== hash;
    const snapshotEvent: NewEvent = changed
      ? { type: 'snapshot_recorded', data: { syncId, contentHash: hash, snapshot } satisfies EventData<'snapshot_recorded'> }
      : {
          type: 'snapshot_unchanged',
          data: { syncId, contentHash: hash, fetchedAt: snapshot.fetchedAt, exchangeTime: snapshot.exchangeTime } satisfies EventData<'snapshot_unchanged'>,
        };
    const completed: EventData<'sync_completed'> = {
      syncId,
      trigger,
      startedAt,
      finishedAt,
      fetchMs: fetched.fetchMs,
      attempts: fetched.attempts,
      balances: snapshot.balances.length,
      positions: snapshot.positions.length,
      changed,
      history: historyOutcome(history) ?? null,
    };
    return [snapshotEvent, ...historyEvents(syncId, history), { type: 'sync_completed', data: completed }];
  }

  private failedEvent(syncId: string, trigger: SyncTrigger, startedAt: string, finishedAt: string, err: ExchangeError): NewEvent {
    const data: EventData<'sync_failed'> = {
      syncId,
      trigger,
      startedAt,
      finishedAt,
      errorClass: err.errorClass,
      message: err.message,
      retryable: err.retryable,
      attempt: err.attempt,
    };
    return { type: 'sync_failed', data };
  }
}

/** The coverage the log holds: the newest trades_recorded and transfers_recorded of the stream. */
export async function historyState(store: EventStore, stream: string, client?: Queryable): Promise<HistoryState> {
  const trades = await store.lastOfTypes(stream, ['trades_recorded'], client);
  const transfers = await store.lastOfTypes(stream, ['transfers_recorded'], client);
  const t = trades && tryCurrent(trades);
  const x = transfers && tryCurrent(transfers);
  // Coverage this release cannot read (a newer daemon wrote it): fetching from nothing would
  // record every fill again, so the history waits for this daemon's upgrade.
  if ((trades && !t) || (transfers && !x)) throw new Error('the newest history event is of a version this release cannot read (written by a newer release); history is skipped until this daemon is upgraded');
  return {
    trades: t?.type === 'trades_recorded' ? t.data.coverage : {},
    transfers: x?.type === 'transfers_recorded' ? x.data.coverage : {},
  };
}

function historyOutcome(h: { fetched?: HistoryFetch; error?: ExchangeError } | undefined): SyncResult['history'] {
  if (!h) return undefined;
  if (h.error) return { trades: 0, transfers: 0, errorClass: h.error.errorClass, message: h.error.message };
  const failed = h.fetched?.failed ?? [];
  return {
    trades: h.fetched?.trades.length ?? 0,
    transfers: h.fetched?.transfers.length ?? 0,
    // Channels that failed kept their coverage (the others went on): the first one's class says why.
    errorClass: failed[0]?.errorClass ?? null,
    message: failed.length ? failed.map((f) => `${f.channel}: ${f.message}`).join('; ') : null,
  };
}

/**
 * The history events of a sync: new fills (or transfers), or coverage that moved enough to be worth
 * keeping (a new channel, backfill, `to` RECORD_PROGRESS_MS ahead). Otherwise nothing: the next
 * sync asks again from the coverage in the log, which is at most that much older.
 */
function historyEvents(syncId: string, h: { prior: HistoryState; fetched?: HistoryFetch } | undefined): NewEvent[] {
  if (!h?.fetched) return [];
  const out: NewEvent[] = [];
  const f = h.fetched;
  if (f.trades.length > 0 || moved(h.prior.trades, f.coverage.trades)) {
    out.push({ type: 'trades_recorded', data: { syncId, trades: f.trades, coverage: f.coverage.trades } satisfies EventData<'trades_recorded'> });
  }
  if (f.transfers.length > 0 || moved(h.prior.transfers, f.coverage.transfers)) {
    out.push({ type: 'transfers_recorded', data: { syncId, transfers: f.transfers, coverage: f.coverage.transfers } satisfies EventData<'transfers_recorded'> });
  }
  return out;
}

function moved(before: HistoryState['trades'], after: HistoryState['trades']): boolean {
  for (const [key, next] of Object.entries(after)) {
    const prev = before[key];
    if (!prev || next.from !== prev.from) return true;
    if (Date.parse(next.to) - Date.parse(prev.to) >= RECORD_PROGRESS_MS) return true;
    if (JSON.stringify(next.pending ?? {}) !== JSON.stringify(prev.pending ?? {})) return true;
  }
  return false;
}
