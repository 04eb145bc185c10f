// One asset's units under one cost-basis method: the lots that make them up, and what leaving
// units cost. `fifo` takes the oldest lots first. `average` keeps one pooled lot per kind and
// takes from every one in proportion, which is average cost: each unit leaves at cost / quantity.
// A lot's cost is null while no price for it is known (it is set at the next snapshot that prices
// the asset); units leaving such a lot take the price they leave at, so they realize nothing.
import { Exact } from './exact.js';

export const METHODS = ['average', 'fifo'] as const;
export type Method = (typeof METHODS)[number];

/** trade: bought or received in a fill; transfer: deposited, carrying the cost of the matching withdrawal; opening: held or deposited with no history explaining its cost; adjustment: a snapshot held more than the history says. */
export type LotKind = 'trade' | 'transfer' | 'opening' | 'adjustment';

export interface Lot {
  qty: Exact;
  /** Whole cost of the lot in the account's quote; null until a price is known. */
  cost: Exact | null;
  kind: LotKind;
  /** When it opened (the first of a pooled lot's parts). */
  at: string;
}

export interface Taken {
  /** Cost of the units taken that had one. */
  cost: Exact;
  /** Units taken from lots without a cost yet, plus units beyond what was held. */
  unpriced: Exact;
}

export class Book {
  private _lots: Lot[] = [];
  private held = Exact.ZERO;
  realized = Exact.ZERO;

  /**
   * `cash`: the account's quote currency, whose every unit costs one unit: one pooled lot under
   * either method (what would oldest-first change, when every lot costs what it holds).
   */
  constructor(
    readonly method: Method,
    readonly cash = false,
  ) {}

  get lots(): readonly Lot[] {
    return this._lots;
  }

  set lots(lots: readonly Lot[]) {
    this._lots = lots.map((l) => ({ ...l }));
    this.held = this._lots.reduce((q, l) => q.plus(l.qty), Exact.ZERO);
  }

  quantity(): Exact {
    return this.held;
  }

  open(lot: Lot): void {
    if (lot.qty.sign() <= 0) return;
    this.held = this.held.plus(lot.qty);
    if (this.cash && this._lots.length === 1 && this._lots[0]!.cost !== null && lot.cost !== null) {
      const only = this._lots[0]!;
      only.qty = only.qty.plus(lot.qty);
      only.cost = only.cost!.plus(lot.cost);
      return;
    }
    // fifo: adjustments in a row (a balance that keeps rising with no history, earn interest) are
    // one lot, so an account without fills does not grow a lot per snapshot.
    const last = this._lots[this._lots.length - 1];
    if (this.method === 'fifo' && lot.kind === 'adjustment' && last?.kind === 'adjustment' && last.cost !== null && lot.cost !== null) {
      last.qty = last.qty.plus(lot.qty);
      last.cost = last.cost.plus(lot.cost);
      return;
    }
    if (this.method === 'average') {
      const same = this._lots.find((l) => l.kind === lot.kind && (l.cost === null) === (lot.cost === null));
      if (same) {
        same.qty = same.qty.plus(lot.qty);
        if (same.cost !== null) same.cost = same.cost.plus(lot.cost!);
        return;
      }
    }
    this._lots.push({ ...lot });
  }

  /**
   * Removes `qty` units (or all there are) and says what they cost. A lot partly taken keeps
   * cost minus the part's cost, so the cost of what is held and what left always sums exactly to
   * what was paid; only the part's cost is a rounded division.
   */
  take(qty: Exact): Taken {
    let cost = Exact.ZERO;
    let unpriced = Exact.ZERO;
    if (qty.sign() <= 0) return { cost, unpriced };
    const held = this.held;
    if (held.compare(qty) <= 0) {
      for (const l of this._lots) {
        if (l.cost === null) unpriced = unpriced.plus(l.qty);
        else cost = cost.plus(l.cost);
      }
      this._lots = [];
      this.held = Exact.ZERO;
      return { cost, unpriced: unpriced.plus(qty.minus(held)) };
    }
    this.held = held.minus(qty);
    const only = this._lots.length === 1 ? this._lots[0]! : undefined;
    if (this.cash && only && only.cost !== null && only.cost.compare(only.qty) === 0) {
      only.qty = only.qty.minus(qty);
      only.cost = only.qty;
      return { cost: qty, unpriced };
    }
    if (this.method === 'fifo') {
      let left = qty;
      // Lots used up are cut off in one splice: shift() per lot is O(lots) each time.
      let used = 0;
      while (left.sign() > 0) {
        const l = this._lots[used]!;
        if (l.qty.compare(left) <= 0) {
          if (l.cost === null) unpriced = unpriced.plus(l.qty);
          else cost = cost.plus(l.cost);
          left = left.minus(l.qty);
          used += 1;
        } else {
          if (l.cost === null) unpriced = unpriced.plus(left);
          else {
            const part = l.cost.times(left).div(l.qty);
            cost = cost.plus(part);
            l.cost = l.cost.minus(part);
          }
          l.qty = l.qty.minus(left);
          left = Exact.ZERO;
        }
      }
      if (used) this._lots.splice(0, used);
      return { cost, unpriced };
    }
    // average: every pooled lot gives its share; the last gives what is left, so exactly qty leaves.
    let left = qty;
    const give = (l: Lot, share: Exact) => {
      if (share.sign() <= 0) return;
      if (l.cost === null) unpriced = unpriced.plus(share);
      else {
        const part = share.compare(l.qty) === 0 ? l.cost : l.cost.times(share).div(l.qty);
        cost = cost.plus(part);
        l.cost = l.cost.minus(part);
      }
      l.qty = l.qty.minus(share);
      left = left.minus(share);
    };
    this._lots.forEach((l, i) => give(l, (i === this._lots.length - 1 ? left : l.qty.times(qty).div(held).min(left)).min(l.qty)));
    // Rounded shares can leave a last digit over; it comes from whichever lots still hold units.
    for (const l of this._lots) if (left.sign() > 0) give(l, left.min(l.qty));
    this._lots = this._lots.filter((l) => l.qty.sign() > 0);
    return { cost, unpriced };
  }

  /** Gives the lots still without a cost the price now known for the asset. */
  price(price: Exact): void {
    const pending = this._lots.filter((l) => l.cost === null);
    for (const l of pending) {
      l.cost = l.qty.times(price);
      if (this.method === 'average' || this.cash) {
        // Re-pooled with its kind's priced lot: take it out, open it again.
        this._lots.splice(this._lots.indexOf(l), 1);
        this.held = this.held.minus(l.qty);
        this.open(l);
      }
    }
  }

  hasUnpriced(): boolean {
    return this._lots.some((l) => l.cost === null);
  }

  /** Cost of the units with a known cost, and how many those are. */
  known(): { cost: Exact; qty: Exact } {
    let cost = Exact.ZERO;
    let qty = Exact.ZERO;
    for (const l of this.lots) {
      if (l.cost === null) continue;
      cost = cost.plus(l.cost);
      qty = qty.plus(l.qty);
    }
    return { cost, qty };
  }

  /** Units whose cost no history gave: opening lots, and lots still waiting for a price. */
  unknownCost(): Exact {
    let q = Exact.ZERO;
    for (const l of this.lots) if (l.kind === 'opening' || l.cost === null) q = q.plus(l.qty);
    return q;
  }
}
