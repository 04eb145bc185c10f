// The live projector: one checkpointed subscription per projection, each reading what its
// projection selects and applying it in the same transaction as its checkpoint. A projection
// added to a database that already has a log starts at the beginning on its own checkpoint while
// the others go on.
import type { Logger } from 'pino';
import type { Cursor } from '../events/cursor.js';
import type { EventStore } from '../events/store.js';
import { Subscription, type Notifier } from '../events/subscription.js';
import type { Projection } from './projection.js';
import { PROJECTIONS } from './registry.js';
import { liveTables } from './tables.js';

export interface ProjectorOptions {
  projections?: readonly Projection[];
  notifier?: Notifier;
  logger?: Logger;
  batchSize?: number;
  pollMs?: number;
  onProgress?: (projection: string, end: Cursor, read: number) => void;
  onError?: (projection: string, err: Error) => void;
}

export function projectionSubscription(store: EventStore, p: Projection, opts: Omit<ProjectorOptions, 'projections'> = {}): Subscription {
  const tables = liveTables(p);
  return new Subscription(store, opts.notifier, {
    name: p.checkpoint,
    select: [p.selector],
    batchSize: opts.batchSize ?? 500,
    pollMs: opts.pollMs,
    logger: opts.logger,
    onProgress: opts.onProgress && ((end, read) => opts.onProgress!(p.name, end, read)),
    onError: opts.onError && ((err) => opts.onError!(p.name, err)),
    handler: (events, tx) => p.apply(tx, events, tables),
  });
}

/** Every projection of the registry (or of `opts.projections`), kept up to date live. */
export class Projector {
  readonly subscriptions: Subscription[];

  constructor(store: EventStore, opts: ProjectorOptions = {}) {
    this.subscriptions = (opts.projections ?? PROJECTIONS).map((p) => projectionSubscription(store, p, opts));
  }

  start(): void {
    for (const s of this.subscriptions) s.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.subscriptions.map((s) => s.stop()));
  }

  /** Resolves once every projection has found nothing left to apply after this call. */
  async caughtUp(): Promise<void> {
    await Promise.all(this.subscriptions.map((s) => s.caughtUp()));
  }
}

export function createProjector(store: EventStore, opts: ProjectorOptions = {}): Projector {
  return new Projector(store, opts);
}

/** Brings every projection up to the end of the log, then returns (one-shot commands). */
export async function catchUpProjections(
  store: EventStore,
  logger?: Logger,
  opts: { timeoutMs?: number; projections?: readonly Projection[] } = {},
): Promise<boolean> {
  let failed: (err: Error) => void = () => {};
  const error = new Promise<never>((_, reject) => (failed = reject));
  // A transaction left open elsewhere holds the read horizon back; a one-shot command then
  // answers with what it has rather than wait for that transaction.
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), opts.timeoutMs ?? 15_000)));
  const projector = new Projector(store, { projections: opts.projections, batchSize: 500, pollMs: 50, logger, onError: (_, err) => failed(err) });
  projector.start();
  try {
    // A one-shot command reports the first failure instead of retrying forever.
    const done = await Promise.race([projector.caughtUp().then(() => true), error, timedOut]);
    if (!done) logger?.warn('projections not fully caught up: an open transaction holds back the newest events');
    return done;
  } finally {
    clearTimeout(timer);
    await projector.stop();
  }
}
