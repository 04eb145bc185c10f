// Points every endpoint of a ccxt exchange at another host (the emulator, a proxy, a mirror).
// ccxt keeps one base URL per API family in `urls.api` (Binance has ~20: sapi, fapiPrivateV3,
// papi, ...) and signs requests against whichever it picks, so missing a single key sends that
// family's requests, keys included, to the real exchange. Hence: every string, at any depth.

// scheme://authority, where the authority may still hold ccxt placeholders like {hostname}.
const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/[^/?#]*/i;

/** The base URL without a trailing slash; its path (if any) is kept as a prefix. */
function normalizeBase(base: string): URL {
  const url = new URL(base);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`apiUrl must be http(s): ${base}`);
  return url;
}

export function rewriteUrl(original: string, base: string): string {
  const target = normalizeBase(base);
  const match = ORIGIN.exec(original);
  if (!match) return original;
  const scheme = match[1]!.toLowerCase();
  // A websocket endpoint keeps being a websocket endpoint, on the new host.
  const protocol = scheme === 'ws' || scheme === 'wss' ? (target.protocol === 'https:' ? 'wss:' : 'ws:') : target.protocol;
  const prefix = target.pathname.replace(/\/+$/, '');
  return `${protocol}//${target.host}${prefix}${original.slice(match[0].length)}`;
}

/** A deep copy of `api` with every string URL rewritten onto `base`. */
export function rewriteApiUrls<T>(api: T, base: string): T {
  if (typeof api === 'string') return rewriteUrl(api, base) as T;
  if (Array.isArray(api)) return api.map((v: unknown) => rewriteApiUrls(v, base)) as T;
  if (api !== null && typeof api === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(api)) out[k] = rewriteApiUrls(v, base);
    return out as T;
  }
  return api;
}

/** Every string in `api` (for checks that nothing still points elsewhere). */
export function allUrls(api: unknown): string[] {
  if (typeof api === 'string') return [api];
  if (Array.isArray(api)) return api.flatMap(allUrls);
  if (api !== null && typeof api === 'object') return Object.values(api).flatMap(allUrls);
  return [];
}
