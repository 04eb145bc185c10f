// Projection `trades`: every fill, one row each, as recorded (trades_recorded holds each once).
import type { Trade } from '../events/catalog.js';
import type { AccountId } from '../events/streams.js';
import { parseAccountStream } from '../events/streams.js';
import { addDecimals } from '../events/decimal.js';
import { defineProjection } from './projection.js';
import { byKeys, insertRows, readRows, type ColumnSpec } from './sql-rows.js';

export type TradeRow = AccountId & {
  tradeId: string;
  orderId: string | null;
  symbol: string;
  marketType: Trade['marketType'];
  side: Trade['side'];
  amount: string;
  price: string;
  cost: string;
  /** The fee in one currency; both null for none, or for a fee in several currencies (see fees). */
  feeCurrency: string | null;
  feeCost: string | null;
  fees: Trade['fees'];
  takerOrMaker: Trade['takerOrMaker'];
  realizedPnl: string | null;
  tradedAt: string;
  globalPosition: number;
};

const COLUMNS: ColumnSpec<TradeRow> = [
  ['exchange', 'text', 'exchange'],
  ['account', 'text', 'account'],
  ['trade_id', 'text', 'tradeId'],
  ['order_id', 'text', 'orderId'],
  ['symbol', 'text', 'symbol'],
  ['market_type', 'text', 'marketType'],
  ['side', 'text', 'side'],
  ['amount', 'numeric', 'amount'],
  ['price', 'numeric', 'price'],
  ['cost', 'numeric', 'cost'],
  ['fee_currency', 'text', 'feeCurrency'],
  ['fee_cost', 'numeric', 'feeCost'],
  ['fees', 'jsonb', 'fees'],
  ['taker_or_maker', 'text', 'takerOrMaker'],
  ['realized_pnl', 'numeric', 'realizedPnl'],
  ['traded_at', 'timestamptz', 'tradedAt'],
  ['global_position', 'bigint', 'globalPosition'],
];

/** The fee in one currency, summed; null when there is none or it is in several. */
export function singleFee(fees: Trade['fees']): { currency: string; cost: string } | null {
  if (fees.length === 0 || fees.some((f) => f.currency !== fees[0]!.currency)) return null;
  return { currency: fees[0]!.currency, cost: fees.slice(1).reduce((sum, f) => addDecimals(sum, f.cost), fees[0]!.cost) };
}

export function tradeRow(id: AccountId, t: Trade, globalPosition: number): TradeRow {
  const fee = singleFee(t.fees);
  return {
    exchange: id.exchange,
    account: id.account,
    tradeId: t.id,
    orderId: t.orderId,
    symbol: t.symbol,
    marketType: t.marketType,
    side: t.side,
    amount: t.amount,
    price: t.price,
    cost: t.cost,
    feeCurrency: fee ? fee.currency : null,
    feeCost: fee ? fee.cost : null,
    fees: t.fees,
    takerOrMaker: t.takerOrMaker,
    realizedPnl: t.realizedPnl,
    tradedAt: t.timestamp,
    globalPosition,
  };
}

const order = byKeys<TradeRow>(
  (r) => r.exchange,
  (r) => r.account,
  (r) => r.tradedAt,
  (r) => r.symbol,
  (r) => r.tradeId,
);

export const trades = defineProjection({
  name: 'trades',
  tables: ['trades'],
  consumes: ['trades_recorded'],
  replay: { kind: 'every' },
  apply: (tx, events, t) =>
    insertRows(
      tx,
      t.trades,
      COLUMNS,
      events.flatMap((e) => {
        const id = parseAccountStream(e.streamId);
        return e.data.trades.map((x) => tradeRow(id, x, e.globalPosition));
      }),
    ),
  read: (db, t, filter) => readRows(db, t.trades, COLUMNS, filter, order),
});
