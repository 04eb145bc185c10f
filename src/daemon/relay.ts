// The JetStream relay: every event of the PostgreSQL log, once, in log order, on
// `<prefix>.evt.<exchange>.<account>.<type>`. It is a checkpointed Subscription whose batch
// handler awaits each publish's ack before the next, and whose checkpoint commits only after the
// whole batch is acked: an outage delays events, it never loses them. What the checkpoint cannot
// know (events the stream acked in a pass that then failed, in this process, another daemon or
// before a crash) is read back from the stream at the start of every pass, so the 2-minute
// duplicate window only has to cover the races of a few milliseconds. See docs/relay.md.
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { EVENT_TYPE } from '../events/catalog.js';
import { lockCheckpoint, saveCheckpoint } from '../events/checkpoints.js';
import { withTransaction, type PoolClient, type Queryable } from '../events/db.js';
import { toEnvelope } from '../events/envelope.js';
import { subscriberLag, type SubscriberLag } from '../events/lag.js';
import { compareCursors, cursorOf, type Cursor } from '../events/cursor.js';
import type { EventStore, RecordedEvent } from '../events/store.js';
import { parseAccountStream } from '../events/streams.js';
import { Subscription, type Notifier } from '../events/subscription.js';
import { ensureStream } from './jetstream-stream.js';
import { CONTENT_ENCODING, DEFAULT_MAX_PAYLOAD, encodePayload } from './relay-payload.js';

/** `<transactionId>:<globalPosition>` of the event: its place in the log's read order. */
export const CURSOR_HEADER = 'Exchange-Sync-Cursor';

export function relaySubscriberName(streamName: string): string {
  return `relay:${streamName}`;
}

export interface RelayOptions {
  nc: NatsConnection;
  store: EventStore;
  /** Wakes the relay as soon as an event commits; without it the relay polls every pollMs. */
  notifier?: Notifier;
  /** Subject prefix, e.g. `exchange_sync`. */
  prefix: string;
  /** JetStream stream name, e.g. `EXCHANGE_SYNC`. */
  streamName: string;
  logger: Logger;
  batchSize?: number;
  pollMs?: number;
  /** How long one publish waits for its ack before the pass fails and is retried. */
  publishTimeoutMs?: number;
}

export interface RelayStats {
  /** Messages this process added to the stream (one whose ack a server stop lost is counted when the next pass finds it there). */
  relayed: number;
  /** Publishes the stream recognized by Nats-Msg-Id as already stored (a retried pass). */
  duplicates: number;
  /** Events found already in the stream when resuming, so not published again. */
  skipped: number;
  /** Of `relayed`, how many went out gzip-compressed. */
  gzipped: number;
  /** Passes that failed and were retried (NATS or PostgreSQL unavailable, payload too large). */
  failedPasses: number;
  lastGlobalPosition: number | undefined;
  lastRelayedAt: Date | undefined;
  /** Why the last pass failed, until a pass succeeds. */
  lastError: string | undefined;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function eventSubject(prefix: string, e: Pick<RecordedEvent, 'streamId' | 'type'>): string {
  const { exchange, account } = parseAccountStream(e.streamId);
  // A bad token would publish to a different subject (a '.') or be refused (a '*', '>', space);
  // stopping at the event makes the bug visible instead of mis-filing it.
  if (!TOKEN.test(exchange) || !TOKEN.test(account) || !EVENT_TYPE.test(e.type)) {
    throw new Error(`event stream "${e.streamId}" / type "${e.type}" does not make a valid NATS subject`);
  }
  return `${prefix}.evt.${exchange}.${account}.${e.type}`;
}

// The server counts headers against max_payload too. NATS/1.0 line, "Key: value\r\n" each, a
// blank line; Nats-Msg-Id and Nats-Expected-Stream are added by js.publish.
function headerBytes(entries: [string, string][]): number {
  return entries.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 4, 'NATS/1.0\r\n\r\n'.length);
}

export class Relay {
  private readonly js: JetStreamClient;
  private readonly subscription: Subscription;
  private readonly log: Logger;
  private readonly filter: string;
  private readonly publishTimeoutMs: number;
  // Set until set-up succeeds and after any failed pass: the stream may have been deleted (then
  // it is created again, empty, and relaying goes on from the checkpoint).
  private needsStream = true;
  // Published by this process, ack not (yet) received: a server that stops between storing a
  // message and acking it leaves such an event in the stream. The next pass finds it there and
  // counts it as relayed by us, not as found. (If another daemon's pass stored it and then rolled
  // back, both count it: `relayed` is per process, the stream holds it once either way.)
  private readonly unacked = new Set<string>();
  private started = false;
  private readonly counters: RelayStats = {
    relayed: 0,
    duplicates: 0,
    skipped: 0,
    gzipped: 0,
    failedPasses: 0,
    lastGlobalPosition: undefined,
    lastRelayedAt: undefined,
    lastError: undefined,
  };

  constructor(
    private readonly opts: RelayOptions,
    private readonly jsm: JetStreamManager,
  ) {
    this.js = jetstream(opts.nc);
    this.log = opts.logger.child({ component: 'relay', stream: opts.streamName });
    this.filter = `${opts.prefix}.evt.>`;
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 5000;
    this.subscription = new Subscription(opts.store, opts.notifier, {
      name: relaySubscriberName(opts.streamName),
      batchSize: opts.batchSize ?? 500,
      pollMs: opts.pollMs,
      logger: this.log,
      handler: (events, tx) => this.relayBatch(events, tx),
      onProgress: () => {
        this.counters.lastError = undefined;
      },
      onError: (err) => {
        this.counters.failedPasses += 1;
        this.counters.lastError = err.message;
        this.needsStream = true;
      },
    });
  }

  get name(): string {
    return this.subscription.name;
  }

  get stats(): Readonly<RelayStats> {
    return { ...this.counters };
  }

  /** The relay's read cursor as of its last committed pass. */
  get position(): Cursor {
    return this.subscription.position;
  }

  /**
   * Creates or updates the stream, moves the checkpoint up to what the stream already holds,
   * then starts relaying. NATS being unreachable is not an error: the first pass after it
   * returns does the same set-up. A stream the server refuses (e.g. its subjects overlap
   * another stream's) is, because no retry will fix it.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      await this.ensure();
      await this.resumeFromStream();
    } catch (err) {
      if (err instanceof JetStreamApiError) {
        this.started = false;
        throw new Error(`JetStream stream ${this.opts.streamName}: ${err.message}`, { cause: err });
      }
      this.log.warn({ err: (err as Error).message }, 'relay set-up deferred: NATS or PostgreSQL not reachable; retrying in the relay loop');
    }
    this.subscription.start();
  }

  /** Waits for the pass in flight (its publishes acked or failed, its checkpoint committed or rolled back). Call before nc.drain(). */
  async stop(): Promise<void> {
    await this.subscription.stop();
    this.started = false;
  }

  /** Resolves once everything committed before this call is in the stream (never, during an outage). */
  caughtUp(): Promise<void> {
    return this.subscription.caughtUp();
  }

  lag(): Promise<SubscriberLag> {
    return subscriberLag(this.opts.store.pool, this.name);
  }

  private async ensure(): Promise<void> {
    await ensureStream(this.jsm, { name: this.opts.streamName, subjects: [this.filter] }, this.log);
    this.needsStream = false;
  }

  // At start: one transaction under the checkpoint's row lock (so another relay of the same
  // name is not mid-pass), advancing the checkpoint to the stream's last event if it is ahead.
  private async resumeFromStream(): Promise<void> {
    await withTransaction(this.opts.store.pool, async (client) => {
      const checkpoint = await lockCheckpoint(client, this.name);
      const tail = await this.streamTail(client);
      if (tail && compareCursors(tail, checkpoint) > 0) {
        await saveCheckpoint(client, this.name, tail);
        this.log.info({ from: checkpoint, to: tail }, 'relay checkpoint advanced to the last event the stream already holds');
      }
    });
  }

  /**
   * The log cursor of the stream's last message, found by its Nats-Msg-Id in our own log (the
   * cursor header is for people; the log is the authority). Undefined for an empty or purged
   * stream, and for a last message that is not an event of this log.
   */
  private async streamTail(db: Queryable): Promise<Cursor | undefined> {
    const last = await this.jsm.streams.getMessage(this.opts.streamName, { last_by_subj: this.filter });
    if (!last) return undefined;
    const id = last.header?.get('Nats-Msg-Id') ?? '';
    if (!UUID.test(id)) {
      this.log.warn({ seq: last.seq, subject: last.subject }, 'last message in the stream has no event id: not resuming from it');
      return undefined;
    }
    const { rows } = await db.query<{ transaction_id: string; global_position: string }>(
      'SELECT transaction_id::text, global_position FROM exchange_sync.events WHERE event_id = $1',
      [id],
    );
    const row = rows[0];
    if (!row) {
      this.log.warn({ seq: last.seq, eventId: id }, 'last message in the stream is not an event of this database (another deployment on the same stream?): not resuming from it');
      return undefined;
    }
    return { transactionId: row.transaction_id, globalPosition: Number(row.global_position) };
  }

  private async relayBatch(events: RecordedEvent[], tx: PoolClient): Promise<void> {
    if (this.needsStream) await this.ensure();
    // Every pass asks the stream what it already holds: under the checkpoint's row lock nobody
    // else publishes meanwhile, and events the stream acked in a pass whose commit never came
    // (ours, another daemon's, or before a crash) are skipped, not resent. One round trip per
    // batch; it is what keeps "never twice" from depending on the duplicate window.
    let skipThrough = await this.streamTail(tx);
    // Strictly one at a time: event n+1 is sent only after n is stored, so the stream's order
    // is the log's order even when a publish fails half-way through a batch.
    for (const event of events) {
      const cursor = cursorOf(event);
      if (skipThrough) {
        if (compareCursors(cursor, skipThrough) <= 0) {
          if (this.unacked.delete(event.id)) {
            this.counters.relayed += 1;
            this.counters.lastGlobalPosition = event.globalPosition;
            this.counters.lastRelayedAt = new Date();
          } else {
            this.counters.skipped += 1;
          }
          continue;
        }
        skipThrough = undefined;
      }
      await this.publish(event, cursor);
    }
  }

  private async publish(event: RecordedEvent, cursor: Cursor): Promise<void> {
    const subject = eventSubject(this.opts.prefix, event);
    const own: [string, string][] = [
      [CURSOR_HEADER, `${cursor.transactionId}:${cursor.globalPosition}`],
      ['Content-Type', 'application/json'],
    ];
    const maxPayload = this.opts.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    const budget =
      maxPayload - headerBytes([...own, [CONTENT_ENCODING, 'gzip'], ['Nats-Msg-Id', event.id], ['Nats-Expected-Stream', this.opts.streamName]]);
    const payload = await encodePayload(toEnvelope(event), budget);
    const h = natsHeaders();
    for (const [k, v] of own) h.set(k, v);
    if (payload.gzip) h.set(CONTENT_ENCODING, 'gzip');
    const retried = this.unacked.has(event.id);
    // Ids left by passes another daemon finished for us are never cleared otherwise: the oldest go.
    if (this.unacked.size >= 10_000) this.unacked.delete(this.unacked.values().next().value!);
    this.unacked.add(event.id);
    const ack = await this.js.publish(subject, payload.data, {
      msgID: event.id,
      expect: { streamName: this.opts.streamName },
      headers: h,
      timeout: this.publishTimeoutMs,
    });
    this.unacked.delete(event.id);
    if (ack.duplicate && !retried) {
      this.counters.duplicates += 1;
    } else {
      this.counters.relayed += 1;
      if (payload.gzip) {
        this.counters.gzipped += 1;
        this.log.info({ eventId: event.id, type: event.type, jsonBytes: payload.jsonBytes, gzipBytes: payload.data.length }, 'event relayed gzip-compressed: larger than max_payload');
      }
    }
    this.counters.lastGlobalPosition = event.globalPosition;
    this.counters.lastRelayedAt = new Date();
  }
}

/** Creates the relay and starts it (see Relay.start for what may throw). */
export async function startRelay(opts: RelayOptions): Promise<Relay> {
  // checkAPI: false, so creating the manager sends nothing: NATS may be down right now.
  const jsm = await jetstreamManager(opts.nc, { checkAPI: false, timeout: opts.publishTimeoutMs ?? 5000 });
  const relay = new Relay(opts, jsm);
  await relay.start();
  return relay;
}
