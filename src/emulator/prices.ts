// Prices that move: a small random walk per symbol, stepped lazily by elapsed time, so the price
// at step n depends only on (seed, exchange, symbol, n) and not on who asked when. Every step is
// exact decimal math rounded to the market's tick.
import { canonical, cmp, decimalsOf, div, isDecimal, mul, quantize } from './decimal.js';
import { EmulatorInputError } from './types.js';

interface Track {
  price: string;
  /** the price the 24h statistics start from (the first price this book saw) */
  open: string;
  high: string;
  low: string;
  tick: string;
  rng: number;
  lastStepAt: number;
}

/** Steps replayed at most per read; a long idle gap skips the rest instead of stalling a request. */
const MAX_STEPS_PER_READ = 10_000;
/** Largest move per step, in units of 1/100000 (0.02%). */
const MAX_STEP = 20;

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32: one uint32 of state, good enough for a price wiggle and fully reproducible. */
function nextRandom(state: number): [number, number] {
  const s = (state + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [s, ((t ^ (t >>> 14)) >>> 0) / 4294967296];
}

export interface TickerStats {
  last: string;
  open: string;
  high: string;
  low: string;
  tick: string;
}

export class PriceBook {
  private readonly tracks = new Map<string, Track>();
  private frozen = false;

  constructor(
    private readonly name: string,
    private readonly seed: number,
    private readonly driftMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  add(symbol: string, initial: string, tick: string): void {
    const price = cmp(quantize(initial, tick), '0') > 0 ? quantize(initial, tick) : tick;
    this.tracks.set(symbol, {
      price,
      open: price,
      high: price,
      low: price,
      tick,
      rng: fnv1a(`${this.seed}:${this.name}:${symbol}`),
      lastStepAt: this.now(),
    });
  }

  has(symbol: string): boolean {
    return this.tracks.has(symbol);
  }

  symbols(): string[] {
    return [...this.tracks.keys()];
  }

  private track(symbol: string): Track {
    const t = this.tracks.get(symbol);
    if (!t) throw new EmulatorInputError(`${this.name}: no market "${symbol}" (known: ${this.symbols().join(', ')})`);
    return t;
  }

  private advance(t: Track): void {
    const now = this.now();
    if (this.frozen || this.driftMs <= 0) {
      t.lastStepAt = now;
      return;
    }
    let steps = Math.floor((now - t.lastStepAt) / this.driftMs);
    if (steps <= 0) return;
    t.lastStepAt += steps * this.driftMs;
    steps = Math.min(steps, MAX_STEPS_PER_READ);
    for (let i = 0; i < steps; i++) {
      const [rng, r] = nextRandom(t.rng);
      t.rng = rng;
      const k = Math.floor(r * (2 * MAX_STEP + 1)) - MAX_STEP;
      const factor = (100_000 + k).toString();
      // price * (100000 + k) / 100000 is exact with 5 more decimals; the tick rounding comes after
      let next = quantize(div(mul(t.price, factor), '100000', decimalsOf(t.price) + 5), t.tick);
      if (cmp(next, '0') <= 0) next = t.tick;
      t.price = next;
      if (cmp(next, t.high) > 0) t.high = next;
      if (cmp(next, t.low) < 0) t.low = next;
    }
  }

  price(symbol: string): string {
    const t = this.track(symbol);
    this.advance(t);
    return t.price;
  }

  stats(symbol: string): TickerStats {
    const t = this.track(symbol);
    this.advance(t);
    return { last: t.price, open: t.open, high: t.high, low: t.low, tick: t.tick };
  }

  set(symbol: string, price: string): void {
    const t = this.track(symbol);
    if (!isDecimal(price) || cmp(price, '0') <= 0) throw new EmulatorInputError(`price for ${symbol} must be a positive decimal string, got "${price}"`);
    this.advance(t);
    // kept as given (not rounded to the tick): a test that sets a price expects to read it back
    t.price = canonical(price);
    if (cmp(t.price, t.high) > 0) t.high = t.price;
    if (cmp(t.price, t.low) < 0) t.low = t.price;
  }

  freeze(frozen: boolean): void {
    // settle the walk up to now, so unfreezing does not replay the frozen interval
    for (const t of this.tracks.values()) this.advance(t);
    this.frozen = frozen;
  }

  isFrozen(): boolean {
    return this.frozen;
  }
}
