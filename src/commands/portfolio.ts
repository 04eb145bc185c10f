// `exchange-sync portfolio`: per account and asset, quantity, entry price, current price, value and
// PnL, by the configured cost-basis method; now, or as of a moment.
import { loadConfig } from '../config.js';
import { createPool } from '../events/db.js';
import { EventStore } from '../events/store.js';
import { ACCOUNT_SELECTOR } from '../events/streams.js';
import { readPortfolio, UnknownAccountError, type PortfolioHolding } from '../portfolio/portfolio.js';
import { holdings } from '../projections/index.js';
import { atFlag, catchUpOrSay, renderTable, type Column } from './balances.js';
import { stringFlag, UsageError, type Command } from './command.js';

const COLUMNS: Column<PortfolioHolding>[] = [
  { header: 'EXCHANGE', cell: (r) => r.exchange },
  { header: 'ACCOUNT', cell: (r) => r.account },
  { header: 'ASSET', cell: (r) => r.asset },
  { header: 'QUANTITY', cell: (r) => r.quantity, decimal: true },
  { header: 'ENTRY', cell: (r) => r.entryPrice, decimal: true },
  { header: 'PRICE', cell: (r) => r.currentPrice, decimal: true },
  { header: 'VALUE', cell: (r) => r.value, decimal: true },
  { header: 'PNL', cell: (r) => r.pnl, decimal: true },
  { header: 'PNL%', cell: (r) => r.pnlPercentage, decimal: true },
  { header: 'REALIZED', cell: (r) => r.realizedPnl, decimal: true },
  { header: 'UNKNOWN_COST', cell: (r) => (r.unknownCostQuantity === '0' ? null : r.unknownCostQuantity), decimal: true },
  { header: 'DRIFT', cell: (r) => (r.drift === '0' ? null : r.drift), decimal: true },
  { header: 'QUOTE', cell: (r) => `${r.quote}${r.conversion ? '*' : ''}` },
];

export const portfolio: Command = {
  name: 'portfolio',
  options: { account: { type: 'string' }, at: { type: 'string' }, json: { type: 'boolean' } },
  help: `Usage: exchange-sync portfolio [--account NAME | --account EXCHANGE:NAME] [--at TIME] [--json]

Per account and asset: quantity, entry price (cost basis / quantity), current price, value =
quantity x price, PnL = quantity x (price - entry), PnL % = (price / entry - 1) x 100, realized
PnL, and the quantity whose cost no recorded history gives (UNKNOWN_COST: held at the first
snapshot or deposited from outside, costed at the price of the snapshot where it first appeared).
Derivatives positions show the exchange's entry price and unrealized PnL, and the realized PnL of
their fills. The method is EXCHANGE_SYNC_COST_BASIS (average, the default, or fifo); the rules are
docs/cost-basis.md. DRIFT: quantity the snapshots hold that fills and transfers do not explain.
QUOTE ends in * where a fill was valued through another currency's price (ETH/BTC).

Without --at: now, from the holdings table (brought up to the end of the log first).
With --at: what the holdings projection showed at that moment, replayed from the events
recorded by then.

Options:
  --account NAME       only accounts with this name (on any exchange); EXCHANGE:NAME for one
  --at TIME            ISO-8601 date-time with a time zone, e.g. 2025-01-31T12:00:00Z
  --json               {at, method, holdings: [...], totals: {value, pnl, realizedPnl, ...}};
                       amounts are exact decimal strings

Database: DATABASE_URL, or DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME.`,
  async run(values) {
    const account = stringFlag(values, 'account');
    if (account !== undefined && !ACCOUNT_SELECTOR.test(account)) throw new UsageError(`--account must be NAME or EXCHANGE:NAME, got "${account}"`);
    const at = atFlag(values);
    const config = loadConfig();
    const pool = createPool(config.database.connectionString, { max: 2, applicationName: 'exchange-sync portfolio' });
    try {
      if (at === undefined) await catchUpOrSay(pool, holdings);
      const p = await readPortfolio(new EventStore(pool), config.costBasis ?? 'average', { account, at });
      if (values.json === true) {
        process.stdout.write(`${JSON.stringify(p, null, 2)}\n`);
        return 0;
      }
      if (p.holdings.length === 0) {
        process.stdout.write(`no holdings${at === undefined ? '' : ` recorded at or before ${at}`}\n`);
        return 0;
      }
      process.stdout.write(renderTable(COLUMNS, p.holdings));
      const t = p.totals;
      process.stdout.write(
        `\ntotal (${p.method}, ${t.quote}): value ${t.value}  pnl ${t.pnl}  realized ${t.realizedPnl}${t.excluded ? `  (${t.excluded} rows in other currencies not summed)` : ''}\n`,
      );
      return 0;
    } catch (err) {
      if (err instanceof UnknownAccountError) throw new UsageError(err.message);
      throw err;
    } finally {
      await pool.end();
    }
  },
};
