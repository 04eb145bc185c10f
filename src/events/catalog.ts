// The event catalog: every event type and version the log may hold, as zod schemas. This file is
// the contract with downstream subscribers (the JetStream payload's `data` is one of these).
// A change to a stored shape is a new version, never an edit: old events are replayed forever.
import { z } from 'zod';
import { Decimal } from './decimal.js';

export const Iso = z.iso.datetime({ offset: true });

/** An event type's name: snake_case, as it becomes a NATS subject token (and a SQL literal in reads). */
export const EVENT_TYPE = /^[a-z][a-z0-9_]*$/;

/**
 * Where on the exchange a balance is held. `unified`: a margin account that holds every product
 * (bybit UTA); `trading`: okx's trading account; `contract`: bybit's derivatives account (classic
 * accounts, and inverse contracts on UTA 1.0); `futures`: binance USD-M; `delivery`: binance COIN-M;
 * `default`: what ccxt's plain fetchBalance() reads, on exchanges without a plan of their own.
 */
export const WALLETS = ['spot', 'margin', 'unified', 'trading', 'contract', 'funding', 'futures', 'delivery', 'earn', 'default'] as const;
export const Wallet = z.enum(WALLETS);
export type Wallet = z.infer<typeof Wallet>;

const BalanceV1 = z.object({
  asset: z.string().min(1),
  free: Decimal.nullable(),
  used: Decimal.nullable(),
  total: Decimal,
});

export const BalanceSchema = z.object({
  wallet: Wallet,
  asset: z.string().min(1),
  free: Decimal.nullable(),
  used: Decimal.nullable(),
  total: Decimal,
});
export type Balance = z.infer<typeof BalanceSchema>;

const positionFields = {
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
};

const PositionV1 = z.object({ ...positionFields, marginMode: z.enum(['cross', 'isolated']).nullable() });

/** v2 adds `portfolio`: the account's margin mode where the exchange margins the whole portfolio (bybit UTA). */
export const MarginMode = z.enum(['cross', 'isolated', 'portfolio']);
export type MarginMode = z.infer<typeof MarginMode>;

export const PositionSchema = z.object({ ...positionFields, marginMode: MarginMode.nullable() });
export type Position = z.infer<typeof PositionSchema>;

const snapshotFields = {
  exchange: z.string().min(1),
  account: z.string().min(1),
  /** Currency the prices are quoted in. */
  quote: z.string().min(1),
  /** Asset -> last price in `quote`, for held assets that have a market against it. */
  prices: z.record(z.string(), Decimal),
  /** When the fetch completed, by our clock. */
  fetchedAt: Iso,
  /** The exchange's own timestamp of the data, where it reports one. */
  exchangeTime: Iso.nullable(),
};

const SnapshotV1 = z.object({ ...snapshotFields, balances: z.array(BalanceV1), positions: z.array(PositionV1) });

/**
 * What one fetch of an account returned: every wallet it read (`wallets`, sorted; a wallet read
 * empty is listed with no balances), balances sorted by wallet then asset, positions by symbol
 * then side.
 */
export const SnapshotSchema = z
  .object({
    ...snapshotFields,
    wallets: z.array(Wallet),
    balances: z.array(BalanceSchema),
    positions: z.array(PositionSchema),
  })
  // The projections key rows by these: a repeated one would be a stored event no projection can apply.
  .superRefine((s, ctx) => {
    const repeated = (keys: string[], what: string) => {
      const seen = new Set<string>();
      for (const k of keys) {
        if (seen.has(k)) ctx.addIssue({ code: 'custom', message: `${what} ${k} appears twice` });
        seen.add(k);
      }
    };
    repeated(s.balances.map((b) => `${b.wallet}/${b.asset}`), 'balance');
    repeated(s.positions.map((p) => `${p.symbol} ${p.side}`), 'position');
  });
export type Snapshot = z.infer<typeof SnapshotSchema>;

/**
 * The one wallet a v1 snapshot read: 0.1 and 0.2 read bybit's unified account, binance's spot
 * wallet, and ccxt's default fetchBalance() elsewhere. Migration 006 labels the existing balances
 * rows by the same rule. One exception the data cannot tell: a bybit classic account configured
 * with enableUnifiedAccount=false read its CONTRACT account then, and stays labelled `unified`.
 */
export function v1Wallet(exchange: string): Wallet {
  return exchange === 'bybit' ? 'unified' : exchange === 'binance' ? 'spot' : 'default';
}

function upcastSnapshotV1(s: z.infer<typeof SnapshotV1>): Snapshot {
  const wallet = v1Wallet(s.exchange);
  return {
    exchange: s.exchange,
    account: s.account,
    quote: s.quote,
    wallets: [wallet],
    balances: s.balances.map((b) => ({ wallet, asset: b.asset, free: b.free, used: b.used, total: b.total })),
    positions: s.positions,
    prices: s.prices,
    fetchedAt: s.fetchedAt,
    exchangeTime: s.exchangeTime,
  };
}

export const SyncTrigger = z.enum(['schedule', 'command', 'cli', 'api']);
export type SyncTrigger = z.infer<typeof SyncTrigger>;

export const ErrorClass = z.enum(['auth', 'permission', 'rate_limit', 'network', 'timeout', 'exchange_down', 'nonce', 'bad_response', 'internal']);
export type ErrorClass = z.infer<typeof ErrorClass>;

const syncId = z.uuid();

const contentHash = z.string().regex(/^[0-9a-f]{64}$/);

const SnapshotRecordedV1 = z.object({ syncId, contentHash, snapshot: SnapshotV1 });

/** v2: balances per wallet, and the wallets read (see Wallet). */
const SnapshotRecordedV2 = z.object({ syncId, contentHash, snapshot: SnapshotSchema });

const SnapshotUnchangedV1 = z.object({
  syncId,
  contentHash,
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

/** What a sync's history fetch added, or why it failed; the snapshot is recorded either way. */
const HistoryOutcome = z.object({
  trades: z.number().int().nonnegative(),
  transfers: z.number().int().nonnegative(),
  errorClass: ErrorClass.nullable(),
  message: z.string().nullable(),
});

/** v2: the history fetch's outcome (absent or null where the sync fetched no history). */
const SyncCompletedV2 = SyncCompletedV1.extend({ history: HistoryOutcome.nullable().optional() });

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

// --- history: fills, deposits and withdrawals -----------------------------------------------------

/** A fee part as the exchange charged it. */
export const FeeSchema = z.object({ currency: z.string().min(1), cost: Decimal });
export type Fee = z.infer<typeof FeeSchema>;

export const MarketType = z.enum(['spot', 'margin', 'swap', 'future', 'option']);

/** One fill, as the exchange reported it. `amount` is in base units (contracts for inverse contracts). */
export const TradeSchema = z.object({
  /** The exchange's trade (execution) id: unique per account and channel. */
  id: z.string().min(1),
  orderId: z.string().nullable(),
  symbol: z.string().min(1),
  marketType: MarketType,
  side: z.enum(['buy', 'sell']),
  amount: Decimal,
  price: Decimal,
  /** amount x price (x contract size) in the quote, as the exchange computed it. */
  cost: Decimal,
  /** Every fee part; usually one, none for a fee-free fill. */
  fees: z.array(FeeSchema),
  takerOrMaker: z.enum(['taker', 'maker']).nullable(),
  /** The exchange's time of the fill. */
  timestamp: Iso,
  /** Derivatives: the PnL the exchange realized on this fill, where it reports one. */
  realizedPnl: Decimal.nullable(),
});
export type Trade = z.infer<typeof TradeSchema>;

export const TransferStatus = z.enum(['pending', 'ok', 'failed', 'canceled']);
export type TransferStatus = z.infer<typeof TransferStatus>;

export const TransferSchema = z.object({
  id: z.string().min(1),
  type: z.enum(['deposit', 'withdrawal']),
  currency: z.string().min(1),
  amount: Decimal,
  fee: FeeSchema.nullable(),
  status: TransferStatus,
  network: z.string().nullable(),
  txid: z.string().nullable(),
  timestamp: Iso,
});
export type Transfer = z.infer<typeof TransferSchema>;

/**
 * Where one history channel (a sequence the exchange pages through: bybit's spot fills, binance's
 * BTCUSDT fills, deposits, ...) stands. Every item of the channel whose time is in [from, to) is in
 * the log. `recent` holds the ids (and times) of the recorded items in the last minutes before
 * `to`, which the next fetch asks again (exchanges publish some fills late); `pending` the
 * transfers whose status may still change. So the log alone says where to resume and what is already there.
 */
export const ChannelStateSchema = z.object({
  from: Iso,
  to: Iso,
  recent: z.record(z.string(), Iso),
  pending: z.record(z.string(), z.object({ status: TransferStatus, at: Iso })).optional(),
});
export type ChannelState = z.infer<typeof ChannelStateSchema>;
export const CoverageSchema = z.record(z.string().min(1), ChannelStateSchema);
export type Coverage = z.infer<typeof CoverageSchema>;

const TradesRecordedV1 = z.object({
  syncId,
  /** New fills only: each fill is in the log once per account. */
  trades: z.array(TradeSchema),
  /** Every trade channel's state after this batch (the newest event holds all of it). */
  coverage: CoverageSchema,
});

const TransfersRecordedV1 = z.object({
  syncId,
  /** New transfers, and transfers whose status changed (previousStatus is the recorded one). */
  transfers: z.array(TransferSchema.extend({ previousStatus: TransferStatus.nullable() })),
  coverage: CoverageSchema,
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
  snapshot_recorded: defineEvent({
    versions: { 1: SnapshotRecordedV1, 2: SnapshotRecordedV2 },
    current: 2,
    // The hash stays the v1 one: it identifies what was fetched then, and the next sync's v2
    // content hashes differently anyway, so it is recorded in full once.
    upcast: { 1: (d) => ({ syncId: d.syncId, contentHash: d.contentHash, snapshot: upcastSnapshotV1(d.snapshot) }) },
  }),
  snapshot_unchanged: defineEvent({ versions: { 1: SnapshotUnchangedV1 }, current: 1, upcast: {} }),
  sync_completed: defineEvent({ versions: { 1: SyncCompletedV1, 2: SyncCompletedV2 }, current: 2, upcast: { 1: (d) => ({ ...d, history: null }) } }),
  sync_failed: defineEvent({ versions: { 1: SyncFailedV1 }, current: 1, upcast: {} }),
  trades_recorded: defineEvent({ versions: { 1: TradesRecordedV1 }, current: 1, upcast: {} }),
  transfers_recorded: defineEvent({ versions: { 1: TransfersRecordedV1 }, current: 1, upcast: {} }),
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
export type CurrentVersion<T extends EventType> = Definition<T>['current'] & EventVersion<T>;
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
