// The schedule table's statements (schema/009_schedule.sql): register, claim, renew, check and
// advance under the fence, hand back, and what status reads. Time is the database's (now()), so
// the daemons' clocks need not agree.
import { hostname } from 'node:os';
import type { Queryable } from '../events/db.js';
import type { AccountId } from '../events/streams.js';
import { backoffIntervals, nextDue, offsetOf } from './ticks.js';

/** A claim: the account is this daemon's to sync until the lease ends, and only with this fence. */
export interface Lease extends AccountId {
  fence: number;
  /** The tick it was claimed for (ms since epoch). */
  dueAt: number;
  /** How late the claim came after that tick (ms; 0 for a commanded sync). */
  lagMs: number;
}

export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

export interface DaemonInfo {
  daemon: string;
  startedAt: string;
  /** A registration counts while the daemon's heartbeat is younger than this. */
  ttlMs: number;
  scheduling: boolean;
}

const pairs = (ids: readonly AccountId[]) => [ids.map((i) => i.exchange), ids.map((i) => i.account)];

/**
 * Says this daemon is alive and serves `accounts`: its daemons row, a schedule row for each
 * account not yet scheduled (due at once: a new account's first sync), and its registrations.
 */
export async function register(db: Queryable, me: DaemonInfo, accounts: readonly AccountId[], intervalMs: number): Promise<void> {
  await db.query(
    `INSERT INTO exchange_sync.daemons (daemon, host, pid, started_at, heartbeat_at, ttl_ms, scheduling)
     VALUES ($1, $2, $3, $4, now(), $5, $6)
     ON CONFLICT (daemon) DO UPDATE SET heartbeat_at = now(), ttl_ms = EXCLUDED.ttl_ms, scheduling = EXCLUDED.scheduling`,
    [me.daemon, hostname(), process.pid, me.startedAt, me.ttlMs, me.scheduling],
  );
  const [exchanges, names] = pairs(accounts);
  // The interval and offset follow the newest registration (daemons sharing an account should share the interval).
  await db.query(
    `INSERT INTO exchange_sync.schedule (exchange, account, tick_at, due_at, interval_ms, offset_ms)
     SELECT u.exchange, u.account, now(), now(), $3, u.offset_ms FROM unnest($1::text[], $2::text[], $4::bigint[]) AS u (exchange, account, offset_ms)
     ON CONFLICT (exchange, account) DO UPDATE SET interval_ms = EXCLUDED.interval_ms, offset_ms = EXCLUDED.offset_ms
       WHERE schedule.interval_ms <> EXCLUDED.interval_ms OR schedule.offset_ms <> EXCLUDED.offset_ms`,
    [exchanges, names, Math.round(intervalMs), accounts.map((a) => offsetOf(a, intervalMs))],
  );
  await db.query(
    `DELETE FROM exchange_sync.schedule_registrations r WHERE r.daemon = $1
       AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS u (exchange, account) WHERE u.exchange = r.exchange AND u.account = r.account)`,
    [me.daemon, exchanges, names],
  );
  await db.query(
    `INSERT INTO exchange_sync.schedule_registrations (daemon, exchange, account)
     SELECT $1, u.exchange, u.account FROM unnest($2::text[], $3::text[]) AS u (exchange, account) ON CONFLICT DO NOTHING`,
    [me.daemon, exchanges, names],
  );
}

/**
 * The heartbeat, with what the daemon holds, and the leases of the syncs it is running renewed:
 * only those, so a row whose release was lost (the database went away meanwhile) runs out and is
 * claimed again instead of being renewed forever. Returns the leases it still holds.
 */
export async function heartbeat(db: Queryable, daemon: string, leaseMs: number, held: { inFlight: number; leases: readonly Lease[] }): Promise<{ exchange: string; account: string; fence: number }[]> {
  const leases = [held.leases.map((l) => l.exchange), held.leases.map((l) => l.account), held.leases.map((l) => l.fence)];
  const { rows } = await db.query<{ exchange: string; account: string; fence: string }>(
    `UPDATE exchange_sync.schedule s SET lease_until = now() + $2 * interval '1 millisecond', due_at = now() + $2 * interval '1 millisecond'
     FROM unnest($3::text[], $4::text[], $5::bigint[]) AS u (exchange, account, fence)
     WHERE s.owner = $1 AND s.exchange = u.exchange AND s.account = u.account AND s.fence = u.fence
     RETURNING s.exchange, s.account, s.fence`,
    [daemon, leaseMs, ...leases],
  );
  await db.query(`UPDATE exchange_sync.daemons SET heartbeat_at = now(), leases = $2, in_flight = $3 WHERE daemon = $1`, [daemon, rows.length, held.inFlight]);
  return rows.map((r) => ({ exchange: r.exchange, account: r.account, fence: Number(r.fence) }));
}

const LEASE_COLUMNS = `s.exchange, s.account, s.fence, (extract(epoch FROM s.tick_at) * 1000)::float8 AS due_ms,
  greatest(0, extract(epoch FROM now() - s.tick_at) * 1000)::float8 AS lag_ms`;
type LeaseRow = { exchange: string; account: string; fence: string; due_ms: number; lag_ms: number };
const toLease = (r: LeaseRow, commanded = false): Lease => ({ exchange: r.exchange, account: r.account, fence: Number(r.fence), dueAt: r.due_ms, lagMs: commanded ? 0 : r.lag_ms });

/**
 * Up to `limit` due accounts this daemon serves and nobody holds, oldest tick first. Rows another
 * daemon is claiming this instant are skipped, not waited for.
 */
export async function claimDue(db: Queryable, daemon: string, limit: number, leaseMs: number): Promise<Lease[]> {
  if (limit <= 0) return [];
  const { rows } = await db.query<LeaseRow>(
    // The locked rows are updated by their ctids (a TID scan): joined back by key, the planner
    // may hash the whole table on every claim. OFFSET 0 keeps the registration check a per-row
    // test in due order (a semi-join may be driven from all of this daemon's registrations).
    `UPDATE exchange_sync.schedule s SET owner = $1, lease_until = now() + $3 * interval '1 millisecond', due_at = now() + $3 * interval '1 millisecond', fence = s.fence + 1
     WHERE s.ctid = ANY (ARRAY(
       SELECT d.ctid FROM exchange_sync.schedule d
       WHERE d.due_at <= now()
         AND EXISTS (SELECT 1 FROM exchange_sync.schedule_registrations r WHERE r.exchange = d.exchange AND r.account = d.account AND r.daemon = $1 OFFSET 0)
       ORDER BY d.due_at
       LIMIT $2
       FOR UPDATE OF d SKIP LOCKED))
     RETURNING ${LEASE_COLUMNS}`,
    [daemon, limit, leaseMs],
  );
  return rows.map((r) => toLease(r));
}

/** Claims one account now, due or not (a commanded sync): `held` when another daemon holds it, `missing` when it has no row. */
export async function claimNow(db: Queryable, daemon: string, id: AccountId, leaseMs: number): Promise<Lease | 'held' | 'missing'> {
  const { rows } = await db.query<LeaseRow>(
    `UPDATE exchange_sync.schedule s SET owner = $1, lease_until = now() + $4 * interval '1 millisecond', due_at = greatest(s.due_at, now() + $4 * interval '1 millisecond'), fence = s.fence + 1
     WHERE s.exchange = $2 AND s.account = $3 AND (s.owner IS NULL OR s.lease_until < now())
     RETURNING ${LEASE_COLUMNS}`,
    [daemon, id.exchange, id.account, leaseMs],
  );
  if (rows[0]) return toLease(rows[0], true);
  const exists = await db.query('SELECT 1 FROM exchange_sync.schedule WHERE exchange = $1 AND account = $2', [id.exchange, id.account]);
  return exists.rows.length ? 'held' : 'missing';
}

/**
 * In the sync's own transaction, after its append and before the commit: the row locked, and still
 * this lease's. A daemon whose lease was taken over (a newer fence) gets LeaseLostError, and its
 * append rolls back: it records nothing.
 */
export async function checkLease(tx: Queryable, daemon: string, lease: Lease): Promise<void> {
  const { rows } = await tx.query<{ owner: string | null; fence: string }>(
    `SELECT owner, fence FROM exchange_sync.schedule WHERE exchange = $1 AND account = $2 FOR UPDATE`,
    [lease.exchange, lease.account],
  );
  const row = rows[0];
  if (!row || row.owner !== daemon || Number(row.fence) !== lease.fence) {
    throw new LeaseLostError(`the lease on ${lease.exchange}:${lease.account} was taken over (fence ${lease.fence}, now ${row?.fence ?? 'none'}); this sync records nothing`);
  }
}

/**
 * In the same transaction, after the append: the lease ends, and a scheduled sync moves the row
 * to its next tick (held back by the backoff after failures). A commanded sync keeps the tick.
 */
export async function advance(tx: Queryable, lease: Lease, outcome: { ok: boolean; errorClass?: string }, scheduled: boolean): Promise<void> {
  const { rows } = await tx.query<{ interval_ms: string; offset_ms: string; failures: number; due_ms: number; now_ms: number }>(
    `SELECT interval_ms, offset_ms, failures, (extract(epoch FROM tick_at) * 1000)::float8 AS due_ms, (extract(epoch FROM now()) * 1000)::float8 AS now_ms
     FROM exchange_sync.schedule WHERE exchange = $1 AND account = $2`,
    [lease.exchange, lease.account],
  );
  const row = rows[0]!;
  const failures = outcome.ok ? 0 : row.failures + 1;
  const authLike = outcome.errorClass === 'auth' || outcome.errorClass === 'permission';
  const hold = outcome.ok ? 1 : backoffIntervals(failures, authLike);
  const due = scheduled ? nextDue(row.due_ms, Number(row.offset_ms), Number(row.interval_ms), row.now_ms, hold) : row.due_ms;
  await tx.query(
    `UPDATE exchange_sync.schedule SET owner = NULL, lease_until = NULL, tick_at = to_timestamp($3 / 1000.0), due_at = to_timestamp($3 / 1000.0), failures = $4,
       last_error_class = $5, last_synced_at = now()
     WHERE exchange = $1 AND account = $2`,
    [lease.exchange, lease.account, due, failures, outcome.ok ? null : (outcome.errorClass ?? 'internal')],
  );
}

/**
 * Gives a lease back without a sync recorded: the tick stays due, claimable again after `holdMs`
 * (a sync that failed to record is not retried on every poll).
 */
export async function releaseLease(db: Queryable, daemon: string, lease: Lease, holdMs = 0): Promise<void> {
  await db.query(
    `UPDATE exchange_sync.schedule SET owner = NULL, lease_until = NULL, due_at = greatest(tick_at, now() + $5 * interval '1 millisecond')
     WHERE exchange = $1 AND account = $2 AND owner = $3 AND fence = $4`,
    [lease.exchange, lease.account, daemon, lease.fence, holdMs],
  );
}

/** Whether a process with this pid runs on this machine (EPERM: it does, under another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * At start: daemons of this machine that are gone (their pid runs no more, or is ours but not one
 * of this process's daemons: a restarted container) leave the fleet now, their leases back at once, instead of after the lease runs out.
 * A supervisor's restart after a crash then picks up where the dead process stood.
 */
export async function releaseDeadNeighbours(db: Queryable, daemon: string, inThisProcess: ReadonlySet<string>): Promise<string[]> {
  const { rows } = await db.query<{ daemon: string; pid: number }>(`SELECT daemon, pid FROM exchange_sync.daemons WHERE host = $1 AND daemon <> $2`, [hostname(), daemon]);
  const dead = rows.filter((r) => (r.pid === process.pid ? !inThisProcess.has(r.daemon) : !running(r.pid))).map((r) => r.daemon);
  for (const d of dead) await leave(db, d);
  return dead;
}

/** On shutdown: every lease back at once, the registrations gone, the daemon off the list. */
export async function leave(db: Queryable, daemon: string): Promise<void> {
  await db.query(`UPDATE exchange_sync.schedule SET owner = NULL, lease_until = NULL, due_at = tick_at WHERE owner = $1`, [daemon]);
  await db.query(`DELETE FROM exchange_sync.schedule_registrations WHERE daemon = $1`, [daemon]);
  await db.query(`DELETE FROM exchange_sync.daemons WHERE daemon = $1`, [daemon]);
}

export interface FleetDaemon {
  daemon: string;
  host: string;
  pid: number;
  startedAt: string;
  heartbeatAt: string;
  alive: boolean;
  scheduling: boolean;
  leases: number;
  inFlight: number;
}

export interface ScheduleRow extends AccountId {
  dueAt: string;
  owner: string | null;
  failures: number;
  lastErrorClass: string | null;
  /** Some live daemon that schedules registered it. */
  served: boolean;
}

/** The fleet as the database sees it: each daemon (alive: heartbeat within its ttl), and every scheduled account. */
export async function fleetStatus(db: Queryable): Promise<{ daemons: FleetDaemon[]; accounts: ScheduleRow[] }> {
  const daemons = await db.query<{ daemon: string; host: string; pid: number; started_at: Date; heartbeat_at: Date; alive: boolean; scheduling: boolean; leases: number; in_flight: number }>(
    `SELECT daemon, host, pid, started_at, heartbeat_at, heartbeat_at > now() - ttl_ms * interval '1 millisecond' AS alive, scheduling, leases, in_flight
     FROM exchange_sync.daemons ORDER BY started_at, daemon`,
  );
  const accounts = await db.query<{ exchange: string; account: string; due_at: Date; owner: string | null; failures: number; last_error_class: string | null; served: boolean }>(
    `SELECT s.exchange, s.account, s.tick_at AS due_at, s.owner, s.failures, s.last_error_class,
       EXISTS (SELECT 1 FROM exchange_sync.schedule_registrations r JOIN exchange_sync.daemons d ON d.daemon = r.daemon
               WHERE r.exchange = s.exchange AND r.account = s.account AND d.scheduling AND d.heartbeat_at > now() - d.ttl_ms * interval '1 millisecond') AS served
     FROM exchange_sync.schedule s ORDER BY s.exchange, s.account`,
  );
  return {
    daemons: daemons.rows.map((d) => ({
      daemon: d.daemon,
      host: d.host,
      pid: d.pid,
      startedAt: d.started_at.toISOString(),
      heartbeatAt: d.heartbeat_at.toISOString(),
      alive: d.alive,
      scheduling: d.scheduling,
      leases: d.leases,
      inFlight: d.in_flight,
    })),
    accounts: accounts.rows.map((a) => ({
      exchange: a.exchange,
      account: a.account,
      dueAt: a.due_at.toISOString(),
      owner: a.owner,
      failures: a.failures,
      lastErrorClass: a.last_error_class,
      served: a.served,
    })),
  };
}

/** How many scheduled accounts no live daemon serves (for /metrics). */
export async function unservedCount(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM exchange_sync.schedule s WHERE NOT EXISTS (
       SELECT 1 FROM exchange_sync.schedule_registrations r JOIN exchange_sync.daemons d ON d.daemon = r.daemon
       WHERE r.exchange = s.exchange AND r.account = s.account AND d.scheduling AND d.heartbeat_at > now() - d.ttl_ms * interval '1 millisecond')`,
  );
  return rows[0]?.n ?? 0;
}
