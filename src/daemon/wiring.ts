// The daemon's outward faces: the JetStream relay, HTTP health/metrics, and the lag figures both
// the metrics and the status command report.
import type { Logger } from 'pino';
import { heldBack, subscriberLag, type HeldBack, type SubscriberLag } from '../events/lag.js';
import type { EventStore } from '../events/store.js';
import type { Notifier } from '../events/subscription.js';
import { projectionLags } from '../projections/index.js';
import type { Config } from '../config.js';
import type { ApiHandlers } from './http-api.js';
import { readinessChecks, startHttpServer, type HttpServer } from './http.js';
import { createMetrics, recordSync, registerFleetGauges, type FleetGetters, type Metrics } from './metrics.js';
import type { NatsConnection } from './nats.js';
import { relaySubscriberName, startRelay, type Relay } from './relay.js';
import type { SyncResult } from './sync.js';

export interface WiringHost {
  readonly config: Config;
  readonly store: EventStore;
  readonly notifier: Notifier;
  readonly nats: NatsConnection | undefined;
}

export class DaemonWiring {
  private http: HttpServer | undefined;
  private relay: Relay | undefined;
  private readonly metrics: Metrics;
  private readonly relayName: string;

  constructor(
    private readonly host: WiringHost,
    private readonly opts: { logger: Logger; pollMs?: number; httpHost?: string },
  ) {
    this.relayName = relaySubscriberName(host.config.nats.stream);
    this.metrics = createMetrics({ pool: host.store.pool, relaySubscriber: this.relayName });
  }

  get httpUrl(): string | undefined {
    return this.http?.url;
  }

  recordSync(result: SyncResult): void {
    recordSync(this.metrics, result);
  }

  /** A scheduled tick claimed `lagMs` after it was due. */
  recordClaim(lagMs: number): void {
    this.metrics.scheduleLag.observe(lagMs / 1000);
  }

  watchFleet(fleet: FleetGetters): void {
    registerFleetGauges(this.metrics.registry, fleet, this.host.store.pool);
  }

  async startHttp(api: ApiHandlers): Promise<void> {
    this.http = await startHttpServer({
      api: { token: this.host.config.httpToken, handlers: api },
      port: this.host.config.httpPort,
      host: this.opts.httpHost,
      registry: this.metrics.registry,
      readiness: readinessChecks({ pool: this.host.store.pool, nc: () => this.host.nats }),
      logger: this.opts.logger,
    });
  }

  async stopHttp(): Promise<void> {
    await this.http?.close();
  }

  async startRelay(nc: NatsConnection): Promise<void> {
    const { prefix, stream } = this.host.config.nats;
    this.relay = await startRelay({ nc, store: this.host.store, notifier: this.host.notifier, prefix, streamName: stream, logger: this.opts.logger, pollMs: this.opts.pollMs });
  }

  /** Waits for the publishes in flight to be acknowledged, then stops relaying. */
  async stopRelay(): Promise<void> {
    await this.relay?.stop();
  }

  /** `projections` is the one furthest behind; `perProjection` each one, by name. */
  async lags(): Promise<{ relay: SubscriberLag; projections: SubscriberLag; perProjection: Record<string, SubscriberLag>; heldBack: HeldBack }> {
    const pool = this.host.store.pool;
    const [relay, projections, held] = await Promise.all([subscriberLag(pool, this.relayName), projectionLags(pool), heldBack(pool)]);
    return { relay, projections: projections.worst, perProjection: projections.byName, heldBack: held };
  }
}
