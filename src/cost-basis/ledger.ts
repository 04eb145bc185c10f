// One account's cost basis: a pure fold of its facts in exchange-time order, under both methods at
// once (the books differ only in which units leave first, and holding both lets
// EXCHANGE_SYNC_COST_BASIS switch the portfolio without a rebuild). The rules it applies are
// docs/cost-basis.md, one section per rule; the golden tests check each with hand-computed figures.
import { z } from 'zod';
import { Book, METHODS, type Lot, type LotKind, type Method } from './book.js';
import { Exact } from './exact.js';
import { compareKeys, type FactKey, type FillFact, type PlacedFact, type SnapshotFact, type SnapshotPosition, type TransferFact } from './facts.js';

type PerMethod<T> = Record<Method, T>;

/** What a withdrawal with a txid took out of the account, so the deposit it became elsewhere carries its cost. */
export interface WithdrawalLink {
  currency: string;
  txid: string;
  /** The withdrawing account's quote: its cost is in this currency. */
  quote: string;
  qty: Exact;
  /** null where part of what left had no cost yet. */
  cost: PerMethod<Exact | null>;
}

export const linkKey = (currency: string, txid: string) => `${currency}|${txid}`;

interface AssetState {
  books: PerMethod<Book>;
  /** Each distinct book with the method it serves first: the quote's one book serves both. */
  each: [Method, Book][];
  /** It has appeared in a snapshot: a later unexplained gap is an adjustment, not an opening. */
  seen: boolean;
  /** Net quantity the snapshots added (or took) that the history did not explain. */
  drift: Exact;
  /** A fill of it was valued through another currency's price. */
  conversion: boolean;
  /** Fees of its fills in a currency with no recorded price: kept apart, not in its cost. */
  unvaluedFees: Map<string, Exact>;
}

interface DerivativeState {
  settle: string;
  realized: Exact;
}

/** Resolves a deposit's txid to the withdrawal (in another account) it came from. */
export type MatchWithdrawal = (currency: string, txid: string) => WithdrawalLink | undefined;

const parts = (symbol: string) => {
  const [base = symbol, rest = ''] = symbol.split('/');
  const [quote = rest, settleAndExpiry] = rest.split(':');
  const settle = settleAndExpiry?.split('-')[0] || quote;
  return { base, quote, settle };
};

const isDerivative = (f: FillFact) => f.market === 'swap' || f.market === 'future' || f.market === 'option';

export class Ledger {
  quote: string | null = null;
  last: FactKey | null = null;
  /** Time of the newest snapshot folded. */
  asOf: string | null = null;
  /** Newest recorded price of each asset in the quote: snapshots, and fills in the quote. */
  readonly prices = new Map<string, Exact>();
  positions: SnapshotPosition[] = [];
  readonly assets = new Map<string, AssetState>();
  readonly derivatives = new Map<string, DerivativeState>();
  readonly withdrawals = new Map<string, WithdrawalLink>();
  readonly deposits = new Set<string>();

  /** The account's quote must be known before a fill can be valued: the first snapshot's. */
  constructor(quote: string | null = null) {
    this.quote = quote;
  }

  priceOf(asset: string): Exact | null {
    return asset === this.quote ? Exact.ONE : (this.prices.get(asset) ?? null);
  }

  asset(name: string): AssetState {
    let a = this.assets.get(name);
    if (!a) {
      // The quote's units each cost one: one pool, the same under either method, kept once.
      const books = name === this.quote ? ((b) => ({ average: b, fifo: b }))(new Book('average', true)) : { average: new Book('average'), fifo: new Book('fifo') };
      a = { books, each: books.average === books.fifo ? [['average', books.average]] : [['average', books.average], ['fifo', books.fifo]], seen: false, drift: Exact.ZERO, conversion: false, unvaluedFees: new Map() };
      this.assets.set(name, a);
    }
    return a;
  }

  /** Folds facts that all come after `last` (the caller folds from scratch otherwise). */
  fold(placed: readonly PlacedFact[], match: MatchWithdrawal): void {
    for (const p of placed) {
      if (this.last && compareKeys(p.key, this.last) <= 0) throw new Error('cost basis: facts must be folded in order');
      const f = p.fact;
      if (f.kind === 'snapshot') this.snapshot(f);
      else if (f.kind === 'fill') this.fill(f);
      else this.transfer(f, match);
      this.last = p.key;
    }
  }

  // --- units in and out ----------------------------------------------------------------------

  private open(asset: string, qty: Exact, cost: PerMethod<Exact | null> | Exact | null, kind: LotKind, at: string): void {
    if (qty.sign() <= 0) return;
    const a = this.asset(asset);
    for (const [m, book] of a.each) {
      const c = cost === null || cost instanceof Exact ? cost : cost[m];
      book.open({ qty, cost: c, kind, at } satisfies Lot);
    }
  }

  /** Units leave at their cost; what they cost per method. */
  private takeAtCost(asset: string, qty: Exact): PerMethod<Exact | null> {
    const a = this.asset(asset);
    const out = {} as PerMethod<Exact | null>;
    for (const [m, book] of a.each) {
      const t = book.take(qty);
      out[m] = t.unpriced.isZero() ? t.cost : null;
    }
    if (a.each.length === 1) out.fifo = out.average;
    return out;
  }

  /**
   * Units leave for `proceeds` (their market value, in the quote): each method realizes proceeds
   * minus what they cost. Units without a cost leave at the same unit price, realizing nothing.
   */
  private sell(asset: string, qty: Exact, proceeds: Exact): void {
    if (qty.sign() <= 0) return;
    const a = this.asset(asset);
    for (const [, book] of a.each) {
      const t = book.take(qty);
      if (t.unpriced.isZero()) book.realized = book.realized.plus(proceeds.minus(t.cost));
      else if (t.unpriced.compare(qty) < 0) book.realized = book.realized.plus(proceeds.minus(t.cost).minus(proceeds.times(t.unpriced).div(qty)));
    }
  }

  // --- the facts -----------------------------------------------------------------------------

  private fill(f: FillFact): void {
    if (this.quote === null) return;
    if (isDerivative(f)) return this.derivativeFill(f);
    const { base, quote } = parts(f.symbol);
    const amount = Exact.of(f.amount);
    const cost = Exact.of(f.cost);
    let baseFee = Exact.ZERO;
    let quoteFee = Exact.ZERO;
    // Fees in a third currency (BNB): that currency's units leave at market value, which the fill's cost includes.
    let thirdFees = Exact.ZERO;
    const unvalued: [string, Exact][] = [];
    for (const fee of f.fees) {
      const c = Exact.of(fee.cost);
      if (c.sign() <= 0) continue;
      if (fee.currency === base) baseFee = baseFee.plus(c);
      else if (fee.currency === quote) quoteFee = quoteFee.plus(c);
      else {
        const p = this.priceOf(fee.currency);
        if (p === null) {
          this.takeAtCost(fee.currency, c);
          unvalued.push([fee.currency, c]);
        } else {
          const value = c.times(p);
          this.sell(fee.currency, c, value);
          thirdFees = thirdFees.plus(value);
        }
      }
    }
    const quotePrice = this.priceOf(quote);
    const converted = quote !== this.quote;
    const b = this.asset(base);
    if (converted) {
      b.conversion = true;
      this.asset(quote).conversion = true;
    }
    for (const [currency, c] of unvalued) b.unvaluedFees.set(currency, (b.unvaluedFees.get(currency) ?? Exact.ZERO).plus(c));

    if (f.side === 'buy') {
      const paid = cost.plus(quoteFee);
      if (quotePrice === null) this.takeAtCost(quote, paid);
      else this.sell(quote, paid, paid.times(quotePrice));
      const lotCost = quotePrice === null ? null : paid.times(quotePrice).plus(thirdFees);
      this.open(base, amount.minus(baseFee), lotCost, 'trade', f.at);
    } else {
      const received = cost.minus(quoteFee);
      const leaving = amount.plus(baseFee);
      if (quotePrice === null) this.takeAtCost(base, leaving);
      else this.sell(base, leaving, received.times(quotePrice).minus(thirdFees));
      this.open(quote, received, quotePrice === null ? null : received.times(quotePrice), 'trade', f.at);
    }
    if (!converted && f.market === 'spot') this.prices.set(base, Exact.of(f.price));
  }

  /**
   * A derivatives fill moves no spot units: the position is the exchange's. Its realized PnL (as
   * the exchange reports it) is the position's, and arrives in the settle currency together with
   * the fee leaving, so the settle currency's quantity follows the wallet.
   */
  private derivativeFill(f: FillFact): void {
    const { settle } = parts(f.symbol);
    const d = this.derivatives.get(f.symbol) ?? { settle, realized: Exact.ZERO };
    this.derivatives.set(f.symbol, d);
    let flow = Exact.ZERO;
    if (f.realizedPnl !== null) {
      const pnl = Exact.of(f.realizedPnl);
      d.realized = d.realized.plus(pnl);
      flow = flow.plus(pnl);
    }
    for (const fee of f.fees) {
      const c = Exact.of(fee.cost);
      if (fee.currency === settle) flow = flow.minus(c);
      else if (c.sign() > 0) this.takeAtCost(fee.currency, c);
    }
    if (flow.sign() > 0) {
      const p = this.priceOf(settle);
      this.open(settle, flow, p === null ? null : flow.times(p), 'trade', f.at);
    } else if (flow.sign() < 0) this.takeAtCost(settle, flow.negated());
  }

  /**
   * A withdrawal counts unless it failed or was canceled (the exchange takes the units when it is
   * requested); a deposit once it is ok (the exchange credits it then).
   */
  private transfer(f: TransferFact, match: MatchWithdrawal): void {
    if (this.quote === null) return;
    const amount = Exact.of(f.amount);
    if (f.type === 'withdrawal') {
      if (f.status === 'failed' || f.status === 'canceled') return;
      const sameFee = f.fee && f.fee.currency === f.currency ? Exact.of(f.fee.cost) : Exact.ZERO;
      const cost = this.takeAtCost(f.currency, amount.plus(sameFee));
      if (f.fee && f.fee.currency !== f.currency) this.takeAtCost(f.fee.currency, Exact.of(f.fee.cost));
      if (f.txid) this.withdrawals.set(linkKey(f.currency, f.txid), { currency: f.currency, txid: f.txid, quote: this.quote, qty: amount, cost });
      return;
    }
    if (f.status !== 'ok') return;
    if (f.txid) this.deposits.add(linkKey(f.currency, f.txid));
    const from = f.txid ? match(f.currency, f.txid) : undefined;
    // The quote's units cost one each wherever they came from; a cost in another quote says nothing here.
    if (from && from.quote === this.quote && f.currency !== this.quote && from.cost.average !== null && from.cost.fifo !== null) {
      this.open(f.currency, amount, from.cost, 'transfer', f.at);
      return;
    }
    if (from && f.currency === this.quote) {
      this.open(f.currency, amount, amount, 'transfer', f.at);
      return;
    }
    // Units from outside: their cost is the price of the snapshot where they first appear.
    this.open(f.currency, amount, f.currency === this.quote ? amount : null, 'opening', f.at);
  }

  private snapshot(s: SnapshotFact): void {
    if (this.quote === null) this.quote = s.quote;
    // Prices in another quote (the account's quote was changed) value nothing here.
    if (s.quote === this.quote) for (const [asset, price] of Object.entries(s.prices)) this.prices.set(asset, Exact.of(price));
    for (const [name, a] of this.assets) {
      const p = this.priceOf(name);
      if (p !== null) for (const [, book] of a.each) if (book.hasUnpriced()) book.price(p);
    }
    // The snapshot wins for quantity: what the history does not explain becomes a lot of its own.
    const names = new Set([...Object.keys(s.totals), ...this.assets.keys()]);
    for (const name of names) {
      const total = s.totals[name] === undefined ? Exact.ZERO : Exact.of(s.totals[name]!);
      const a = this.asset(name);
      const gap = total.minus(a.books.average.quantity());
      if (gap.sign() > 0) {
        const p = this.priceOf(name);
        const kind: LotKind = a.seen ? 'adjustment' : 'opening';
        this.open(name, gap, p === null ? null : gap.times(p), kind, s.at);
        if (kind === 'adjustment') a.drift = a.drift.plus(gap);
      } else if (gap.sign() < 0) {
        this.takeAtCost(name, gap.negated());
        a.drift = a.drift.plus(gap);
      }
      if (total.sign() > 0) a.seen = true;
    }
    this.positions = s.positions;
    this.asOf = s.at;
  }

  // --- stored form ---------------------------------------------------------------------------

  toJSON(): LedgerState {
    const books = (a: AssetState) =>
      Object.fromEntries(
        METHODS.map((m) => [m, { realized: a.books[m].realized.toString(), lots: a.books[m].lots.map((l) => [l.qty.toString(), l.cost?.toString() ?? null, l.kind, l.at] as const) }]),
      ) as LedgerState['assets'][string]['books'];
    return {
      quote: this.quote,
      last: this.last ? [...this.last] : null,
      asOf: this.asOf,
      prices: Object.fromEntries([...this.prices].map(([k, v]) => [k, v.toString()])),
      positions: this.positions,
      assets: Object.fromEntries(
        [...this.assets].map(([name, a]) => [
          name,
          { seen: a.seen, drift: a.drift.toString(), conversion: a.conversion, unvaluedFees: Object.fromEntries([...a.unvaluedFees].map(([c, v]) => [c, v.toString()])), books: books(a) },
        ]),
      ),
      derivatives: Object.fromEntries([...this.derivatives].map(([s, d]) => [s, { settle: d.settle, realized: d.realized.toString() }])),
      withdrawals: [...this.withdrawals.values()].map((w) => ({ currency: w.currency, txid: w.txid, quote: w.quote, qty: w.qty.toString(), cost: { average: w.cost.average?.toString() ?? null, fifo: w.cost.fifo?.toString() ?? null } })),
      deposits: [...this.deposits],
    };
  }

  /** From toJSON()'s output, which only the holdings projection writes: not validated again (thousands of lots per account). */
  static fromJSON(raw: unknown): Ledger {
    const s = raw as LedgerState;
    const l = new Ledger(s.quote);
    l.last = s.last ? [s.last[0], s.last[1] as 0 | 1, s.last[2], s.last[3]] : null;
    l.asOf = s.asOf;
    for (const [k, v] of Object.entries(s.prices)) l.prices.set(k, Exact.of(v));
    l.positions = s.positions;
    for (const [name, a] of Object.entries(s.assets)) {
      const st = l.asset(name);
      st.seen = a.seen;
      st.drift = Exact.of(a.drift);
      st.conversion = a.conversion;
      for (const [c, v] of Object.entries(a.unvaluedFees)) st.unvaluedFees.set(c, Exact.of(v));
      for (const [m] of st.each) {
        st.books[m].realized = Exact.of(a.books[m].realized);
        st.books[m].lots = a.books[m].lots.map(([qty, cost, kind, at]) => ({ qty: Exact.of(qty), cost: cost === null ? null : Exact.of(cost), kind, at }));
      }
    }
    for (const [sym, d] of Object.entries(s.derivatives)) l.derivatives.set(sym, { settle: d.settle, realized: Exact.of(d.realized) });
    for (const w of s.withdrawals) {
      l.withdrawals.set(linkKey(w.currency, w.txid), {
        currency: w.currency,
        txid: w.txid,
        quote: w.quote,
        qty: Exact.of(w.qty),
        cost: { average: w.cost.average === null ? null : Exact.of(w.cost.average), fifo: w.cost.fifo === null ? null : Exact.of(w.cost.fifo) },
      });
    }
    for (const d of s.deposits) l.deposits.add(d);
    return l;
  }
}

const Num = z.string();
const LotTuple = z.tuple([Num, Num.nullable(), z.enum(['trade', 'transfer', 'opening', 'adjustment']), z.string()]);
const BookState = z.object({ realized: Num, lots: z.array(LotTuple) });

/** A ledger as the holdings projection stores it between batches (jsonb). */
export const LedgerState = z.object({
  quote: z.string().nullable(),
  last: z.tuple([z.number(), z.number(), z.number(), z.number()]).nullable(),
  asOf: z.string().nullable(),
  prices: z.record(z.string(), Num),
  positions: z.array(
    z.object({
      symbol: z.string(),
      side: z.enum(['long', 'short']),
      contracts: Num,
      entryPrice: Num.nullable(),
      markPrice: Num.nullable(),
      notional: Num.nullable(),
      unrealizedPnl: Num.nullable(),
    }),
  ),
  assets: z.record(
    z.string(),
    z.object({ seen: z.boolean(), drift: Num, conversion: z.boolean(), unvaluedFees: z.record(z.string(), Num), books: z.object({ average: BookState, fifo: BookState }) }),
  ),
  derivatives: z.record(z.string(), z.object({ settle: z.string(), realized: Num })),
  withdrawals: z.array(z.object({ currency: z.string(), txid: z.string(), quote: z.string(), qty: Num, cost: z.object({ average: Num.nullable(), fifo: Num.nullable() }) })),
  deposits: z.array(z.string()),
});
export type LedgerState = z.infer<typeof LedgerState>;
