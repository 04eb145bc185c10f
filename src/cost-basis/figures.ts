// A ledger's holdings as the portfolio shows them, by the old module's definitions:
// value = quantity x price, PnL = quantity x (price - entry), PnL % = (price / entry - 1) x 100.
import { METHODS, type Method } from './book.js';
import { Exact } from './exact.js';
import type { Ledger } from './ledger.js';

export interface HoldingFigures {
  method: Method;
  asset: string;
  /** `asset`: units held, costed by the ledger. `position`: a derivatives position, as the exchange reports it. */
  kind: 'asset' | 'position';
  quote: string;
  quantity: string;
  /** Cost of the units with a known cost (null for a position). */
  costBasis: string | null;
  entryPrice: string | null;
  currentPrice: string | null;
  value: string | null;
  /** Unrealized: quantity x (price - entry); a position's is the exchange's. */
  pnl: string | null;
  pnlPercentage: string | null;
  realizedPnl: string;
  unknownCostQuantity: string;
  drift: string;
  conversion: boolean;
  unvaluedFees: Record<string, string>;
  asOf: string | null;
}

const s = (x: Exact | null) => (x === null ? null : x.toString());

function percentage(price: Exact, entry: Exact, short = false): Exact | null {
  if (entry.isZero()) return null;
  const pct = price.div(entry).minus(Exact.ONE).times(Exact.HUNDRED);
  return short ? pct.negated() : pct;
}

function assetRows(l: Ledger, method: Method): HoldingFigures[] {
  const out: HoldingFigures[] = [];
  for (const [asset, a] of l.assets) {
    const book = a.books[method];
    const quantity = book.quantity();
    if (quantity.isZero() && book.realized.isZero() && a.drift.isZero()) continue;
    const known = book.known();
    const entry = known.qty.isZero() ? null : known.cost.div(known.qty);
    const price = l.priceOf(asset);
    out.push({
      method,
      asset,
      kind: 'asset',
      quote: l.quote!,
      quantity: quantity.toString(),
      costBasis: known.cost.toString(),
      entryPrice: s(entry),
      currentPrice: s(price),
      value: price === null ? null : quantity.times(price).toString(),
      pnl: price === null || entry === null ? null : quantity.times(price.minus(entry)).toString(),
      pnlPercentage: price === null || entry === null ? null : s(percentage(price, entry)),
      realizedPnl: book.realized.toString(),
      // The quote's own units cost what they are: one each.
      unknownCostQuantity: asset === l.quote ? '0' : book.unknownCost().toString(),
      drift: a.drift.toString(),
      conversion: a.conversion,
      unvaluedFees: Object.fromEntries([...a.unvaluedFees].map(([c, v]) => [c, v.toString()])),
      asOf: l.asOf,
    });
  }
  return out;
}

/** Open positions (both sides of one symbol netted), and closed ones that realized PnL. */
function positionRows(l: Ledger, method: Method): HoldingFigures[] {
  const symbols = new Set([...l.positions.map((p) => p.symbol), ...l.derivatives.keys()]);
  const out: HoldingFigures[] = [];
  for (const symbol of symbols) {
    const open = l.positions.filter((p) => p.symbol === symbol);
    const d = l.derivatives.get(symbol);
    let quantity = Exact.ZERO;
    let value: Exact | null = Exact.ZERO;
    let pnl: Exact | null = Exact.ZERO;
    for (const p of open) {
      const c = Exact.of(p.contracts);
      quantity = p.side === 'short' ? quantity.minus(c) : quantity.plus(c);
      value = value === null || p.notional === null ? null : value.plus(Exact.of(p.notional));
      pnl = pnl === null || p.unrealizedPnl === null ? null : pnl.plus(Exact.of(p.unrealizedPnl));
    }
    const one = open.length === 1 ? open[0]! : undefined;
    const entry = one?.entryPrice ? Exact.of(one.entryPrice) : null;
    const mark = one?.markPrice ? Exact.of(one.markPrice) : null;
    const settle = d?.settle ?? (symbol.split(':')[1]?.split('-')[0] || l.quote!);
    out.push({
      method,
      asset: symbol,
      kind: 'position',
      quote: settle,
      quantity: quantity.toString(),
      costBasis: null,
      entryPrice: s(entry),
      currentPrice: open.length === 1 ? s(mark) : null,
      value: open.length ? s(value) : '0',
      pnl: open.length ? s(pnl) : '0',
      pnlPercentage: entry && mark ? s(percentage(mark, entry, one!.side === 'short')) : null,
      realizedPnl: (d?.realized ?? Exact.ZERO).toString(),
      unknownCostQuantity: '0',
      drift: '0',
      conversion: false,
      unvaluedFees: {},
      asOf: l.asOf,
    });
  }
  return out;
}

/** Every holding of the ledger under each method; nothing before its first snapshot. */
export function holdingFigures(l: Ledger): HoldingFigures[] {
  if (l.quote === null || l.asOf === null) return [];
  return METHODS.flatMap((m) => [...assetRows(l, m), ...positionRows(l, m)]);
}
