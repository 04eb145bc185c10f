// Prometheus metrics of the daemon. Sync outcomes are pushed in by recordSync; subscriber lag is
// pulled from PostgreSQL at scrape time, so it is exact when read and costs nothing between
// scrapes. Each createMetrics() call owns its own Registry (nothing touches prom-client's global
// one), so an embedding service or a test can hold several.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queryable } from '../events/db.js';
import { heldBack, subscriberLag, type HeldBack, type SubscriberLag } from '../events/lag.js';
import { PROJECTIONS, projectionLags, type Projection } from '../projections/index.js';
import { unservedCount } from '../schedule/schedule-store.js';
import type { SyncResult } from './sync.js';

export const METRICS_PREFIX = 'exchange_sync_';

export interface MetricsOptions {
  /** Where lag is read on scrape. Without it the lag gauges are not registered. */
  pool?: Queryable;
  /** Checkpoint name of the JetStream relay; the relay lag gauges exist only when it is given. */
  relaySubscriber?: string;
  /** The projections whose lag is shown; the registry's unless a test says otherwise. */
  projections?: readonly Pick<Projection, 'name' | 'checkpoint'>[];
  /** Upper bound on one scrape's lag query: Prometheus gives up on a scrape after 10 s by default. */
  lagTimeoutMs?: number;
  /** Process metrics (CPU, memory, event loop, GC); on unless an embedding service has its own. */
  defaultMetrics?: boolean;
}

export interface Metrics {
  registry: Registry;
  syncs: Counter<'exchange' | 'account' | 'outcome'>;
  syncDuration: Histogram<'exchange'>;
  exchangeErrors: Counter<'exchange' | 'class'>;
  lastSync: Gauge<'exchange' | 'account' | 'outcome'>;
  scheduleLag: Histogram;
}

/** What the daemon holds now, read at scrape time. */
export interface FleetGetters {
  leases(): number;
  inFlight(): number;
}

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Rejects after `ms`; the work itself goes on, so only bound things that end on their own. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRICS_PREFIX });

  const metrics: Metrics = {
    registry,
    syncs: new Counter({
      name: `${METRICS_PREFIX}syncs_total`,
      help: 'Account syncs finished, by outcome (ok or failed).',
      labelNames: ['exchange', 'account', 'outcome'] as const,
      registers: [registry],
    }),
    syncDuration: new Histogram({
      name: `${METRICS_PREFIX}sync_duration_seconds`,
      help: 'Time to fetch one account snapshot, retries included.',
      labelNames: ['exchange'] as const,
      // A healthy fetch is well under a second; retries with backoff stretch into tens of seconds.
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    exchangeErrors: new Counter({
      name: `${METRICS_PREFIX}exchange_errors_total`,
      help: 'Failed syncs by error class (auth, permission, rate_limit, network, timeout, exchange_down, nonce, bad_response, internal).',
      labelNames: ['exchange', 'class'] as const,
      registers: [registry],
    }),
    lastSync: new Gauge({
      name: `${METRICS_PREFIX}last_sync_timestamp_seconds`,
      help: 'Unix time at which the last sync of the account with this outcome finished.',
      labelNames: ['exchange', 'account', 'outcome'] as const,
      registers: [registry],
    }),
    scheduleLag: new Histogram({
      name: `${METRICS_PREFIX}schedule_lag_seconds`,
      help: 'How late this daemon started scheduled syncs: claim time minus the tick they were due at.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  };

  if (opts.pool) registerLagGauges(registry, opts.pool, opts.relaySubscriber, opts.projections ?? PROJECTIONS, opts.lagTimeoutMs ?? 2000);
  return metrics;
}

/** This daemon's leases and syncs in flight (its own, read at scrape), and the accounts no live daemon serves (the fleet's, from PostgreSQL). */
export function registerFleetGauges(registry: Registry, fleet: FleetGetters, pool?: Queryable, timeoutMs = 2000): void {
  new Gauge({
    name: `${METRICS_PREFIX}schedule_leases`,
    help: 'Schedule rows this daemon holds a lease on (syncing them now).',
    registers: [registry],
    collect() {
      this.set(fleet.leases());
    },
  });
  new Gauge({
    name: `${METRICS_PREFIX}syncs_in_flight`,
    help: 'Syncs this daemon is running now.',
    registers: [registry],
    collect() {
      this.set(fleet.inFlight());
    },
  });
  if (!pool) return;
  new Gauge({
    name: `${METRICS_PREFIX}accounts_unserved`,
    help: 'Scheduled accounts no live daemon has registered (none has their credentials any more): not synced. NaN when the query fails.',
    registers: [registry],
    async collect() {
      this.set(await withTimeout(unservedCount(pool), timeoutMs, 'unserved accounts').catch(() => NaN));
    },
  });
}

/** Counts one finished sync. The daemon calls it for every SyncResult, whatever triggered it. */
export function recordSync(metrics: Metrics, result: SyncResult): void {
  const { exchange, account, status: outcome } = result;
  metrics.syncs.inc({ exchange, account, outcome });
  const started = Date.parse(result.startedAt);
  const finished = Date.parse(result.finishedAt);
  if (Number.isFinite(started) && Number.isFinite(finished) && finished >= started) {
    metrics.syncDuration.observe({ exchange }, (finished - started) / 1000);
  }
  if (Number.isFinite(finished)) metrics.lastSync.set({ exchange, account, outcome }, finished / 1000);
  if (outcome === 'failed') metrics.exchangeErrors.inc({ exchange, class: result.errorClass ?? 'internal' });
}

// A failed lag query sets the gauges to NaN rather than leaving the last value: a stale number
// looks like a healthy, frozen lag, while NaN shows as a gap. lag_query_ok says why it is a gap.
// Two lag queries per scrape: the relay's, and one for every projection ("projections").
function registerLagGauges(
  registry: Registry,
  pool: Queryable,
  relay: string | undefined,
  projections: readonly Pick<Projection, 'name' | 'checkpoint'>[],
  timeoutMs: number,
): void {
  // prom-client starts every metric's collect() in the same tick, so the gauges that one query
  // answers share it per scrape.
  const inFlight = new Map<string, Promise<unknown>>();
  const once = <T>(key: string, query: () => Promise<T>): Promise<T | undefined> => {
    let p = inFlight.get(key) as Promise<T | undefined> | undefined;
    if (!p) {
      p = withTimeout(query(), timeoutMs, key)
        .catch(() => undefined)
        .finally(() => inFlight.delete(key));
      inFlight.set(key, p);
    }
    return p;
  };
  const projectionLag = () => once('lag of the projections', () => projectionLags(pool, projections));
  const relayLag = () => once('lag of the relay', () => subscriberLag(pool, relay!));
  const held = () => once<HeldBack>('held back events', () => heldBack(pool));

  new Gauge({
    name: `${METRICS_PREFIX}held_back_events`,
    help: 'Committed events no subscriber can read yet: a write transaction with an older transaction id, in any database of the server, is still open.',
    registers: [registry],
    async collect() {
      this.set((await held())?.events ?? NaN);
    },
  });
  new Gauge({
    name: `${METRICS_PREFIX}held_back_seconds`,
    help: 'Seconds since the oldest held-back event was recorded; 0 when none.',
    registers: [registry],
    async collect() {
      this.set((await held())?.seconds ?? NaN);
    },
  });
  const lagGauges = (kind: string, what: string, lag: () => Promise<SubscriberLag | undefined>) => {
    new Gauge({
      name: `${METRICS_PREFIX}${kind}_lag_events`,
      help: `Events recorded but not yet processed by ${what}.`,
      registers: [registry],
      async collect() {
        this.set((await lag())?.events ?? NaN);
      },
    });
    new Gauge({
      name: `${METRICS_PREFIX}${kind}_lag_seconds`,
      help: `Age of the oldest event ${what} has not processed yet; 0 when caught up.`,
      registers: [registry],
      async collect() {
        this.set((await lag())?.seconds ?? NaN);
      },
    });
  };
  // Per holding would be one series per account and asset; the count says whether to look, the
  // holdings table (drift column) says where.
  new Gauge({
    name: `${METRICS_PREFIX}holdings_drift_assets`,
    help: 'Holdings (account and asset) whose snapshots hold a quantity their fills and transfers do not explain (drift <> 0 in exchange_sync.holdings). NaN when the query fails.',
    registers: [registry],
    async collect() {
      const r = await once('holdings drift', () => pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM exchange_sync.holdings WHERE method = 'average' AND drift <> 0`));
      this.set(r?.rows[0]?.n ?? NaN);
    },
  });
  if (relay) lagGauges('relay', `the relay (checkpoint "${relay}")`, relayLag);
  lagGauges('projection', 'the projection furthest behind', async () => (await projectionLag())?.worst);
  const perProjection = (field: keyof SubscriberLag) =>
    async function collect(this: Gauge<'projection'>) {
      const lags = await projectionLag();
      for (const p of projections) this.set({ projection: p.name }, lags?.byName[p.name]?.[field] ?? NaN);
    };
  new Gauge({
    name: `${METRICS_PREFIX}projection_checkpoint_lag_events`,
    help: 'Events recorded but not yet applied, per projection (each has its own checkpoint).',
    labelNames: ['projection'] as const,
    registers: [registry],
    collect: perProjection('events'),
  });
  new Gauge({
    name: `${METRICS_PREFIX}projection_checkpoint_lag_seconds`,
    help: 'Age of the oldest event not yet applied, per projection; 0 when caught up.',
    labelNames: ['projection'] as const,
    registers: [registry],
    collect: perProjection('seconds'),
  });
  new Gauge({
    name: `${METRICS_PREFIX}lag_query_ok`,
    help: '1 when this scrape could read the lag from PostgreSQL, 0 when it failed (the lag gauges are NaN then; held_back_* too when that query fails). subscriber: the relay\'s checkpoint, or "projections" for all projections.',
    labelNames: ['subscriber'] as const,
    registers: [registry],
    async collect() {
      const [r, p] = await Promise.all([relay ? relayLag() : undefined, projectionLag()]);
      if (relay) this.set({ subscriber: relay }, r ? 1 : 0);
      this.set({ subscriber: 'projections' }, p ? 1 : 0);
    },
  });
}
