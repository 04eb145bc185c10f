// Latencies, p50/p99 in ms, each next to the floor it is built on, measured in the same run:
//  (a) store.append returning -> the live projector (createProjector + Notifier) having committed
//      that event (onProgress); floor: the same append called -> its NOTIFY arriving at a LISTEN
//      client (the NOTIFY often lands before the append's own reply, so it is timed from the call).
//  (b) with a Daemon running against the emulator: `<prefix>.cmd.sync {wait:false}` -> the
//      account's sync_completed arriving at a NATS subscriber of `<prefix>.evt.>` (end to end,
//      exchange time included); the same less the sync's fetch time (its fetchMs: the exchange's
//      part, requests and ccxt's rate-limit waits); and the part after the exchange: the sync's
//      append returning -> arrival. Floor: a js.publish to a scratch stream -> arrival at a subscriber.
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { Daemon } from '../src/daemon/daemon.js';
import type { Pool } from '../src/events/db.js';
import { EventStore, type NewEvent } from '../src/events/store.js';
import { NOTIFY_CHANNEL, Notifier } from '../src/events/subscription.js';
import { decodePayload } from '../src/daemon/relay-payload.js';
import { startEmulator } from '../src/emulator/index.js';
import { silentLogger } from '../src/log.js';
import { createProjector, PROJECTIONS, type Projection } from '../src/projections/index.js';
import { benchAccounts, benchConfig, percentile, seedEmulator, sleep } from './common.js';
import { syncEvents } from './rebuild.js';
import type { Figure } from './report.js';

const now = () => performance.now();
const TARGET_P99_MS = 50;

function pair(name: string, samples: number[], floorName: string, floor: number[], limit?: number): Figure[] {
  const s = [...samples].sort((a, b) => a - b);
  const f = [...floor].sort((a, b) => a - b);
  return (['p50', 'p99'] as const).map((p) => ({
    name: `${name} ${p} (n=${s.length})`,
    unit: 'ms',
    value: percentile(s, p === 'p50' ? 50 : 99),
    baselineName: `${floorName} ${p}`,
    baseline: percentile(f, p === 'p50' ? 50 : 99),
    lowerIsBetter: true,
    ...(p === 'p99' && limit !== undefined ? { max: limit } : {}),
  }));
}

/**
 * Samples, every 50 ms, write transactions open in OTHER databases of the same PostgreSQL
 * cluster. pg_current_snapshot()'s xmin is cluster-wide, so such a transaction holds back the
 * read horizon of every subscriber here (measured: a transaction open in database A makes
 * pg_snapshot_xmin in database B equal to its xid). A latency tail should be read with this.
 */
export function watchForeignTransactions(pool: Pool): { stop(): Promise<{ maxAgeMs: number; busyShare: number }> } {
  let maxAgeMs = 0;
  let busy = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await pool
        .query<{ n: number; age: number }>(
          `SELECT count(*)::int AS n, coalesce(max(extract(epoch FROM clock_timestamp() - xact_start) * 1000), 0)::float8 AS age
           FROM pg_stat_activity WHERE datname IS DISTINCT FROM current_database() AND backend_xid IS NOT NULL`,
        )
        .catch(() => ({ rows: [{ n: 0, age: 0 }] }));
      samples += 1;
      if (rows[0]!.n > 0) busy += 1;
      maxAgeMs = Math.max(maxAgeMs, rows[0]!.age);
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { maxAgeMs, busyShare: samples ? busy / samples : 0 };
    },
  };
}

export function foreignFigure(what: string, w: { maxAgeMs: number; busyShare: number }): Figure {
  return { name: `  other DBs' write tx during ${what} (${(w.busyShare * 100).toFixed(0)}%)`, unit: 'ms max', value: w.maxAgeMs, lowerIsBetter: true };
}

/** A waiter keyed by some id, resolved when the id is seen. */
class Arrivals<K> {
  private readonly seen = new Map<K, number>();
  private readonly waiting = new Map<K, (t: number) => void>();
  reset(): void {
    this.seen.clear();
  }
  mark(k: K, t = now()): void {
    const w = this.waiting.get(k);
    if (w) {
      this.waiting.delete(k);
      w(t);
    } else this.seen.set(k, t);
  }
  wait(k: K, timeoutMs = 10_000): Promise<number> {
    const t = this.seen.get(k);
    if (t !== undefined) {
      this.seen.delete(k);
      return Promise.resolve(t);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${String(k)}`)), timeoutMs);
      this.waiting.set(k, (at) => (clearTimeout(timer), resolve(at)));
    });
  }
}

export interface ProjectionLatencyOptions {
  samples: number;
  /** What is watched (default every projection): an event counts once all of these committed it. */
  projections?: readonly Projection[];
  /** What append i writes (default: one sync of one of 20 accounts). */
  events?: (i: number) => { stream: string; events: NewEvent[] };
  name?: string;
}

export async function benchProjectionLatency(pool: Pool, dbUrl: string, opts: ProjectionLatencyOptions): Promise<Figure[]> {
  const store = new EventStore(pool);
  const notifier = new Notifier(dbUrl);
  const projected = new Arrivals<number>();
  const projections = opts.projections ?? PROJECTIONS;
  const appendOf = opts.events ?? ((i: number) => ({ stream: `bybit:lat${i % 20}`, events: syncEvents(i % 20, i) }));
  // An event is projected when every projection has committed it (each has its own checkpoint).
  let highest = 0;
  const reached = new Map(projections.map((p) => [p.name, 0]));
  const projector = createProjector(store, {
    projections,
    notifier,
    pollMs: 2000,
    onProgress: (name, end) => {
      reached.set(name, Math.max(reached.get(name) ?? 0, end.globalPosition));
      const all = Math.min(...reached.values());
      const t = now();
      for (let p = highest + 1; p <= all; p++) projected.mark(p, t);
      highest = Math.max(highest, all);
    },
  });
  const listen = new pg.Client({ connectionString: dbUrl });
  await listen.connect();
  await listen.query(`LISTEN ${NOTIFY_CHANNEL}`);
  let notified: (() => void) | undefined;
  listen.on('notification', () => notified?.());
  projector.start();
  await projector.caughtUp();
  const samples: number[] = [];
  const floor: number[] = [];
  try {
    for (let i = 0; i < opts.samples + 10; i++) {
      // Floor: the same append, timed to its NOTIFY arriving (the projector sees it too).
      const gotNotify = new Promise<number>((resolve) => (notified = () => resolve(now())));
      const tCall = now();
      const next = appendOf(i);
      const res = await store.append(next.stream, next.events);
      const t0 = now();
      const last = res.events[res.events.length - 1]!.globalPosition;
      const [tn, tp] = await Promise.all([gotNotify, projected.wait(last)]);
      if (i >= 10) {
        samples.push(tp - t0);
        floor.push(tn - tCall);
      }
      await sleep(2);
    }
  } finally {
    await projector.stop();
    await notifier.stop();
    await listen.end();
  }
  return pair(opts.name ?? 'latency, append -> projection committed', samples, 'append call -> NOTIFY', floor, TARGET_P99_MS);
}

export async function benchRelayLatency(dbUrl: string, opts: { samples: number }): Promise<Figure[]> {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `es_bench_${suffix}`;
  const streamName = `ES_BENCH_${suffix.toUpperCase()}`;
  const floorStream = `${streamName}_FLOOR`;
  const emu = await startEmulator({ port: 0, scenario: 'empty', driftMs: 0 });
  const accounts = 10;
  seedEmulator(emu, accounts);
  // History off: the figure is the recording path, and history fetches would be exchange time the fetch time does not count.
  const daemon = new Daemon({ ...benchConfig(dbUrl, benchAccounts(accounts, emu.url), { prefix, stream: streamName }), history: null }, { logger: silentLogger(), pollMs: 2000 });
  const nc = await connect({ servers: (process.env.NATS_URL ?? 'nats://127.0.0.1:4222').replace(/^nats:\/\//, '') });
  const jsm = await jetstreamManager(nc);
  // Instrument the daemon's own store instance (no product change): note when each append returns.
  const appendedAt = new Map<string, number>();
  const store = daemon.store;
  const append = store.append.bind(store);
  store.append = async (...args: Parameters<EventStore['append']>) => {
    const r = await append(...args);
    const t = now();
    for (const e of r.events) appendedAt.set(e.id, t);
    return r;
  };
  const arrived = new Arrivals<string>(); // key: account name of a sync_completed
  const arrivedIds = new Map<string, number>();
  const fetchMsOf = new Map<string, number>(); // account -> fetchMs of its last sync_completed
  const sub = nc.subscribe(`${prefix}.evt.>`, {
    callback: (_err, m) => {
      const t = now();
      const id = m.headers?.get('Nats-Msg-Id');
      if (id) arrivedIds.set(id, t);
      const [, , , account, type] = m.subject.split('.');
      if (type === 'sync_completed' && account) {
        fetchMsOf.set(account, (decodePayload(m.data, m.headers).data as { fetchMs: number }).fetchMs);
        arrived.mark(account, t);
      }
    },
  });
  const endToEnd: number[] = [];
  const withoutExchange: number[] = [];
  const afterExchange: number[] = [];
  const floor: number[] = [];
  try {
    await daemon.start();
    for (let i = 0; i < 200 && !daemon.nats; i++) await sleep(50);
    await nc.request(`${prefix}.cmd.status`, '', { timeout: 10_000 });
    // Warm every account (markets, instances) and the relay, off the clock.
    await nc.request(`${prefix}.cmd.sync`, JSON.stringify({ wait: true }), { timeout: 60_000 });
    await sleep(300);
    for (let i = 0; i < opts.samples; i++) {
      const account = `a${i % accounts}`;
      arrived.reset();
      const waitArrival = arrived.wait(account);
      const t0 = now();
      const reply = await nc.request(`${prefix}.cmd.sync`, JSON.stringify({ exchange: 'bybit', account, wait: false }), { timeout: 10_000 });
      if (reply.headers?.get('Nats-Service-Error')) throw new Error(`sync command refused: ${reply.string()}`);
      const t1 = await waitArrival;
      endToEnd.push(t1 - t0);
      // The exchange's part is the sync's own fetch time (requests and ccxt's rate-limit waits).
      withoutExchange.push(t1 - t0 - fetchMsOf.get(account)!);
      await sleep(5);
    }
    // The part after the exchange: every event of the measured syncs, append returned -> arrived.
    for (const [id, t] of appendedAt) {
      const a = arrivedIds.get(id);
      if (a !== undefined) afterExchange.push(a - t);
    }
    afterExchange.splice(0, afterExchange.length - opts.samples * 2);

    // Floor: a JetStream publish of a like-sized payload to a scratch stream -> a subscriber.
    await jsm.streams.add({ name: floorStream, subjects: [`${prefix}.floor.>`] });
    const js = jetstream(nc);
    const floorArrived = new Arrivals<string>();
    const fsub = nc.subscribe(`${prefix}.floor.>`, { callback: (_e, m) => floorArrived.mark(m.subject) });
    const payload = JSON.stringify({ data: syncEvents(0, 0)[0]!.data });
    for (let i = 0; i < opts.samples + 10; i++) {
      const subject = `${prefix}.floor.m${i}`;
      const got = floorArrived.wait(subject);
      const t0 = now();
      await js.publish(subject, payload, { msgID: `floor-${suffix}-${i}` });
      const t1 = await got;
      if (i >= 10) floor.push(t1 - t0);
    }
    fsub.unsubscribe();
  } finally {
    sub.unsubscribe();
    await daemon.stop();
    await jsm.streams.delete(streamName).catch(() => {});
    await jsm.streams.delete(floorStream).catch(() => {});
    await nc.close();
    await emu.close();
  }
  return [
    ...pair('latency, cmd.sync -> JetStream msg (e2e)', endToEnd, 'js.publish -> msg', floor),
    ...pair('latency, cmd.sync -> JetStream msg, less fetch time', withoutExchange, 'js.publish -> msg', floor, TARGET_P99_MS),
    ...pair('latency, append -> JetStream msg', afterExchange, 'js.publish -> msg', floor, TARGET_P99_MS),
  ];
}
