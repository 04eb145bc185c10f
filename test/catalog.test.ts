// Event versions: appends write a type's current version, older stored versions are read through
// the catalog's upcasters, and an event this release does not know is refused, not guessed at.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { z } from 'zod';
import { catalog, defineEvent, upcastData, UnknownEventError, type Catalog } from '../src/events/catalog.js';
import { EventStore, InvalidAppendError, type RecordedEvent } from '../src/events/store.js';
import { toCurrent, tryCurrent } from '../src/events/typed-events.js';
import { createTestDb, type TestDb } from './support/db.js';

// A type that went from { amount } to { amount, currency } (v1 meant USDT).
const V1 = z.object({ amount: z.string() });
const V2 = z.object({ amount: z.string(), currency: z.string() });
const versioned = {
  price_noted: defineEvent({ versions: { 1: V1, 2: V2 }, current: 2, upcast: { 1: (d) => ({ amount: d.amount, currency: 'USDT' }) } }),
} satisfies Catalog;

let db: TestDb;
before(async () => {
  db = await createTestDb();
});
after(() => db.drop());

test('appends write the current version unless told; an old version is read as the current one', async () => {
  const store = new EventStore(db.pool, versioned);
  const stream = `prices:${randomUUID()}`;
  await store.append(stream, [
    { type: 'price_noted', version: 1, data: { amount: '1.5' } },
    { type: 'price_noted', data: { amount: '2', currency: 'BTC' } },
  ]);
  const stored = await store.readStream(stream);
  assert.deepEqual(
    stored.map((e) => [e.version, e.data]),
    [
      [1, { amount: '1.5' }],
      [2, { amount: '2', currency: 'BTC' }],
    ],
    'stored as written: an event, once stored, is never rewritten',
  );
  assert.deepEqual(
    stored.map((e) => upcastData(versioned, e.type, e.version, e.data)),
    [
      { version: 2, data: { amount: '1.5', currency: 'USDT' } },
      { version: 2, data: { amount: '2', currency: 'BTC' } },
    ],
  );
  // Data that is not the version named is refused at the append, before anything is written.
  await assert.rejects(store.append(stream, [{ type: 'price_noted', version: 2, data: { amount: '1' } }]), InvalidAppendError);
  assert.equal((await store.readStream(stream)).length, 2);
  await assert.rejects(store.append(stream, [{ type: 'price_noted', version: 3, data: { amount: '1' } }]), /unknown event price_noted v3/);
});

test('an event type or version this release does not know is not read as something else', () => {
  const base: Omit<RecordedEvent, 'type' | 'version' | 'data'> = {
    id: randomUUID(),
    streamId: 'bybit:main',
    streamPosition: 1,
    globalPosition: 1,
    transactionId: '1',
    recordedAt: new Date(),
    metadata: {},
  };
  assert.throws(() => toCurrent({ ...base, type: 'from_the_future', version: 1, data: {} }), UnknownEventError);
  assert.equal(tryCurrent({ ...base, type: 'sync_completed', version: 99, data: {} }), undefined);
  assert.throws(() => upcastData(versioned, 'price_noted', 7, {}), /unknown event price_noted v7/);
  // Every product type has a current version whose schema exists, and an upcaster for each older one.
  for (const [type, def] of Object.entries(catalog)) {
    assert.ok((def.versions as Record<number, unknown>)[def.current], `${type} v${def.current} has a schema`);
    for (const v of Object.keys(def.versions).map(Number)) {
      if (v !== def.current) assert.equal(typeof (def.upcast as Record<number, unknown>)[v], 'function', `${type} v${v} has an upcaster`);
    }
  }
});
