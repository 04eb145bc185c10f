// Request signatures as the exchanges compute them (and as ccxt's sign() produces them).
import { createHmac, timingSafeEqual } from 'node:crypto';

export function hmacHex(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('hex');
}

/** Constant-time comparison of two hex signatures (case-insensitive, as both exchanges accept). */
export function sameSignature(expected: string, given: string): boolean {
  const a = Buffer.from(expected.toLowerCase());
  const b = Buffer.from(given.toLowerCase());
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Bybit v5 GET: HMAC-SHA256(secret, timestamp + apiKey + recvWindow + rawQueryString). */
export function bybitPayload(timestamp: string, apiKey: string, recvWindow: string, rawQuery: string): string {
  return `${timestamp}${apiKey}${recvWindow}${rawQuery}`;
}

/**
 * Binance: what the signature covers, "totalParams" in binance's words: the query string as sent
 * followed directly (no "&") by the form body as sent, minus the signature parameter itself,
 * which may be in either part.
 */
export function binanceSignedParams(rawQuery: string, body: string): { payload: string; signature: string | undefined } {
  const query = binancePayload(rawQuery);
  const form = binancePayload(body);
  return { payload: `${query.payload}${form.payload}`, signature: query.signature ?? form.signature };
}

/** Binance: the query string exactly as sent, minus the signature parameter itself. */
export function binancePayload(rawQuery: string): { payload: string; signature: string | undefined } {
  const parts = rawQuery === '' ? [] : rawQuery.split('&');
  const signaturePart = parts.find((p) => p.startsWith('signature='));
  return {
    payload: parts.filter((p) => !p.startsWith('signature=')).join('&'),
    signature: signaturePart === undefined ? undefined : decodeURIComponent(signaturePart.slice('signature='.length)),
  };
}
