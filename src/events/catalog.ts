// The event catalog: every event type and version the log may hold, as zod schemas. This file is
// the contract with downstream subscribers (the JetStream payload's `data` is one of these).
// A change to a stored shape is a new version, never an edit: old events are replayed forever.
import { z } from 'zod';
import { Decimal } from './decimal.js';

export const Iso = z.iso.datetime({ offset: true });

/** An event type's name: snake_case, as it becomes a NATS subject token (and a SQL literal in reads). */
export const EVENT_TYPE = /^[a-z][a-z0-9_]*$/;

export const BalanceSchema = z.object({
  asset: z.string().min(1),
  free: Decimal.nullable(),
  used: Decimal.nullable(),
  total: Decimal,
});
export type Balance = z.infer<typeof BalanceSchema>;

export const PositionSchema = z.object({
  symbol: z.string().min(1),
  side: z.enum(['long', 'short']),
  contracts: Decimal,
  contractSize: Decimal.nullable(),
  entryPrice: Decimal.nullable(),
  markPrice: Decimal.nullable(),
  liquidationPrice: Decimal.nullable(),
  notional: Decimal.nullable(),
  unrealizedPnl: Decimal.nullable(),
  leverage: Decimal.nullable(),
  marginMode: z.enum(['cross', 'isolated']).nullable(),
});
export type Position = z.infer<typeof PositionSchema>;

/** What one fetch of an account returned. Balances sorted by asset, positions by symbol then side. */
export const SnapshotSchema = z.object({
  exchange: z.string().min(1),
  account: z.string().min(1),
  /** Currency the prices are quoted in. */
  quote: z.string().min(1),
  balances: z.array(BalanceSchema),
  positions: z.array(PositionSchema),
  /** Asset -> last price in `quote`, for held assets that have a market against it. */
  prices: z.record(z.string(), Decimal),
  /** When the fetch completed, by our clock. */
  fetchedAt: Iso,
  /** The exchange's own timestamp of the data, where it reports one. */
  exchangeTime: Iso.nullable(),
});
export type Snapshot = z.infer<typeof SnapshotSchema>;

export const SyncTrigger = z.enum(['schedule', 'command', 'cli', 'api']);
export type SyncTrigger = z.infer<typeof SyncTrigger>;

export const ErrorClass = z.enum(['auth', 'permission', 'rate_limit', 'network', 'timeout', 'exchange_down', 'nonce', 'bad_response', 'internal']);
export type ErrorClass = z.infer<typeof ErrorClass>;

const syncId = z.uuid();

const SnapshotRecordedV1 = z.object({
  syncId,
  contentHash: z.string().regex(/^[0-9a-f]{64}$/),
  snapshot: SnapshotSchema,
});

const SnapshotUnchangedV1 = z.object({
  syncId,
  contentHash: z.string().regex(/^[0-9a-f]{64}$/),
  fetchedAt: Iso,
  exchangeTime: Iso.nullable(),
});

const SyncCompletedV1 = z.object({
  syncId,
  trigger: SyncTrigger,
  startedAt: Iso,
  finishedAt: Iso,
  fetchMs: z.number().int().nonnegative(),
  attempts: z.number().int().positive(),
  balances: z.number().int().nonnegative(),
  positions: z.number().int().nonnegative(),
  changed: z.boolean(),
});

const SyncFailedV1 = z.object({
  syncId,
  trigger: SyncTrigger,
  startedAt: Iso,
  finishedAt: Iso,
  errorClass: ErrorClass,
  message: z.string(),
  retryable: z.boolean(),
  attempt: z.number().int().positive(),
});

/**
 * One event type: the schema of every version the log may hold, the version appends write, and
 * for each older version a function that turns its data into the current version's. Readers see
 * only current data, so a new version means a new upcaster here and no change in any reader that
 * does not use the new fields. Each upcaster goes straight to the current version (compose them
 * when a third version comes), which keeps every one of them typed end to end.
 */
export function defineEvent<const V extends Record<number, z.ZodType>, const C extends keyof V & number>(def: {
  versions: V;
  current: C;
  upcast: NoInfer<{ [K in Exclude<keyof V & number, C>]: (data: z.infer<V[K]>) => z.infer<V[C]> }>;
}) {
  return def;
}

export const catalog = {
  snapshot_recorded: defineEvent({ versions: { 1: SnapshotRecordedV1 }, current: 1, upcast: {} }),
  snapshot_unchanged: defineEvent({ versions: { 1: SnapshotUnchangedV1 }, current: 1, upcast: {} }),
  sync_completed: defineEvent({ versions: { 1: SyncCompletedV1 }, current: 1, upcast: {} }),
  sync_failed: defineEvent({ versions: { 1: SyncFailedV1 }, current: 1, upcast: {} }),
} as const satisfies Catalog;

/** What the log machinery needs of an event type, whatever the catalog (tests bring their own). */
export interface EventDefinition {
  versions: Record<number, z.ZodType>;
  current: number;
  upcast: Record<number, (data: never) => unknown>;
}
/** type -> its definition. */
export type Catalog = Record<string, EventDefinition>;

export type EventType = keyof typeof catalog;
type Definition<T extends EventType> = (typeof catalog)[T];
export type EventVersion<T extends EventType> = keyof Definition<T>['versions'] & number;
export type CurrentVersion<T extends EventType> = Definition<T>['current'];
/** The data of an event type at a version; the current version (what appends write) by default. */
export type EventData<T extends EventType, V extends EventVersion<T> = CurrentVersion<T>> = z.infer<Definition<T>['versions'][V]>;

export class UnknownEventError extends Error {
  override name = 'UnknownEventError';
}

/** Validates `data` against the catalog; throws UnknownEventError or a ZodError. */
export function validateEventData(cat: Catalog, type: string, version: number, data: unknown): unknown {
  const schema = Object.hasOwn(cat, type) ? cat[type]!.versions[version] : undefined;
  if (!schema) throw new UnknownEventError(`unknown event ${type} v${version}`);
  return schema.parse(data);
}

/**
 * Stored data of (type, version) as the current version's data. Stored data was validated when
 * it was appended, so it is not parsed again here: replays read it by the million.
 */
export function upcastData(cat: Catalog, type: string, version: number, data: unknown): { version: number; data: unknown } {
  const def = Object.hasOwn(cat, type) ? cat[type] : undefined;
  if (!def || !def.versions[version]) throw new UnknownEventError(`unknown event ${type} v${version}`);
  if (version === def.current) return { version, data };
  const up = def.upcast[version] as ((d: unknown) => unknown) | undefined;
  if (!up) throw new UnknownEventError(`${type} v${version} has no upcaster to v${def.current}`);
  return { version: def.current, data: up(data) };
}
