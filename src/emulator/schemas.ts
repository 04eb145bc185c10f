// Input validation for everything a caller can put into the emulator, from code or over the
// control API. One set of schemas, so both paths refuse the same things with the same words.
import { z } from 'zod';

const AMOUNT = /^\d+(\.\d{1,18})?$/;
const POSITIVE = /^(?=.*[1-9])\d+(\.\d{1,18})?$/;
const SIGNED = /^-?\d+(\.\d{1,18})?$/;

export const ExchangeSchema = z.enum(['bybit', 'binance', 'okx']);

/** Non-negative decimal string, up to 18 decimals (exchanges never send more). */
export const AmountSchema = z.string().regex(AMOUNT, 'expected a non-negative decimal string with at most 18 decimals, e.g. "0.123456789012345678"');
export const PositiveSchema = z.string().regex(POSITIVE, 'expected a positive decimal string with at most 18 decimals, e.g. "65000.5"');

export const BalanceSchema = z.strictObject({ free: AmountSchema, used: AmountSchema });
/** Decimal string that may be negative (a realized PnL), up to 18 decimals. */
export const SignedSchema = z.string().regex(SIGNED, 'expected a decimal string with at most 18 decimals, e.g. "-12.5"');
const AssetSchema = z.string().regex(/^[A-Z0-9]{1,20}$/, 'expected an upper-case asset code such as "USDT"');
const BalancesSchema = z.record(AssetSchema, BalanceSchema);
/** Milliseconds since the epoch (integer, 2000-01-01 .. 2100-01-01). */
const TimestampSchema = z.number().int('expected an integer timestamp in ms').min(946_684_800_000, 'expected a timestamp in ms after 2000-01-01').max(4_102_444_800_000, 'expected a timestamp in ms before 2100-01-01');

export const PositionInputSchema = z.strictObject({
  symbol: z.string().min(1),
  side: z.enum(['long', 'short']),
  contracts: PositiveSchema,
  entryPrice: PositiveSchema,
  leverage: PositiveSchema,
  marginMode: z.enum(['cross', 'isolated']),
});

/** A fill's fee: currency (default: spot buy the base, spot sell the quote, derivatives the settle coin), cost (default amount-based at rate), rate (default 0.001). */
export const FeeInputSchema = z.strictObject({
  currency: AssetSchema.optional(),
  cost: AmountSchema.optional(),
  rate: AmountSchema.optional(),
});

/** emulator.trade(): a fill now (or at `at`) that moves the balances and positions. */
export const TradeInputSchema = z.strictObject({
  symbol: z.string().min(1),
  side: z.enum(['buy', 'sell']),
  /** Base units for spot; contracts for derivatives (contractSize each: 1 base unit on bybit/binance linear, USD on inverse, ctVal on okx). */
  amount: PositiveSchema,
  /** Default: the market's current price. */
  price: PositiveSchema.optional(),
  /** ms since epoch; default now. */
  at: TimestampSchema.optional(),
  fee: FeeInputSchema.optional(),
  takerOrMaker: z.enum(['taker', 'maker']).optional(),
  /** Default: a new order id per fill (in the exchange's id style). */
  orderId: z.string().min(1).max(64).optional(),
});

/** A fill of the seeded history (account input `trades`): recorded as is, balances untouched. */
export const HistoryTradeSchema = TradeInputSchema.extend({
  price: PositiveSchema,
  at: TimestampSchema,
  /** Derivatives: the PnL this fill realized (gross, settle coin), default "0". */
  realizedPnl: SignedSchema.optional(),
  /** Derivatives: contracts this fill closed, default "0". */
  closedSize: AmountSchema.optional(),
});

export const TransferStatusSchema = z.enum(['pending', 'ok', 'failed']);

const TransferFields = {
  currency: AssetSchema,
  amount: PositiveSchema,
  /** Default 'ok'. */
  status: TransferStatusSchema.optional(),
  /** The network as the exchange names it (bybit chain / binance network, e.g. "TRX"; okx the part after "USDT-", e.g. "TRC20"); default per currency. */
  network: z.string().min(1).max(40).optional(),
  txid: z.string().min(1).max(200).optional(),
  address: z.string().min(1).max(200).optional(),
  /** ms since epoch; default now. */
  at: TimestampSchema.optional(),
};

/** emulator.deposit() */
export const DepositInputSchema = z.strictObject(TransferFields);
/** emulator.withdraw(): `fee` (default "0") is charged on top of `amount`. */
export const WithdrawInputSchema = z.strictObject({ ...TransferFields, fee: AmountSchema.optional() });

/** A transfer of the seeded history (account input `transfers`): recorded as is, balances untouched. */
export const HistoryTransferSchema = z
  .strictObject({ type: z.enum(['deposit', 'withdrawal']), ...TransferFields, at: TimestampSchema, fee: AmountSchema.optional() })
  .refine((t) => t.type === 'withdrawal' || t.fee === undefined, { message: 'fee is for withdrawals only (deposits are free)', path: ['fee'] });

export const TransferStatusInputSchema = z.strictObject({ status: TransferStatusSchema });

/** Wallets an API key may be denied: the endpoint that reads it answers the exchange's permission error. */
export const WalletNameSchema = z.enum(['unified', 'spot', 'contract', 'funding', 'futures', 'delivery', 'trading']);

export const AccountInputSchema = z
  .strictObject({
    exchange: ExchangeSchema,
    apiKey: z.string().min(1).max(200),
    secret: z.string().min(1).max(500),
    /** OKX only: the API key's passphrase. */
    passphrase: z.string().min(1).max(200).optional(),
    /** Bybit: the unified wallet (the SPOT account in classic mode). Binance: the spot wallet. */
    balances: BalancesSchema,
    /** Binance only: the USD-M futures wallet. */
    futuresBalances: BalancesSchema.optional(),
    /** The funding wallet: bybit FUND account, binance funding wallet, okx funding account. */
    fundingBalances: BalancesSchema.optional(),
    /** Binance only: the COIN-M futures wallet (/dapi). */
    deliveryBalances: BalancesSchema.optional(),
    /** Bybit only: the CONTRACT account (classic and UTA 1.0 accounts). */
    contractBalances: BalancesSchema.optional(),
    /** Bybit only: 'uta2' (default), 'uta1' or 'classic'. */
    bybitAccountMode: z.enum(['uta2', 'uta1', 'classic']).optional(),
    /** Bybit only: the unified account's margin mode, as /v5/account/info reports it. */
    bybitMarginMode: z.enum(['REGULAR_MARGIN', 'ISOLATED_MARGIN', 'PORTFOLIO_MARGIN']).optional(),
    /** Binance only: reported by /sapi/v1/account/info. */
    portfolioMargin: z.boolean().optional(),
    /** Wallets the API key may not read. */
    denied: z.array(WalletNameSchema).default([]),
    positions: z.array(PositionInputSchema).default([]),
    /** Fill history (seeded as is: the balances are the account's state now, the history is the past). */
    trades: z.array(HistoryTradeSchema).default([]),
    /** Deposit and withdrawal history (seeded as is, like trades). */
    transfers: z.array(HistoryTransferSchema).default([]),
  })
  .refine((a) => a.exchange === 'binance' || a.futuresBalances === undefined, {
    message: 'futuresBalances is for binance only (a bybit unified account has one wallet: balances)',
    path: ['futuresBalances'],
  })
  .refine((a) => a.exchange === 'binance' || a.deliveryBalances === undefined, {
    message: 'deliveryBalances is for binance only (the COIN-M wallet)',
    path: ['deliveryBalances'],
  })
  .refine((a) => a.exchange === 'bybit' || a.contractBalances === undefined, {
    message: 'contractBalances is for bybit only (the CONTRACT account)',
    path: ['contractBalances'],
  })
  .refine((a) => a.exchange !== 'bybit' || a.contractBalances === undefined || a.bybitAccountMode === 'classic' || a.bybitAccountMode === 'uta1', {
    message: "contractBalances needs bybitAccountMode 'classic' or 'uta1' (a UTA 2.0 account has no CONTRACT account)",
    path: ['contractBalances'],
  })
  .refine((a) => a.exchange === 'bybit' || (a.bybitAccountMode === undefined && a.bybitMarginMode === undefined), {
    message: 'bybitAccountMode and bybitMarginMode are for bybit only',
    path: ['bybitAccountMode'],
  })
  .refine((a) => a.exchange === 'binance' || a.portfolioMargin === undefined, {
    message: 'portfolioMargin is for binance only',
    path: ['portfolioMargin'],
  })
  .refine((a) => a.exchange !== 'okx' || a.passphrase !== undefined, {
    message: 'an okx account needs passphrase (okx API keys have one; ccxt sends it as `password` in OK-ACCESS-PASSPHRASE)',
    path: ['passphrase'],
  });

export const FaultKindSchema = z.enum(['rate_limit', 'http_5xx', 'latency', 'hang', 'malformed', 'clock_skew']);

export const FaultInputSchema = z
  .strictObject({
    exchange: ExchangeSchema,
    kind: FaultKindSchema,
    apiKey: z.string().min(1).optional(),
    path: z.string().startsWith('/', 'path must start with "/", e.g. "/v5/account/wallet-balance"').optional(),
    count: z.number().int().positive().optional(),
    ms: z.number().int().optional(),
    status: z.number().int().min(500).max(599).optional(),
  })
  .refine((f) => f.kind !== 'latency' || (f.ms !== undefined && f.ms >= 0), {
    message: 'a latency fault needs ms >= 0',
    path: ['ms'],
  })
  .refine((f) => f.kind !== 'clock_skew' || f.ms !== undefined, {
    message: 'a clock_skew fault needs ms (the offset of the exchange clock, may be negative)',
    path: ['ms'],
  })
  .refine((f) => f.status === undefined || f.kind === 'http_5xx', {
    message: 'status is only for http_5xx faults',
    path: ['status'],
  });

export const SetPricesSchema = z.union([
  z.strictObject({ exchange: ExchangeSchema, symbol: z.string().min(1), price: PositiveSchema }),
  z.strictObject({ exchange: ExchangeSchema, prices: z.record(z.string().min(1), PositiveSchema) }),
]);

export const FreezeSchema = z.strictObject({ frozen: z.boolean() });

export type AccountInput = z.output<typeof AccountInputSchema>;
export type TradeInput = z.output<typeof TradeInputSchema>;
export type HistoryTradeInput = z.output<typeof HistoryTradeSchema>;
export type DepositInput = z.output<typeof DepositInputSchema>;
export type WithdrawInput = z.output<typeof WithdrawInputSchema>;
export type HistoryTransferInput = z.output<typeof HistoryTransferSchema>;
export type TransferStatus = z.infer<typeof TransferStatusSchema>;
export type WalletName = z.infer<typeof WalletNameSchema>;
export type FaultSpec = z.output<typeof FaultInputSchema>;

/** One line per problem: "positions.0.contracts: expected a positive decimal string ...". */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(body)'}: ${i.message}`).join('; ');
}
