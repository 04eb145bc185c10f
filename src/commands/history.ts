// `exchange-sync trades` and `exchange-sync transfers`: the recorded fills, deposits and
// withdrawals, from their projections (brought up to the end of the log first).
import { Iso } from '../events/catalog.js';
import { loadConfig } from '../config.js';
import { createPool } from '../events/db.js';
import { projectionNow, singleFee, trades as tradesProjection, transfers as transfersProjection, type Projection, type TradeRow, type TransferRow } from '../projections/index.js';
import { accountFilter, catchUpOrSay, renderTable, type Column } from './balances.js';
import { stringFlag, UsageError, type Command, type Options, type Values } from './command.js';

interface ListSpec<R> {
  name: string;
  noun: string;
  about: string;
  projection: Projection<R>;
  /** The row's time, for --since. */
  at(row: R): string;
  /** --symbol (trades) or --currency (transfers). */
  key: { flag: string; of(row: R): string; help: string };
  columns: Column<R>[];
  json(row: R): unknown;
}

function sinceFlag(values: Values): string | undefined {
  const since = stringFlag(values, 'since');
  if (since === undefined) return undefined;
  if (!Iso.safeParse(since).success && !/^\d{4}-\d{2}-\d{2}$/.test(since)) {
    throw new UsageError(`--since must be an ISO-8601 date or date-time, such as 2026-01-31 or 2026-01-31T12:00:00Z, got "${since}"`);
  }
  return new Date(since).toISOString();
}

function listCommand<R>(spec: ListSpec<R>): Command {
  const options: Options = {
    account: { type: 'string' },
    exchange: { type: 'string' },
    [spec.key.flag]: { type: 'string' },
    since: { type: 'string' },
    json: { type: 'boolean' },
  };
  return {
    name: spec.name,
    options,
    help: `Usage: exchange-sync ${spec.name} [--account NAME | --account EXCHANGE:NAME] [--exchange ID] [--${spec.key.flag} ${spec.key.flag.toUpperCase()}] [--since TIME] [--json]

${spec.about}

Options:
  --account NAME       only accounts with this name (on any exchange); EXCHANGE:NAME for one
  --exchange ID        only this exchange (a ccxt id, e.g. bybit)
  --${spec.key.flag.padEnd(18)} ${spec.key.help}
  --since TIME         only those at or after TIME (ISO-8601: 2026-01-31 or 2026-01-31T12:00:00Z)
  --json               a JSON array; amounts are exact decimal strings

Database: DATABASE_URL, or DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME. See docs/queries.md.`,
    async run(values) {
      const filter = accountFilter(values);
      const key = stringFlag(values, spec.key.flag);
      if (key === '') throw new UsageError(`--${spec.key.flag} must not be empty`);
      const since = sinceFlag(values);
      const config = loadConfig();
      const pool = createPool(config.database.connectionString, { max: 2, applicationName: `exchange-sync ${spec.name}` });
      try {
        await catchUpOrSay(pool, spec.projection);
        const rows = (await projectionNow(pool, spec.projection, filter)).filter((r) => (key === undefined || spec.key.of(r) === key) && (since === undefined || spec.at(r) >= since));
        if (values.json === true) process.stdout.write(`${JSON.stringify(rows.map(spec.json), null, 2)}\n`);
        else if (rows.length === 0) process.stdout.write(`no ${spec.noun}\n`);
        else process.stdout.write(renderTable(spec.columns, rows));
        return 0;
      } finally {
        await pool.end();
      }
    },
  };
}

export const trades = listCommand<TradeRow>({
  name: 'trades',
  noun: 'trades',
  about: `Prints every recorded fill, oldest first: symbol, market type, side, amount, price, cost and
fee, as the exchange reported them. Each fill is recorded once (see docs/history.md).`,
  projection: tradesProjection,
  at: (r) => r.tradedAt,
  key: { flag: 'symbol', of: (r) => r.symbol, help: 'only this symbol (ccxt unified, e.g. BTC/USDT or BTC/USDT:USDT)' },
  columns: [
    { header: 'EXCHANGE', cell: (r) => r.exchange },
    { header: 'ACCOUNT', cell: (r) => r.account },
    { header: 'TRADED_AT', cell: (r) => r.tradedAt },
    { header: 'SYMBOL', cell: (r) => r.symbol },
    { header: 'TYPE', cell: (r) => r.marketType },
    { header: 'SIDE', cell: (r) => r.side },
    { header: 'AMOUNT', cell: (r) => r.amount, decimal: true },
    { header: 'PRICE', cell: (r) => r.price, decimal: true },
    { header: 'COST', cell: (r) => r.cost, decimal: true },
    { header: 'FEE', cell: (r) => (r.fees.length === 0 ? null : r.fees.map((f) => `${f.cost} ${f.currency}`).join(' + ')) },
    { header: 'TRADE_ID', cell: (r) => r.tradeId },
  ],
  json: (r) => ({
    exchange: r.exchange,
    account: r.account,
    tradeId: r.tradeId,
    orderId: r.orderId,
    symbol: r.symbol,
    marketType: r.marketType,
    side: r.side,
    amount: r.amount,
    price: r.price,
    cost: r.cost,
    fee: singleFee(r.fees),
    fees: r.fees,
    takerOrMaker: r.takerOrMaker,
    realizedPnl: r.realizedPnl,
    tradedAt: r.tradedAt,
  }),
});

export const transfers = listCommand<TransferRow>({
  name: 'transfers',
  noun: 'transfers',
  about: `Prints every recorded deposit and withdrawal, oldest first, with its newest status (a status
change, pending to ok, is recorded as a change, not as a second transfer).`,
  projection: transfersProjection,
  at: (r) => r.occurredAt,
  key: { flag: 'currency', of: (r) => r.currency, help: 'only this currency (e.g. USDT)' },
  columns: [
    { header: 'EXCHANGE', cell: (r) => r.exchange },
    { header: 'ACCOUNT', cell: (r) => r.account },
    { header: 'OCCURRED_AT', cell: (r) => r.occurredAt },
    { header: 'TYPE', cell: (r) => r.type },
    { header: 'CURRENCY', cell: (r) => r.currency },
    { header: 'AMOUNT', cell: (r) => r.amount, decimal: true },
    { header: 'FEE', cell: (r) => r.fee, decimal: true },
    { header: 'STATUS', cell: (r) => r.status },
    { header: 'NETWORK', cell: (r) => r.network },
    { header: 'TXID', cell: (r) => r.txid },
  ],
  json: (r) => ({
    exchange: r.exchange,
    account: r.account,
    transferId: r.transferId,
    type: r.type,
    currency: r.currency,
    amount: r.amount,
    fee: r.fee,
    feeCurrency: r.feeCurrency,
    status: r.status,
    network: r.network,
    txid: r.txid,
    occurredAt: r.occurredAt,
  }),
});
