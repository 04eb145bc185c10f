// One daemon's part in the fleet's schedule: it registers the accounts it has credentials for,
// claims due ones up to its free capacity every poll, syncs each under its lease (renewed by the
// heartbeat; a lease lost or not renewable in time aborts that sync, which then records nothing),
// and on shutdown hands every lease back at once. The schedule itself is the database's
// (schedule-store.ts); nothing here decides for another daemon.
import type { Logger } from 'pino';
import type { Pool } from '../events/db.js';
import { accountStream, type AccountId } from '../events/streams.js';
import type { SyncGuard, SyncResult } from '../daemon/sync.js';
import type { SyncTrigger } from '../events/catalog.js';
import { advance, checkLease, claimDue, claimNow, heartbeat, leave, LeaseLostError, register, releaseDeadNeighbours, releaseLease, type Lease } from './schedule-store.js';

export interface FleetOptions {
  daemon: string;
  startedAt: string;
  accounts: readonly AccountId[];
  intervalMs: number;
  /** How long a claim holds without renewal: the failover bound for a daemon that dies mid-sync is lease + poll. */
  leaseMs: number;
  /** How often due rows are claimed. */
  pollMs: number;
  /** Syncs in flight at most (claims take only what is free). */
  capacity: number;
  /** false: registers and answers commands, claims no scheduled tick (EXCHANGE_SYNC_ENABLED=false). */
  scheduling: boolean;
  sync: (account: AccountId, trigger: SyncTrigger, guard: SyncGuard) => Promise<SyncResult>;
  /** How late each claimed tick started (ms). */
  onClaim?: (lease: Lease) => void;
  logger: Logger;
}

interface Held {
  lease: Lease;
  abort: AbortController;
  done: Promise<SyncResult | undefined>;
}

/** The daemons running in this process (several can, embedded or in tests): alive whatever their pid says. */
const IN_THIS_PROCESS = new Set<string>();

/** Lag samples kept for status (the newest). */
const LAG_SAMPLES = 2000;

export class Fleet {
  private readonly held = new Map<string, Held>();
  private pollTimer: NodeJS.Timeout | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  private running = false;
  private lastRenewal = Date.now();
  private readonly lags: { at: number; ms: number }[] = [];
  private outage: { since: number; error: string } | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly opts: FleetOptions,
  ) {}

  get leases(): number {
    return this.held.size;
  }

  /** Registers (retrying until the database answers is the caller's), then polls and beats. */
  async start(): Promise<void> {
    this.running = true;
    IN_THIS_PROCESS.add(this.opts.daemon);
    const dead = await releaseDeadNeighbours(this.pool, this.opts.daemon, IN_THIS_PROCESS);
    if (dead.length) this.opts.logger.info({ daemons: dead }, 'daemons of this machine that died hand their leases back now');
    await register(this.pool, this.info(), this.opts.accounts, this.opts.intervalMs);
    this.lastRenewal = Date.now();
    const beatMs = Math.max(200, Math.floor(this.opts.leaseMs / 3));
    this.beatTimer = setInterval(() => void this.beat(), beatMs);
    if (this.opts.scheduling) {
      this.pollTimer = setInterval(() => void this.poll(), this.opts.pollMs);
      void this.poll();
    }
  }

  private info() {
    return { daemon: this.opts.daemon, startedAt: this.opts.startedAt, ttlMs: this.opts.leaseMs, scheduling: this.opts.scheduling };
  }

  /** Claims what is due, up to the free capacity, and starts each claimed sync. */
  async poll(): Promise<void> {
    if (!this.running) return;
    const free = this.opts.capacity - this.held.size;
    if (free <= 0) return;
    try {
      const leases = await claimDue(this.pool, this.opts.daemon, free, this.opts.leaseMs);
      this.recovered();
      for (const lease of leases) {
        // Our own lease ran out while its sync still runs (the heartbeat could not renew it): that
        // sync will fail its fence; give the new claim back rather than run the account twice.
        if (this.held.has(accountStream(lease))) {
          await releaseLease(this.pool, this.opts.daemon, lease).catch(() => {});
          continue;
        }
        this.lags.push({ at: Date.now(), ms: lease.lagMs });
        if (this.lags.length > LAG_SAMPLES) this.lags.shift();
        this.opts.onClaim?.(lease);
        void this.run(lease, 'schedule');
      }
      // A full claim: more may be due right now.
      if (leases.length === free && leases.length > 0) setImmediate(() => void this.poll());
    } catch (err) {
      this.failed(err);
    }
  }

  /**
   * A commanded sync: claims the account's row now. When another daemon holds it, its sync is
   * running: undefined, and the caller waits for that sync's result instead of calling the exchange.
   */
  async command(id: AccountId): Promise<Promise<SyncResult | undefined> | undefined> {
    const mine = this.held.get(accountStream(id));
    if (mine) return mine.done;
    let lease = await claimNow(this.pool, this.opts.daemon, id, this.opts.leaseMs);
    if (lease === 'missing') {
      // Asked before start() registered the accounts (the library's sync() on a daemon not started).
      await register(this.pool, this.info(), this.opts.accounts, this.opts.intervalMs);
      lease = await claimNow(this.pool, this.opts.daemon, id, this.opts.leaseMs);
    }
    return typeof lease === 'object' ? this.run(lease, 'command') : undefined;
  }

  private run(lease: Lease, trigger: SyncTrigger): Promise<SyncResult | undefined> {
    const key = accountStream(lease);
    const abort = new AbortController();
    const scheduled = trigger === 'schedule';
    const guard: SyncGuard = {
      check: (tx) => checkLease(tx, this.opts.daemon, lease),
      advance: (tx, outcome) => advance(tx, lease, outcome, scheduled),
      signal: abort.signal,
    };
    const entry = { lease, abort } as Held;
    entry.done = (async () => {
      try {
        return await this.opts.sync(lease, trigger, guard);
      } catch (err) {
        const lost = err instanceof LeaseLostError;
        if (lost) this.opts.logger.warn({ exchange: lease.exchange, account: lease.account, err: err.message }, 'lease lost: sync abandoned, nothing recorded');
        else this.opts.logger.error({ exchange: lease.exchange, account: lease.account, err: (err as Error).message }, 'sync could not be recorded; the tick stays due, retried after a poll interval or a minute');
        // Nothing recorded: hand the tick back so it is claimed again (by whoever is first); one
        // that failed to record waits a little, so a persistent failure does not call the exchange every poll.
        await releaseLease(this.pool, this.opts.daemon, lease, lost ? 0 : Math.min(this.opts.intervalMs, 60_000)).catch(() => {});
        if (trigger === 'command') throw err;
        return undefined;
      } finally {
        if (this.held.get(key) === entry) this.held.delete(key);
      }
    })();
    this.held.set(key, entry);
    return entry.done;
  }

  /** Renews the leases (and says it is alive); a lease gone, or not renewed within its length, aborts its sync. */
  private async beat(): Promise<void> {
    if (!this.running) return;
    // First, without waiting on the database (a stalled connection would hang this beat, and the
    // next ones keep coming): leases not renewed within their length may be another daemon's now,
    // so stop waiting for those exchanges.
    if (Date.now() - this.lastRenewal > this.opts.leaseMs) {
      for (const h of this.held.values()) h.abort.abort(new LeaseLostError(`the lease on ${accountStream(h.lease)} could not be renewed for ${this.opts.leaseMs} ms`));
    }
    const started = Date.now();
    // Only leases held before the renewal can be judged by it (a claim may land meanwhile).
    const judged = [...this.held.values()];
    try {
      const still = await heartbeat(this.pool, this.opts.daemon, this.opts.leaseMs, { inFlight: this.held.size, leases: judged.map((h) => h.lease) });
      this.lastRenewal = started;
      const kept = new Set(still.map((l) => `${accountStream(l)}#${l.fence}`));
      for (const h of judged) {
        const gone = !kept.has(`${accountStream(h.lease)}#${h.lease.fence}`) && this.held.get(accountStream(h.lease)) === h;
        if (gone) h.abort.abort(new LeaseLostError(`the lease on ${accountStream(h.lease)} is gone (another daemon claimed it)`));
      }
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    const error = (err as Error).message;
    if (this.outage?.error === error) return;
    this.outage = { since: this.outage?.since ?? Date.now(), error };
    this.opts.logger.error({ err: error }, 'the schedule cannot be read or claimed; retrying every poll, logged again when it changes');
  }

  private recovered(): void {
    if (!this.outage) return;
    this.opts.logger.info({ downForMs: Date.now() - this.outage.since }, 'the schedule is reachable again');
    this.outage = undefined;
  }

  /** How late claimed ticks started, over the newest claims (ms). */
  lagSummary(): { samples: number; p50: number | null; p99: number | null; max: number | null } {
    const s = this.lags.map((l) => l.ms).sort((a, b) => a - b);
    const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]! : null);
    return { samples: s.length, p50: at(0.5), p99: at(0.99), max: s.length ? s[s.length - 1]! : null };
  }

  /** The lags (ms) of the ticks claimed since `since` (ms since epoch), among the newest kept. */
  lagsSince(since: number): number[] {
    return this.lags.filter((l) => l.at >= since).map((l) => l.ms);
  }

  /** Stops claiming; waits (bounded by the caller) for the syncs in flight, then hands every lease back. */
  async stop(settled: Promise<unknown>): Promise<void> {
    this.running = false;
    clearInterval(this.pollTimer);
    clearInterval(this.beatTimer);
    await settled;
    IN_THIS_PROCESS.delete(this.opts.daemon);
    await leave(this.pool, this.opts.daemon).catch((err) => this.opts.logger.warn({ err: (err as Error).message }, 'could not hand the leases back; they end on their own'));
  }
}
