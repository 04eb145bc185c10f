// Catch-up subscription: delivers every committed event once, in (transaction_id, global_position)
// order, to a handler that runs in the same transaction as the subscriber's checkpoint update.
// A crash between the handler's writes and the checkpoint therefore loses or repeats nothing.
import pg from 'pg';
import type { Logger } from 'pino';
import { backoffMs } from '../backoff.js';
import { lockCheckpoint, saveCheckpoint } from './checkpoints.js';
import { withTransaction, type PoolClient } from './db.js';
import { START, cursorOf, type Cursor, type EventStore, type RecordedEvent, type Selector } from './store.js';
import { HorizonWait, Waker } from './wake.js';

export const NOTIFY_CHANNEL = 'exchange_sync_events';

export type BatchHandler = (events: RecordedEvent[], tx: PoolClient) => Promise<void>;

export interface SubscriptionOptions {
  /** Checkpoint key; one row in exchange_sync.checkpoints. */
  name: string;
  handler: BatchHandler;
  /**
   * Only these events reach the handler (see Selector); the checkpoint still passes the whole
   * batch. Without it, every event.
   */
  select?: readonly Selector[];
  batchSize?: number;
  /** Fallback poll when no notification arrives (ms). */
  pollMs?: number;
  logger?: Logger;
  /** Called after each committed batch with the new checkpoint and the events the batch passed. */
  onProgress?: (end: Cursor, read: number) => void;
  /** Called when a pass fails (it is retried with backoff either way). */
  onError?: (err: Error) => void;
}

/** One LISTEN connection shared by every subscription of a process. */
export class Notifier {
  private client: pg.Client | undefined;
  /** Set by the first add(): one connection (and retry loop) however many subscribers add themselves. */
  private started = false;
  private readonly listeners = new Set<() => void>();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly logger?: Logger,
  ) {}

  add(listener: () => void): () => void {
    this.listeners.add(listener);
    if (!this.started) {
      this.started = true;
      void this.connect(0);
    }
    return () => this.listeners.delete(listener);
  }

  private async connect(attempt: number): Promise<void> {
    this.retryTimer = undefined;
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: 'exchange-sync-listen',
      // A connect that hangs must fail, or the retry loop would never run again.
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    });
    let retried = false;
    // A socket dying during LISTEN both emits 'error' and rejects the query: one retry per client.
    const retry = () => {
      if (retried) return;
      retried = true;
      if (this.client === client) this.client = undefined;
      client.removeAllListeners();
      client.on('error', () => {});
      void client.end().catch(() => {});
      if (this.stopped) return;
      const delay = backoffMs({ baseMs: 250, maxMs: 30_000 }, attempt + 1);
      this.retryTimer = setTimeout(() => void this.connect(attempt + 1), delay);
      // Polling keeps subscribers going meanwhile; wake them so they notice the gap quickly.
      this.wake();
    };
    client.on('error', (err) => {
      this.logger?.warn({ err: err.message }, 'event notification connection lost; polling until it is back');
      retry();
    });
    client.on('notification', () => this.wake());
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      if (this.stopped) {
        await client.end().catch(() => {});
        return;
      }
      this.client = client;
      if (attempt > 0) this.logger?.info('event notification connection restored');
      attempt = 0;
      this.wake();
    } catch {
      retry();
    }
  }

  private wake(): void {
    for (const l of this.listeners) l();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const c = this.client;
    this.client = undefined;
    if (c) await c.end().catch(() => {});
  }
}

export class Subscription {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly waker = new Waker();
  private unlisten: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  private cursor: Cursor = START;
  private passed = 0;
  private readonly batchSize: number;
  private readonly pollMs: number;

  constructor(
    private readonly store: EventStore,
    private readonly notifier: Notifier | undefined,
    private readonly opts: SubscriptionOptions,
  ) {
    this.batchSize = opts.batchSize ?? 500;
    this.pollMs = opts.pollMs ?? 2000;
  }

  get name(): string {
    return this.opts.name;
  }

  /** Events this instance's checkpoint has passed since start (handed to the handler or not selected). */
  get passedCount(): number {
    return this.passed;
  }

  get position(): Cursor {
    return this.cursor;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unlisten = this.notifier?.add(() => this.waker.wake());
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unlisten?.();
    this.waker.wake();
    await this.loop;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves once a pass that began after this call found nothing left to deliver. */
  caughtUp(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.waker.wake();
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    const wait = new HorizonWait(this.pollMs);
    const stopped = () => !this.running;
    while (this.running) {
      const waiters = this.idleWaiters.splice(0);
      this.waker.clear();
      try {
        const { count, heldBack } = await this.pass();
        if (failures > 0) this.opts.logger?.info({ subscriber: this.opts.name, failedPasses: failures }, 'subscriber recovered');
        failures = 0;
        if (count >= this.batchSize) {
          this.idleWaiters.unshift(...waiters);
          continue;
        }
        // Not caught up while events are held back: the waiters wait for them too.
        if (heldBack) this.idleWaiters.unshift(...waiters);
        else for (const w of waiters) w();
        await this.waker.sleep(wait.next(heldBack), stopped);
      } catch (err) {
        this.idleWaiters.unshift(...waiters);
        failures += 1;
        const delay = backoffMs({ baseMs: 200, maxMs: 30_000 }, failures);
        // Once per outage at error level; the retries in between only at debug.
        const level = failures === 1 ? 'error' : 'debug';
        this.opts.logger?.[level]({ err: (err as Error).message, subscriber: this.opts.name, retryInMs: delay }, 'subscriber pass failed; retrying');
        this.opts.onError?.(err as Error);
        this.waker.clear();
        await this.waker.sleep(delay, stopped);
      }
    }
  }

  /**
   * One transaction: lock our checkpoint, read a batch after it, handle it, advance it. Whether
   * events are held back is asked first, outside it: asked after the read, a transaction holding
   * back an event committed by then could commit in between, so the look would see nothing held
   * back although the read missed that event (and caughtUp() would resolve too early). Outside,
   * so that our own transaction id (the checkpoint lock takes one) holds nothing back.
   */
  private async pass(): Promise<{ count: number; heldBack: boolean }> {
    const heldBack = await this.store.hasHeldBack();
    const { from, end, read } = await withTransaction(this.store.pool, async (tx) => {
      const from = await lockCheckpoint(tx, this.opts.name);
      const batch = await this.read(from, tx);
      if (batch.end) {
        if (batch.events.length) await this.opts.handler(batch.events, tx);
        await saveCheckpoint(tx, this.opts.name, batch.end);
      }
      return { from, ...batch };
    });
    this.cursor = end ?? from;
    if (end) {
      this.passed += read;
      this.opts.onProgress?.(end, read);
    }
    return { count: read, heldBack };
  }

  private async read(from: Cursor, tx: PoolClient): Promise<{ events: RecordedEvent[]; read: number; end: Cursor | undefined }> {
    if (this.opts.select) return this.store.readSelected(from, this.batchSize, { select: this.opts.select, client: tx });
    const events = await this.store.readAfter(from, this.batchSize, { client: tx });
    const last = events[events.length - 1];
    return { events, read: events.length, end: last ? cursorOf(last) : undefined };
  }
}
