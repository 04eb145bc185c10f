// What a snapshot learns about an account that the next ones need not ask again: its account type
// (bybit classic or unified), whether it has a futures account at all (binance). Kept in memory
// per account for a day, so an account that changes type is seen within a day, and a restart asks
// once more.
export const FACTS_TTL_MS = 24 * 60 * 60 * 1000;

export class AccountFacts {
  private readonly facts = new Map<string, { value: unknown; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  get<T>(key: string): T | undefined {
    const f = this.facts.get(key);
    if (!f) return undefined;
    if (f.until <= this.now()) {
      this.facts.delete(key);
      return undefined;
    }
    return f.value as T;
  }

  set(key: string, value: unknown, ttlMs = FACTS_TTL_MS): void {
    this.facts.set(key, { value, until: this.now() + ttlMs });
  }

  forget(key: string): void {
    this.facts.delete(key);
  }
}
