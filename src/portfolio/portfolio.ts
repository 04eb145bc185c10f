// The portfolio: one answer behind the CLI, the library, NATS cmd.portfolio and GET /v1/portfolio.
// It is the holdings projection under the configured method, now (its live table, read by the
// projection's own reader) or as of a moment (the same projection replayed over the events
// recorded by then), with totals.
import { z } from 'zod';
import type { Method } from '../cost-basis/book.js';
import { Exact } from '../cost-basis/exact.js';
import { Iso } from '../events/catalog.js';
import type { Queryable } from '../events/db.js';
import type { EventStore } from '../events/store.js';
import { ACCOUNT_SELECTOR, selectAccounts, type AccountFilter } from '../events/streams.js';
import { holdings, liveTables, projectionAt, readHoldings, type HoldingRow } from '../projections/index.js';

export const PortfolioQuery = z.strictObject({
  /** NAME (that name on every exchange) or EXCHANGE:NAME. */
  account: z.string().regex(ACCOUNT_SELECTOR, 'account must be NAME or EXCHANGE:NAME').optional(),
  at: Iso.optional(),
});
export type PortfolioQuery = z.infer<typeof PortfolioQuery>;

export type PortfolioHolding = Omit<HoldingRow, 'costBasis' | 'drift' | 'conversion' | 'unvaluedFees' | 'kind' | 'asOf'> &
  Pick<HoldingRow, 'kind' | 'costBasis' | 'drift' | 'conversion' | 'unvaluedFees' | 'asOf'>;

export interface Portfolio {
  /** The moment it describes: the query's `at`, or when it was read. */
  at: string;
  method: Method;
  holdings: PortfolioHolding[];
  /** Sums over the holdings quoted in `quote`, of the figures known (a null value is not a 0); positions add their PnL, not their notional. */
  totals: { quote: string | null; value: string; pnl: string; realizedPnl: string; excluded: number };
}

export class UnknownAccountError extends Error {
  override name = 'UnknownAccountError';
}

/** The quote most holdings are in (ties: the first in order): the one totals add up. */
function totalsOf(rows: PortfolioHolding[]): Portfolio['totals'] {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.quote, (counts.get(r.quote) ?? 0) + 1);
  let quote: string | null = null;
  for (const [q, n] of counts) if (quote === null || n > counts.get(quote)!) quote = q;
  let value = Exact.ZERO;
  let pnl = Exact.ZERO;
  let realized = Exact.ZERO;
  let excluded = 0;
  for (const r of rows) {
    if (r.quote !== quote) {
      excluded += 1;
      continue;
    }
    // A position's value is its notional: its margin is already in the quote's own row.
    if (r.value !== null && r.kind !== 'position') value = value.plus(Exact.of(r.value));
    if (r.pnl !== null) pnl = pnl.plus(Exact.of(r.pnl));
    realized = realized.plus(Exact.of(r.realizedPnl));
  }
  return { quote, value: value.toString(), pnl: pnl.toString(), realizedPnl: realized.toString(), excluded };
}

async function knownAccount(db: Queryable, filter: AccountFilter): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM exchange_sync.streams WHERE ($1::text IS NULL OR split_part(stream_id, ':', 1) = $1) AND ($2::text IS NULL OR split_part(stream_id, ':', 2) = $2) LIMIT 1`,
    [filter.exchange ?? null, filter.account ?? null],
  );
  return rows.length > 0;
}

/** UnknownAccountError when `account` names no account the log has ever heard of. */
export async function readPortfolio(store: EventStore, method: Method, query: PortfolioQuery = {}): Promise<Portfolio> {
  const q = PortfolioQuery.parse(query);
  const filter = q.account === undefined ? {} : selectAccounts(q.account);
  const at = q.at ?? new Date().toISOString();
  const shown: PortfolioHolding[] =
    q.at === undefined
      ? await readHoldings(store.pool, liveTables(holdings).holdings!, filter, method)
      : (await projectionAt(store, holdings, q.at, filter)).filter((r) => r.method === method);
  // No rows: an account not synced yet (or not by then), or one that never was.
  if (q.account !== undefined && shown.length === 0 && !(await knownAccount(store.pool, filter))) throw new UnknownAccountError(`no account ${q.account} has been recorded`);
  return { at, method, holdings: shown, totals: totalsOf(shown) };
}
