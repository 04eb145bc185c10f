import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConcurrencyError, EventStore, InvalidAppendError, START, type RecordedEvent } from '../src/events/store.js';
import { Notifier, Subscription } from '../src/events/subscription.js';
import { pino } from 'pino';
import { createTestDb, type TestDb } from './support/db.js';
import { testCatalog, testEvents } from './support/test-catalog.js';

let db: TestDb;
let store: EventStore;
let notifier: Notifier;

before(async () => {
  db = await createTestDb();
  store = new EventStore(db.pool, testCatalog);
  notifier = new Notifier(db.url);
});
after(async () => {
  await notifier.stop();
  await db.drop();
});

function collector(name: string, opts: { batchSize?: number } = {}) {
  const seen: RecordedEvent[] = [];
  const sub = new Subscription(store, notifier, {
    name,
    batchSize: opts.batchSize,
    pollMs: 200,
    logger: pino({ level: 'warn' }),
    handler: async (events) => {
      seen.push(...events);
    },
  });
  return { seen, sub };
}

describe('append', () => {
  test('two appends with the same expected position: one wins, the other gets ConcurrencyError', async () => {
    const stream = `race-${randomUUID()}`;
    await store.append(stream, testEvents(0, 0, 3));
    const results = await Promise.allSettled([
      store.append(stream, testEvents(1, 0, 2), { expectedPosition: 3 }),
      store.append(stream, testEvents(2, 0, 2), { expectedPosition: 3 }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.ok((lost[0] as PromiseRejectedResult).reason instanceof ConcurrencyError);
    const events = await store.readStream(stream);
    assert.deepEqual(
      events.map((e) => e.streamPosition),
      [1, 2, 3, 4, 5],
    );
    assert.equal(await store.streamPosition(stream), 5);
  });

  test('appends without an expected position to one stream stay gapless under contention', async () => {
    const stream = `contended-${randomUUID()}`;
    await Promise.all(Array.from({ length: 20 }, (_, w) => store.append(stream, testEvents(w, 0, 3))));
    const events = await store.readStream(stream);
    assert.deepEqual(
      events.map((e) => e.streamPosition),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    // Each append's events are contiguous in the stream.
    for (let i = 0; i < 60; i += 3) assert.equal(new Set(events.slice(i, i + 3).map((e) => (e.data as { writer: number }).writer)).size, 1);
  });

  test('a retried append with the same event ids stores nothing new and returns the first result', async () => {
    const stream = `retry-${randomUUID()}`;
    const events = testEvents(7, 0, 4).map((e) => ({ ...e, id: randomUUID() }));
    const first = await store.append(stream, events, { expectedPosition: 0 });
    assert.equal(first.duplicate, false);
    await store.append(stream, testEvents(8, 0, 1));
    // Even with the now-stale expected position, the retry is recognized.
    const again = await store.append(stream, events, { expectedPosition: 0 });
    assert.equal(again.duplicate, true);
    assert.deepEqual(again.events, first.events);
    const concurrent = await Promise.all([store.append(stream, events), store.append(stream, events)]);
    for (const r of concurrent) assert.deepEqual(r.events, first.events);
    assert.equal((await store.readStream(stream)).length, 5);
  });

  test('two copies of a new append racing store it once and both get its result', async () => {
    const stream = `race-${randomUUID()}`;
    const events = testEvents(9, 0, 3).map((e) => ({ ...e, id: randomUUID() }));
    const [a, b] = await Promise.all([store.append(stream, events), store.append(stream, events)]);
    assert.deepEqual(a.events, b.events);
    assert.deepEqual([a.duplicate, b.duplicate].sort(), [false, true]);
    assert.deepEqual(
      (await store.readStream(stream)).map((e) => e.id),
      events.map((e) => e.id),
    );
    // An appended event's time is the time it is read back with.
    assert.deepEqual(
      (await store.readStream(stream)).map((e) => e.recordedAt),
      a.events.map((e) => e.recordedAt),
    );
  });

  test('the same new ids appended to two streams at once: one append stores them, the other is refused', async () => {
    const events = testEvents(4, 0, 2).map((e) => ({ ...e, id: randomUUID() }));
    const [a, b] = [`twin-a-${randomUUID()}`, `twin-b-${randomUUID()}`];
    const outcomes = await Promise.allSettled([store.append(a, events), store.append(b, events)]);
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
    const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    assert.ok(refused.reason instanceof InvalidAppendError, String(refused.reason));
    const stored = [...(await store.readStream(a)), ...(await store.readStream(b))];
    assert.deepEqual(stored.map((e) => e.id), events.map((e) => e.id));
  });

  test('event ids partly stored, stored in another stream, or repeated in one append are refused and write nothing', async () => {
    const stream = `ids-${randomUUID()}`;
    const stored = testEvents(3, 0, 2).map((e) => ({ ...e, id: randomUUID() }));
    await store.append(stream, stored);
    const fresh = { ...testEvents(3, 2, 1)[0]!, id: randomUUID() };
    await assert.rejects(store.append(stream, [stored[0]!, fresh]), InvalidAppendError);
    await assert.rejects(store.append(`other-${randomUUID()}`, stored), InvalidAppendError);
    await assert.rejects(store.append(stream, [fresh, { ...fresh }]), /repeated/);
    assert.deepEqual(
      (await store.readStream(stream)).map((e) => e.id),
      stored.map((e) => e.id),
    );
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM exchange_sync.events WHERE event_id = $1', [fresh.id]);
    assert.equal(rows[0].n, 0);
  });

  test('a concurrency error or a catalog violation leaves the stream as it was', async () => {
    const stream = `bad-${randomUUID()}`;
    await store.append(stream, testEvents(1, 0, 2));
    await assert.rejects(store.append(stream, testEvents(1, 2, 1), { expectedPosition: 7 }), ConcurrencyError);
    await assert.rejects(store.append(stream, [{ type: 'test_event', data: { writer: 'x' } }]), InvalidAppendError);
    await assert.rejects(store.append(stream, [{ type: 'no_such_event', data: {} }]), /unknown event no_such_event v1/);
    assert.equal(await store.streamPosition(stream), 2);
    assert.equal((await store.readStream(stream)).length, 2);
  });

  test('an append that is not the first write of its transaction is refused', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('CREATE TEMP TABLE scratch (x int)');
      await client.query('INSERT INTO scratch VALUES (1)');
      await assert.rejects(store.append(`late-${randomUUID()}`, testEvents(1, 0, 1), { client }), /first write of its transaction/);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  test('UPDATE, DELETE and TRUNCATE on events are refused by the database', async () => {
    await store.append(`immutable-${randomUUID()}`, testEvents(1, 0, 1));
    const before = (await db.pool.query('SELECT count(*)::int AS n FROM exchange_sync.events')).rows[0].n;
    await assert.rejects(db.pool.query(`UPDATE exchange_sync.events SET data = '{}'`), /append-only: UPDATE refused/);
    await assert.rejects(db.pool.query('DELETE FROM exchange_sync.events'), /append-only: DELETE refused/);
    await assert.rejects(db.pool.query('TRUNCATE exchange_sync.events'), /append-only: TRUNCATE refused/);
    const afterCount = (await db.pool.query('SELECT count(*)::int AS n FROM exchange_sync.events')).rows[0].n;
    assert.equal(afterCount, before);
  });
});

describe('catch-up subscription', () => {
  test('an open append holds back later commits until it is decided, and a rollback leaves no stall', async (t) => {
    const { seen, sub } = collector(`hold-${randomUUID()}`);
    sub.start();
    t.after(() => sub.stop());
    await sub.caughtUp();
    const base = seen.length;

    const a = await db.pool.connect();
    await a.query('BEGIN');
    const appendA = await store.append(`hold-a-${randomUUID()}`, testEvents(1, 0, 2), { client: a });
    const appendB = await store.append(`hold-b-${randomUUID()}`, testEvents(2, 0, 2));
    assert.ok(appendA.events[0]!.globalPosition < appendB.events[0]!.globalPosition, 'A took the lower global position');

    // B is committed, but A (lower position) is not decided: neither a reader nor the subscriber
    // may move past A, or it would skip A for good.
    assert.deepEqual(await store.readAfter(sub.position), []);
    await sleep(400);
    assert.equal(seen.length, base, 'nothing delivered while A is open');

    await a.query('COMMIT');
    a.release();
    await sub.caughtUp();
    const ids = seen.slice(base).map((e) => e.id);
    assert.deepEqual(ids, [...appendA.events.map((e) => e.id), ...appendB.events.map((e) => e.id)]);

    // Rolled back: its positions become a gap and later events still flow.
    const c = await db.pool.connect();
    await c.query('BEGIN');
    await store.append(`hold-c-${randomUUID()}`, testEvents(3, 0, 2), { client: c });
    const appendD = await store.append(`hold-d-${randomUUID()}`, testEvents(4, 0, 1));
    await c.query('ROLLBACK');
    c.release();
    await sub.caughtUp();
    assert.deepEqual(
      seen.slice(base + 4).map((e) => e.id),
      appendD.events.map((e) => e.id),
    );
    await sub.stop();
  });

  test('16 writers x 500 events with delays and rollbacks: two subscribers each get exactly the committed set', async (t) => {
    const prefix = `load-${randomUUID().slice(0, 8)}`;
    const committed = new Set<string>();
    const subs = [collector(`${prefix}-s1`, { batchSize: 97 }), collector(`${prefix}-s2`, { batchSize: 500 })];
    for (const s of subs) s.sub.start();
    t.after(() => Promise.all(subs.map((s) => s.sub.stop())));

    let seed = 42;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const writer = async (w: number) => {
      let written = 0;
      while (written < 500) {
        const size = Math.min(500 - written, 1 + Math.floor(rand() * 5));
        const events = testEvents(w, written, size).map((e) => ({ ...e, id: randomUUID() }));
        const stream = `${prefix}-stream-${w % 4}`;
        const rollback = rand() < 0.1;
        const client = await db.pool.connect();
        try {
          await client.query('BEGIN');
          await store.append(stream, events, { client });
          await sleep(Math.floor(rand() * 4));
          await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
        } finally {
          client.release();
        }
        if (!rollback) {
          for (const e of events) committed.add(e.id);
          written += size;
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, w) => writer(w)));
    assert.equal(committed.size, 16 * 500);

    for (const { seen, sub } of subs) {
      await sub.caughtUp();
      await sub.stop();
      const mine = seen.filter((e) => e.streamId.startsWith(prefix));
      const ids = mine.map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, 'each event delivered once');
      assert.equal(ids.length, committed.size, 'every committed event delivered');
      assert.ok(ids.every((id) => committed.has(id)), 'no rolled-back event delivered');
      const lastPos = new Map<string, number>();
      for (const e of mine) {
        assert.equal(e.streamPosition, (lastPos.get(e.streamId) ?? 0) + 1, `stream ${e.streamId} in order without gaps`);
        lastPos.set(e.streamId, e.streamPosition);
      }
    }
  });

  test('the checkpoint commits with the handler: a failing handler is retried and applies once', async (t) => {
    await db.pool.query('CREATE TABLE IF NOT EXISTS applied_once (event_id uuid NOT NULL)');
    const name = `flaky-${randomUUID()}`;
    const stream = `flaky-${randomUUID()}`;
    const { events } = await store.append(stream, testEvents(1, 0, 10));
    const ids = new Set(events.map((e) => e.id));
    let failNext = true;
    const sub = new Subscription(store, notifier, {
      name,
      batchSize: 50,
      pollMs: 100,
      handler: async (batch, tx) => {
        const mine = batch.filter((e) => ids.has(e.id));
        for (const e of mine) await tx.query('INSERT INTO applied_once (event_id) VALUES ($1)', [e.id]);
        if (mine.length && failNext) {
          failNext = false;
          throw new Error('handler failed after writing');
        }
      },
    });
    sub.start();
    t.after(() => sub.stop());
    await sub.caughtUp();
    const { rows } = await db.pool.query<{ n: number; d: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM applied_once WHERE event_id = ANY($1::uuid[])',
      [[...ids]],
    );
    assert.deepEqual(rows[0], { n: 10, d: 10 });
  });

  test('a subscriber killed between its writes and its checkpoint resumes without applying twice', async (t) => {
    await db.pool.query('CREATE TABLE crash_applied (event_id uuid NOT NULL)');
    const name = `crash-${randomUUID()}`;
    const stream = `crash-${randomUUID()}`;
    // Start the subscriber at the current end of the log so it only sees this test's events.
    const end = await store.readAfter(START, 1_000_000);
    const last = end[end.length - 1]!;
    await db.pool.query('INSERT INTO exchange_sync.checkpoints (subscriber, transaction_id, global_position) VALUES ($1, $2::xid8, $3)', [
      name,
      last.transactionId,
      last.globalPosition,
    ]);
    const { events } = await store.append(stream, testEvents(1, 0, 100));

    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/crashing-subscriber.ts', db.url, name, '35'], { stdio: 'inherit' });
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL', `child should have killed itself (exit code ${code})`);
    const { rows: partial } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM crash_applied');
    assert.equal(partial[0]!.n, 30, 'the three committed batches stay; the fourth died with its transaction');

    const sub = new Subscription(store, notifier, {
      name,
      batchSize: 10,
      pollMs: 100,
      handler: async (batch, tx) => {
        for (const e of batch) await tx.query('INSERT INTO crash_applied (event_id) VALUES ($1)', [e.id]);
      },
    });
    sub.start();
    t.after(() => sub.stop());
    await sub.caughtUp();
    const { rows } = await db.pool.query<{ event_id: string; n: number }>('SELECT event_id, count(*)::int AS n FROM crash_applied GROUP BY event_id');
    assert.equal(rows.length, 100);
    assert.ok(rows.every((r) => r.n === 1), 'no event applied twice');
    assert.deepEqual(new Set(rows.map((r) => r.event_id)), new Set(events.map((e) => e.id)));
  });

  test('the read order compares transaction ids as numbers, not as text', async () => {
    // Direct inserts with chosen transaction ids (far below the horizon): 9 < 10 < 100, while as
    // text '10' < '100' < '9'. Appends cannot choose them; only the read order is under test.
    const stream = `xid-order-${randomUUID()}`;
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const [i, xid] of ['100', '9', '10'].entries()) {
      await db.pool.query(
        `INSERT INTO exchange_sync.events (stream_id, stream_position, type, version, data, event_id, transaction_id)
         VALUES ($1, $2, 'test_event', 1, '{"writer": 0, "n": 0}', $3, $4::xid8)`,
        [stream, i + 1, ids[i], xid],
      );
    }
    const read = (await store.readAfter(START, 100_000)).filter((e) => e.streamId === stream);
    assert.deepEqual(
      read.map((e) => e.transactionId),
      ['9', '10', '100'],
    );
    const after9 = (await store.readAfter({ transactionId: '9', globalPosition: read[0]!.globalPosition }, 100_000)).filter((e) => e.streamId === stream);
    assert.deepEqual(
      after9.map((e) => e.transactionId),
      ['10', '100'],
    );
  });

  test('readAfter from the start returns events in the order a subscriber sees them', async () => {
    const all = await store.readAfter(START, 100_000);
    const { seen, sub } = collector(`order-${randomUUID()}`, { batchSize: 1000 });
    sub.start();
    await sub.caughtUp();
    await sub.stop();
    assert.deepEqual(
      seen.slice(0, all.length).map((e) => e.id),
      all.map((e) => e.id),
    );
  });

  test('a selected read with a reset type keeps per stream only the events from its newest reset on, and its cursor passes the whole batch', async () => {
    const before = (await store.readAfter(START, 1_000_000)).at(-1)!;
    const [a, b] = [`replay-a-${randomUUID()}`, `replay-b-${randomUUID()}`];
    await store.append(a, testEvents(1, 1, 3));
    await store.append(b, testEvents(2, 1, 2));
    await store.append(a, testEvents(1, 4, 1));
    const written = (await store.readAfter(before, 100)).filter((e) => e.streamId === a || e.streamId === b);
    assert.equal(written.length, 6);

    const all = await store.readSelected(before, 100, { select: [{ types: ['test_event'], resetBy: 'test_event' }] });
    assert.equal(all.read, 6);
    assert.deepEqual(all.end, { transactionId: written[5]!.transactionId, globalPosition: written[5]!.globalPosition });
    assert.deepEqual(
      all.events.map((e) => [e.streamId, e.data]),
      [
        [b, { writer: 2, n: 2 }],
        [a, { writer: 1, n: 4 }],
      ],
    );

    // A batch ends where the limit says: only the first append's three events, its last kept.
    const first = await store.readSelected(before, 3, { select: [{ types: ['test_event'], resetBy: 'test_event' }] });
    assert.equal(first.read, 3);
    assert.deepEqual(first.end?.globalPosition, written[2]!.globalPosition);
    assert.deepEqual(first.events.map((e) => e.data), [{ writer: 1, n: 3 }]);

    // Without a reset type, every selected event, with its body.
    const every = await store.readSelected(before, 100, { select: [{ types: ['test_event'] }] });
    assert.deepEqual(every.events.map((e) => e.id), written.map((e) => e.id));
    assert.deepEqual(every.events.map((e) => e.data), written.map((e) => e.data));

    // Nothing selected: no events, but the cursor still passes the batch.
    const none = await store.readSelected(before, 100, { select: [] });
    assert.deepEqual(none.events, []);
    assert.equal(none.read, 6);
    assert.deepEqual(none.end, all.end);
  });
});
