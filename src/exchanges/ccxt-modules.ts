// ccxt, one exchange at a time. `import ccxt` loads every exchange module (126 MB RSS and ~1 s
// under plain node), yet a daemon talks to one or two exchanges. ccxt's package exports only its
// index, but its ESM build keeps one module per exchange beside it (js/src/<id>.js) plus the base
// modules they share, so they are resolved from the index's URL: errors and Precise now (small,
// needed to classify any failure), an exchange's module when an account of it first syncs.
import { readdirSync } from 'node:fs';
import type { Exchange, Precise as PreciseClass } from 'ccxt';

const SRC = new URL('./src/', import.meta.resolve('ccxt'));

/** Every exchange id ccxt has: its per-exchange modules, listed without loading one (ccxt.exchanges is the same list). */
export const EXCHANGE_IDS: readonly string[] = readdirSync(SRC)
  .filter((f) => /^[a-z0-9]+\.js$/.test(f))
  .map((f) => f.slice(0, -3))
  .sort();

type ErrorClass = abstract new (...args: never[]) => Error;

/** ccxt's exception classes by name; the same classes the exchange modules throw (one module URL). */
export const errors = (await import(new URL('base/errors.js', SRC).href)) as Record<string, ErrorClass> & {
  BadResponse: new (message: string) => Error;
  NullResponse: new (message: string) => Error;
};

export const { Precise } = (await import(new URL('base/Precise.js', SRC).href)) as { Precise: typeof PreciseClass };

export type ExchangeClass = new (config?: Record<string, unknown>) => Exchange;

const loading = new Map<string, Promise<ExchangeClass>>();
const loaded = new Map<string, ExchangeClass>();

/** Loads the exchange's module once; rejects for an id ccxt does not have. */
export function loadExchange(id: string): Promise<ExchangeClass> {
  let p = loading.get(id);
  if (!p) {
    p = (async () => {
      if (!EXCHANGE_IDS.includes(id)) throw new Error(`unknown exchange "${id}" (not a ccxt exchange id)`);
      const mod = (await import(new URL(`${id}.js`, SRC).href)) as { default: ExchangeClass };
      loaded.set(id, mod.default);
      return mod.default;
    })();
    // A failed load (a broken install) is tried again by the next sync, not cached.
    p.catch(() => loading.delete(id));
    loading.set(id, p);
  }
  return p;
}

/** The class of an exchange loadExchange() has loaded. */
export function loadedExchange(id: string): ExchangeClass {
  const cls = loaded.get(id);
  if (!cls) throw new Error(`exchange module "${id}" is not loaded yet (loadExchange first)`);
  return cls;
}
