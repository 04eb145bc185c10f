// Error text from ccxt quotes request URLs (Binance puts the HMAC `signature=` and the
// timestamp in the query string) and response bodies (which may echo the key). Everything we
// raise or log passes through here, because pino's path-based redaction cannot see inside a
// message string.

export interface Secrets {
  apiKey?: string | undefined;
  secret?: string | undefined;
  password?: string | undefined;
}

const MASK = '***';

// Query parameters and header-like fragments that carry a signature or a key.
const SIGNED_PARAMS = /\b(signature|sign|api_key|apikey|api-key|x-bapi-sign|x-bapi-api-key|x-mbx-apikey)=([^&\s"',}]+)/gi;
// Bybit's "openapi sign params error" message: apiKey[...] apiSignature[...]
const BRACKETED = /\b(apiKey|apiSignature|apiTimestamp)\[[^\]]*\]/g;

// Shorter strings cannot be scrubbed without mangling unrelated text; real keys are far longer.
const MIN_SECRET_LENGTH = 4;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function scrub(text: string, secrets: Secrets = {}): string {
  let out = text.replace(SIGNED_PARAMS, (_m, name: string) => `${name}=${MASK}`).replace(BRACKETED, (_m, name: string) => `${name}[${MASK}]`);
  for (const value of [secrets.secret, secrets.password, secrets.apiKey]) {
    if (value === undefined || value.length < MIN_SECRET_LENGTH) continue;
    const forms = new Set([value, encodeURIComponent(value)]);
    for (const form of forms) out = out.replace(new RegExp(escapeRegExp(form), 'g'), MASK);
  }
  return out;
}
