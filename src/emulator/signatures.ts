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

/** Binance: the query string exactly as sent, minus the signature parameter itself. */
export function binancePayload(rawQuery: string): { payload: string; signature: string | undefined } {
  const parts = rawQuery === '' ? [] : rawQuery.split('&');
  const signaturePart = parts.find((p) => p.startsWith('signature='));
  return {
    payload: parts.filter((p) => !p.startsWith('signature=')).join('&'),
    signature: signaturePart === undefined ? undefined : decodeURIComponent(signaturePart.slice('signature='.length)),
  };
}
