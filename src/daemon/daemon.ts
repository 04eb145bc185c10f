// The daemon: wires the log, the projector, the exchanges, its part in the fleet's schedule, NATS
// commands, the JetStream relay and HTTP, and takes them down in the one order that loses
// nothing: stop taking commands and claiming, finish in-flight syncs (bounded), hand the leases
// back, let the relay finish its acks, drain NATS, close the pool.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Account, Config } from '../config.js';
import type { SyncTrigger } from '../events/catalog.js';
import { createPool, type Pool } from '../events/db.js';
import { assertCurrent, schemaStatus } from '../events/migrate.js';
import { EventStore } from '../events/store.js';
import { accountStream, matchesFilter, type AccountFilter, type AccountId } from '../events/streams.js';
import { Notifier } from '../events/subscription.js';
import { createExchangeAccess, type ExchangeAccess, type ExchangeAccessOptions } from '../exchanges/index.js';
import { backoffMs } from '../backoff.js';
import { createProjector, lastSyncs, type Projector } from '../projections/index.js';
import { historyCoverage } from './history-status.js';
import { readPortfolio, type Portfolio, type PortfolioQuery } from '../portfolio/portfolio.js';
import { CommandEndpoints, CommandError, type CommandHandlers, type SyncCommand } from './commands.js';
import { connectNats, type NatsConnection } from './nats.js';
import { Fleet } from '../schedule/fleet.js';
import { fleetStatus } from '../schedule/schedule-store.js';
import { awaitSync } from './awaited-sync.js';
import { sinceMs, SyncService, type SyncResult } from './sync.js';
import { DaemonWiring } from './wiring.js';

export interface DaemonOptions {
  logger: Logger;
  exchange?: ExchangeAccessOptions;
  /** How long shutdown waits for in-flight syncs (ms). Default 30 s. */
  shutdownTimeoutMs?: number;
  /** HTTP listen host; default all interfaces. */
  httpHost?: string;
  /** Subscription fallback poll (ms). */
  pollMs?: number;
}

/** Syncs in flight per daemon (each holds a pooled connection while it records). */
const MAX_IN_FLIGHT = 8;

// PostgreSQL and NATS at start: one loop each, so no jitter; capped, as an outage may be long.
const RECONNECT = { baseMs: 500, maxMs: 30_000 };

async function within<T>(ms: number, work: Promise<T>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until PostgreSQL answers, logging once when it does not and once when it does. */
async function waitForPostgres(pool: Pool, logger: Logger, stopped: () => boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await pool.query('SELECT 1');
      if (attempt > 0) logger.info('PostgreSQL reachable');
      return;
    } catch (err) {
      if (stopped()) throw err;
      if (attempt === 0) logger.warn({ err: (err as Error).message }, 'PostgreSQL unreachable; retrying with backoff');
      await new Promise((r) => setTimeout(r, backoffMs(RECONNECT, attempt + 1)));
    }
  }
}

export class Daemon {
  readonly store: EventStore;
  readonly pool: Pool;
  private readonly logger: Logger;
  readonly notifier: Notifier;
  private readonly access: ExchangeAccess;
  private readonly service: SyncService;
  private readonly projector: Projector;
  private readonly fleet: Fleet;
  private readonly wiring: DaemonWiring;
  private commands: CommandEndpoints | undefined;
  private nc: NatsConnection | undefined;
  private natsStarting: Promise<void> | undefined;
  private stopping = false;
  private signalStop: () => void = () => {};
  private readonly stopSignal = new Promise<void>((resolve) => (this.signalStop = resolve));
  private started = false;
  readonly startedAt = new Date();
  /** Names this daemon in replies, so a requester can tell which of several answered. */
  readonly id = randomUUID();

  constructor(
    readonly config: Config,
    private readonly opts: DaemonOptions,
  ) {
    this.logger = opts.logger;
    this.pool = createPool(config.database.connectionString, { max: 20 });
    this.store = new EventStore(this.pool);
    this.notifier = new Notifier(config.database.connectionString, this.logger);
    this.access = createExchangeAccess(config.accounts, { logger: this.logger, ...opts.exchange });
    this.service = new SyncService(this.store, this.access, this.logger, { history: config.history ?? undefined, maxConcurrent: MAX_IN_FLIGHT });
    this.projector = createProjector(this.store, { notifier: this.notifier, logger: this.logger, pollMs: opts.pollMs });
    this.wiring = new DaemonWiring(this, { logger: this.logger, pollMs: opts.pollMs, httpHost: opts.httpHost });
    this.fleet = new Fleet(this.pool, {
      daemon: this.id,
      startedAt: this.startedAt.toISOString(),
      accounts: config.accounts,
      intervalMs: config.intervalMinutes * 60_000,
      leaseMs: this.leaseMs,
      pollMs: config.schedule?.pollMs ?? 2000,
      capacity: MAX_IN_FLIGHT,
      scheduling: config.syncEnabled,
      sync: async (a, trigger, guard) => {
        const result = await this.service.sync(a, trigger, guard);
        this.wiring.recordSync(result);
        return result;
      },
      onClaim: (lease) => this.wiring.recordClaim(lease.lagMs),
      logger: this.logger,
    });
    this.wiring.watchFleet({ leases: () => this.fleet.leases, inFlight: () => this.service.inFlight });
  }

  get accounts(): Account[] {
    return this.config.accounts;
  }

  get nats(): NatsConnection | undefined {
    return this.nc;
  }

  get httpUrl(): string | undefined {
    return this.wiring.httpUrl;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await waitForPostgres(this.pool, this.logger, () => this.stopping);
    assertCurrent(await schemaStatus(this.pool));
    this.projector.start();
    await this.wiring.startHttp(this.handlers);
    await this.fleet.start();
    if (!this.config.syncEnabled) this.logger.info('EXCHANGE_SYNC_ENABLED=false: no scheduled syncs; commands still work');
    // NATS may be down: syncing and recording go on, commands and relaying start when it is up.
    this.natsStarting = this.startNats();
    this.logger.info({ accounts: this.config.accounts.length, intervalMinutes: this.config.intervalMinutes, http: this.httpUrl }, 'daemon started');
  }

  private async startNats(): Promise<void> {
    let nc: NatsConnection | undefined;
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        // Our own retry loop rather than waitOnFirstConnect, so shutdown can end the wait.
        nc = await connectNats(this.config.nats, this.logger, { name: `exchange-sync:${process.pid}`, waitOnFirstConnect: false });
        if (attempt > 0) this.logger.info('NATS reachable');
        break;
      } catch (err) {
        if (attempt === 0) this.logger.warn({ err: (err as Error).message, url: this.config.nats.url }, 'NATS unreachable; syncing and recording go on, retrying with backoff');
        await Promise.race([new Promise((r) => setTimeout(r, backoffMs(RECONNECT, attempt + 1))), this.stopSignal]);
      }
    }
    if (!nc) return;
    if (this.stopping) {
      await nc.close();
      return;
    }
    this.nc = nc;
    // Separately: a stream the server refuses (subjects overlapping another stream's) stops the
    // relay, not the commands.
    this.commands = new CommandEndpoints(nc, this.config.nats.prefix, this.handlers, this.logger);
    this.commands.start();
    try {
      await this.wiring.startRelay(nc);
      this.logger.info({ prefix: this.config.nats.prefix, stream: this.config.nats.stream }, 'NATS commands and relay running');
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'JetStream relay could not start; events stay in PostgreSQL until it can');
    }
  }

  /** What NATS commands and the HTTP API answer with. */
  private readonly handlers: CommandHandlers = {
    sync: (c) => this.onSyncCommand(c),
    status: () => this.status(),
    portfolio: (q) => this.portfolio(q),
  };

  /** The portfolio by the configured method, from the live holdings table or as of `query.at`. */
  portfolio(query: PortfolioQuery = {}): Promise<Portfolio> {
    return readPortfolio(this.store, this.config.costBasis ?? 'average', query);
  }

  /** Selects configured accounts; an empty selection is an error (unknown exchange or account). */
  select(selector: AccountFilter): Account[] {
    const { exchange, account } = selector;
    const selected = this.config.accounts.filter((a) => matchesFilter(a, selector));
    if (selected.length === 0) throw new CommandError(404, `no configured account matches ${JSON.stringify({ exchange, account })}`);
    return selected;
  }

  async sync(selector: AccountFilter = {}, trigger: SyncTrigger = 'api'): Promise<SyncResult[]> {
    const accounts = this.select(selector);
    return Promise.all(accounts.map((a) => this.runSync(a, trigger)));
  }

  private get leaseMs(): number {
    return this.config.schedule?.leaseMs ?? 60_000;
  }

  private async onSyncCommand(cmd: SyncCommand) {
    if (this.stopping) throw new CommandError(503, 'daemon is shutting down');
    const accounts = this.select(cmd);
    const accepted = accounts.map((a): AccountId => ({ exchange: a.exchange, account: a.account }));
    const running = Promise.all(accounts.map((a) => this.runSync(a, 'command')));
    if (!cmd.wait) {
      running.catch((err) => this.logger.error({ err: (err as Error).message }, 'commanded sync could not be recorded'));
      return { daemon: this.id, accepted };
    }
    return { daemon: this.id, accepted, results: await running };
  }

  /**
   * A sync on demand claims the account's schedule row like a tick does; when another daemon is
   * syncing it right now, the answer is that sync's result (read from the log), not a second
   * exchange call.
   */
  private async runSync(account: AccountId, trigger: SyncTrigger): Promise<SyncResult> {
    const after = await this.store.streamPosition(accountStream(account));
    const claimed = await this.fleet.command(account);
    const result = claimed ? await claimed : undefined;
    if (result) return result;
    return awaitSync(this.store, account, {
      after,
      pollMs: 200,
      claim: () => this.fleet.command(account),
      timeoutMs: this.leaseMs + 30_000,
      signal: this.stopAbort.signal,
    });
  }

  private readonly stopAbort = new AbortController();

  /** How late (ms) this daemon started the scheduled ticks it claimed since `since` (the newest 2,000). */
  scheduleLags(since = 0): number[] {
    return this.fleet.lagsSince(since);
  }

  async status(): Promise<unknown> {
    const last = new Map((await lastSyncs(this.pool)).map((l) => [accountStream(l), l]));
    const h = this.config.history;
    const history = h ? await historyCoverage(this.pool, sinceMs(h, Date.now())) : undefined;
    const fleet = await fleetStatus(this.pool);
    const next = new Map(fleet.accounts.map((n) => [accountStream(n), n]));
    const configured = new Set(this.config.accounts.map(accountStream));
    return {
      daemon: { id: this.id, pid: process.pid, startedAt: this.startedAt.toISOString(), syncsInFlight: this.service.inFlight, leases: this.fleet.leases, scheduling: this.config.syncEnabled, scheduleLagMs: this.fleet.lagSummary() },
      // The whole fleet on this database, as the schedule table says.
      fleet: {
        daemons: fleet.daemons,
        unserved: fleet.accounts.filter((a) => !a.served).map((a) => ({ exchange: a.exchange, account: a.account, lastSyncDueAt: a.dueAt })),
        elsewhere: fleet.accounts.filter((a) => a.served && !configured.has(accountStream(a))).length,
      },
      accounts: this.config.accounts.map((a) => {
        const l = last.get(accountStream(a));
        const n = next.get(accountStream(a));
        return {
          exchange: a.exchange,
          account: a.account,
          lastSync: l ? { syncId: l.syncId, status: l.status, finishedAt: l.finishedAt, errorClass: l.errorClass } : null,
          nextScheduledAt: n?.dueAt ?? null,
          syncingOn: n?.owner ?? null,
          consecutiveFailures: n?.failures ?? 0,
          // null: history is off (EXCHANGE_SYNC_HISTORY=false); a kind null: nothing recorded yet,
          // or the exchange cannot list it.
          history: history ? (history.get(accountStream(a)) ?? { trades: null, transfers: null }) : null,
        };
      }),
      lag: await this.wiring.lags(),
    };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.signalStop();
    const bound = this.opts.shutdownTimeoutMs ?? 30_000;
    this.logger.info('shutting down: no new commands or scheduled syncs');
    this.stopAbort.abort();
    const commandsDone = within(bound, this.commands?.stop() ?? Promise.resolve());
    let syncsDone = true;
    // Every lease goes back as soon as the syncs in flight are done (or the bound is up).
    await this.fleet.stop(within(bound, this.service.settle()).then((done) => (syncsDone = done)));
    if (!(await commandsDone) || !syncsDone) this.logger.warn({ boundMs: bound }, 'in-flight syncs did not finish in time; their transactions roll back');
    await this.natsStarting;
    await this.wiring.stopRelay();
    await this.projector.stop();
    if (this.nc) await this.nc.drain().catch((err) => this.logger.warn({ err: (err as Error).message }, 'NATS drain failed'));
    await this.wiring.stopHttp();
    await this.notifier.stop();
    await this.access.close();
    await this.pool.end();
    this.logger.info('stopped');
  }
}
