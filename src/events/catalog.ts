// The event catalog: every event type and version the log may hold, as zod schemas. This file is
// the contract with downstream subscribers (the JetStream payload's `data` is one of these).
// A change to a stored shape is a new version, never an edit: old events are replayed forever.
import { z } from 'zod';
import { Decimal } from './decimal.js';

export const Iso = z.iso.datetime({ offset: true });

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

export const catalog = {
  snapshot_recorded: {
    1: z.object({
      syncId,
      contentHash: z.string().regex(/^[0-9a-f]{64}$/),
      snapshot: SnapshotSchema,
    }),
  },
  snapshot_unchanged: {
    1: z.object({
      syncId,
      contentHash: z.string().regex(/^[0-9a-f]{64}$/),
      fetchedAt: Iso,
      exchangeTime: Iso.nullable(),
    }),
  },
  sync_completed: {
    1: z.object({
      syncId,
      trigger: SyncTrigger,
      startedAt: Iso,
      finishedAt: Iso,
      fetchMs: z.number().int().nonnegative(),
      attempts: z.number().int().positive(),
      balances: z.number().int().nonnegative(),
      positions: z.number().int().nonnegative(),
      changed: z.boolean(),
    }),
  },
  sync_failed: {
    1: z.object({
      syncId,
      trigger: SyncTrigger,
      startedAt: Iso,
      finishedAt: Iso,
      errorClass: ErrorClass,
      message: z.string(),
      retryable: z.boolean(),
      attempt: z.number().int().positive(),
    }),
  },
} as const satisfies Catalog;

/** type -> version -> schema of `data`. */
export type Catalog = Record<string, Record<number, z.ZodType>>;
export type EventType = keyof typeof catalog;
type Latest<T extends Record<number, z.ZodType>> = T[1];
export type EventData<T extends EventType> = z.infer<Latest<(typeof catalog)[T]>>;

export const CURRENT_VERSION: { [T in EventType]: number } = {
  snapshot_recorded: 1,
  snapshot_unchanged: 1,
  sync_completed: 1,
  sync_failed: 1,
};

export class UnknownEventError extends Error {
  override name = 'UnknownEventError';
}

/** Validates `data` against the catalog; throws UnknownEventError or a ZodError. */
export function validateEventData(cat: Catalog, type: string, version: number, data: unknown): unknown {
  const schema = cat[type]?.[version];
  if (!schema) throw new UnknownEventError(`unknown event ${type} v${version}`);
  return schema.parse(data);
}
