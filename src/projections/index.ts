// The live projector: one checkpointed subscriber keeping balances, positions and sync_runs.
import type { Logger } from 'pino';
import type { EventStore, RecordedEvent } from '../events/store.js';
import { Subscription, type Notifier } from '../events/subscription.js';
import { project } from './projector.js';
import { LIVE, PROJECTOR_SUBSCRIBER } from './tables.js';

export { PROJECTIONS, PROJECTOR_SUBSCRIBER, type ProjectionName } from './tables.js';
export { rebuild, type RebuildProgress } from './rebuild.js';

export interface ProjectorOptions {
  notifier?: Notifier;
  logger?: Logger;
  batchSize?: number;
  pollMs?: number;
  onProgress?: (last: RecordedEvent, count: number) => void;
}

export function createProjector(store: EventStore, opts: ProjectorOptions = {}): Subscription {
  return new Subscription(store, opts.notifier, {
    name: PROJECTOR_SUBSCRIBER,
    batchSize: opts.batchSize ?? 500,
    pollMs: opts.pollMs,
    logger: opts.logger,
    onProgress: opts.onProgress,
    handler: (events, tx) => project(tx, events, LIVE),
  });
}

/** Brings the projection tables up to the end of the log, then returns (one-shot commands). */
export async function catchUpProjections(store: EventStore, logger?: Logger, opts: { timeoutMs?: number } = {}): Promise<boolean> {
  let failed: (err: Error) => void = () => {};
  const error = new Promise<never>((_, reject) => (failed = reject));
  // A transaction left open elsewhere in the database holds the read horizon back; a one-shot
  // command then answers with what it has rather than wait for that transaction.
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), opts.timeoutMs ?? 15_000)));
  const projector = new Subscription(store, undefined, {
    name: PROJECTOR_SUBSCRIBER,
    batchSize: 500,
    pollMs: 50,
    logger,
    onError: (err) => failed(err),
    handler: (events, tx) => project(tx, events, LIVE),
  });
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
