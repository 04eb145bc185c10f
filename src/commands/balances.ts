// `exchange-sync balances`, and what it shares with `positions`: flags, the current-or-as-of
// choice, and the table/JSON output.
import { Iso } from '../events/catalog.js';
import { loadConfig } from '../config.js';
import { createPool, sqlState, type Pool } from '../events/db.js';
import { EventStore } from '../events/store.js';
import type { AccountFilter } from '../events/streams.js';
import {
  balances as balancesProjection,
  catchUpProjections,
  projectionAt,
  projectionNow,
  totalsByAsset,
  type AssetTotalRow,
  type BalanceRow,
  type Projection,
} from '../projections/index.js';
import { stringFlag, UsageError, type Command, type Options, type Values } from './command.js';

/**
 * Brings the tables up to the log's end first, so the answer includes the newest syncs. A role
 * that may only read (a reporting user) cannot write the projections: it gets the tables as the
 * daemon last projected them, and a line on stderr saying so.
 */
export async function catchUpOrSay(pool: Pool, projection: Projection): Promise<void> {
  try {
    await catchUpProjections(new EventStore(pool), undefined, { projections: [projection] });
  } catch (err) {
    if (sqlState(err) !== '42501') throw err;
    process.stderr.write('exchange-sync: no write access to bring the projections up to date; showing them as the daemon last projected them\n');
  }
}

export interface Column<R> {
  header: string;
  cell(row: R): string | null;
  /** Line the cells up on their decimal points. */
  decimal?: boolean;
}

export interface HoldingsSpec<R> {
  name: string;
  /** Plural noun for the empty message ("no balances"). */
  noun: string;
  /** Extra --help paragraph. */
  about: string;
  /** The projection it shows, now or as of a moment. */
  projection: Projection<R>;
  columns: Column<R>[];
  /** A second view of the same rows behind a flag (balances --by-asset). */
  alternative?: { flag: string; usage: string; columns: Column<unknown>[]; rows(rows: R[]): unknown[] };
}

const HOLDINGS_OPTIONS: Options = {
  account: { type: 'string' },
  exchange: { type: 'string' },
  at: { type: 'string' },
  json: { type: 'boolean' },
};

/** `--account name` matches that name on every exchange; `--account exchange:name` one stream. */
export function accountFilter(values: Values): AccountFilter {
  const exchange = stringFlag(values, 'exchange');
  const account = stringFlag(values, 'account');
  if (exchange === '') throw new UsageError('--exchange must not be empty');
  if (account === undefined) return { exchange };
  const i = account.indexOf(':');
  if (i < 0) {
    if (account === '') throw new UsageError('--account must not be empty');
    return { exchange, account };
  }
  const [ex, name] = [account.slice(0, i), account.slice(i + 1)];
  if (!ex || !name) throw new UsageError(`--account must be NAME or EXCHANGE:NAME, got "${account}"`);
  if (exchange !== undefined && exchange !== ex) throw new UsageError(`--account ${account} and --exchange ${exchange} name different exchanges`);
  return { exchange: ex, account: name };
}

/** The --at moment, kept as the given text so PostgreSQL sees its full (microsecond) precision. */
export function atFlag(values: Values): string | undefined {
  const at = stringFlag(values, 'at');
  if (at === undefined) return undefined;
  if (!Iso.safeParse(at).success) {
    throw new UsageError(`--at must be an ISO-8601 date-time with a time zone, such as 2025-01-31T12:00:00Z, got "${at}"`);
  }
  return at;
}

/** Aligned columns; null shows as "-". Amounts line up on the decimal point. */
export function renderTable<R>(columns: Column<R>[], rows: R[]): string {
  const cells = columns.map((c) => {
    const raw = rows.map((r) => c.cell(r) ?? '-');
    if (!c.decimal) return [c.header, ...raw];
    const split = raw.map((v) => {
      const dot = v.indexOf('.');
      return dot < 0 ? [v, ''] : [v.slice(0, dot), v.slice(dot)];
    });
    const intWidth = Math.max(0, ...split.map(([int]) => int!.length));
    const fracWidth = Math.max(0, ...split.map(([, frac]) => frac!.length));
    return [c.header, ...split.map(([int, frac]) => int!.padStart(intWidth) + frac!.padEnd(fracWidth))];
  });
  const widths = cells.map((col) => Math.max(...col.map((v) => v.length)));
  const lines = [];
  for (let i = 0; i <= rows.length; i += 1) {
    lines.push(
      cells
        .map((col, c) => col[i]!.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    );
  }
  return `${lines.join('\n')}\n`;
}

export function holdingsCommand<R>(spec: HoldingsSpec<R>): Command {
  const alt = spec.alternative;
  return {
    name: spec.name,
    options: alt ? { ...HOLDINGS_OPTIONS, [alt.flag]: { type: 'boolean' } } : HOLDINGS_OPTIONS,
    help: `Usage: exchange-sync ${spec.name} [--account NAME | --account EXCHANGE:NAME] [--exchange ID] [--at TIME]${alt ? ` [--${alt.flag}]` : ''} [--json]

${spec.about}

Without --at: the current state, from the projection tables (brought up to the end of the
log first, so the result includes the newest sync even when no daemon is running).
With --at: the state at that moment, read from the event log itself: per account, the newest
snapshot recorded at or before TIME. Accounts with no snapshot by then are left out.

Options:
  --account NAME       only accounts with this name (on any exchange); EXCHANGE:NAME for one
  --exchange ID        only this exchange (a ccxt id, e.g. bybit)
  --at TIME            ISO-8601 date-time with a time zone, e.g. 2025-01-31T12:00:00Z or
                       2025-01-31T13:00:00.5+01:00
${alt ? `  --${alt.usage}
` : ''}  --json               a JSON array of row objects; amounts are exact decimal strings

Database: DATABASE_URL, or DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME. See docs/queries.md.`,
    async run(values) {
      const filter = accountFilter(values);
      const at = atFlag(values);
      const json = values.json === true;
      const config = loadConfig();
      const pool = createPool(config.database.connectionString, { max: 2, applicationName: `exchange-sync ${spec.name}` });
      try {
        let rows: R[];
        if (at === undefined) {
          await catchUpOrSay(pool, spec.projection);
          rows = await projectionNow(pool, spec.projection, filter);
        } else {
          rows = await projectionAt(new EventStore(pool), spec.projection, at, filter);
        }
        const alternative = alt && values[alt.flag] === true ? alt : undefined;
        const shown: unknown[] = alternative ? alternative.rows(rows) : rows;
        const columns = (alternative ? alternative.columns : spec.columns) as Column<unknown>[];
        if (json) process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
        else if (shown.length === 0) process.stdout.write(`no ${spec.noun}${at === undefined ? '' : ` recorded at or before ${at}`}\n`);
        else process.stdout.write(renderTable(columns, shown));
        return 0;
      } finally {
        await pool.end();
      }
    },
  };
}

/** The balance columns, per wallet or summed over them: the same but for the wallet column. */
function balanceColumns<R extends Omit<AssetTotalRow, 'wallets'>>(wallet: Column<R>): Column<R>[] {
  return [
    { header: 'EXCHANGE', cell: (r) => r.exchange },
    { header: 'ACCOUNT', cell: (r) => r.account },
    { header: 'ASSET', cell: (r) => r.asset },
    wallet,
    { header: 'FREE', cell: (r) => r.free, decimal: true },
    { header: 'USED', cell: (r) => r.used, decimal: true },
    { header: 'TOTAL', cell: (r) => r.total, decimal: true },
    { header: 'PRICE', cell: (r) => r.price, decimal: true },
    { header: 'VALUE', cell: (r) => r.value, decimal: true },
    { header: 'QUOTE', cell: (r) => r.quote },
    { header: 'AS_OF', cell: (r) => r.asOf },
  ];
}

export const balances = holdingsCommand<BalanceRow>({
  name: 'balances',
  noun: 'balances',
  about: `Prints each account's balances, one line per asset per wallet (spot, unified, funding,
futures, delivery, ...): free, used and total, the last price in the snapshot's quote currency,
and value = total x price (exact; "-" when there is no price). AS_OF is when the holding was
last observed (the newest fetch of that account). --by-asset sums each asset over the wallets.`,
  projection: balancesProjection,
  alternative: {
    flag: 'by-asset',
    usage: 'by-asset           one line per asset per account: the sum over its wallets (WALLETS lists them)',
    rows: (rows) => totalsByAsset(rows),
    columns: balanceColumns<AssetTotalRow>({ header: 'WALLETS', cell: (r) => r.wallets.join(',') }) as Column<unknown>[],
  },
  columns: balanceColumns<BalanceRow>({ header: 'WALLET', cell: (r) => r.wallet }),
});
