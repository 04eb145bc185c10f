// ccxt's exception tree -> our ErrorClass. The daemon records the class (sync_failed.errorClass)
// and decides what to tell the user from it, so the mapping must not depend on message text
// except for the documented exchange quirks below.
import { ZodError } from 'zod';
import type { ErrorClass } from '../events/catalog.js';
import { DecimalError } from '../events/decimal.js';
import { errors } from './ccxt-modules.js';
import { scrub, type Secrets } from './scrub.js';

export type { ErrorClass };

/** A failed exchange call, already classified and scrubbed of credentials. */
export class ExchangeError extends Error {
  override name = 'ExchangeError';
  readonly errorClass: ErrorClass;
  readonly retryable: boolean;
  /** 1-based attempt on which this error was raised (the last one when retries ran out). */
  readonly attempt: number;
  /** Name of the underlying ccxt (or other) error class, for debugging; never a message. */
  readonly causeName: string;

  constructor(args: { errorClass: ErrorClass; retryable: boolean; attempt: number; message: string; causeName?: string }) {
    super(args.message);
    this.errorClass = args.errorClass;
    this.retryable = args.retryable;
    this.attempt = args.attempt;
    this.causeName = args.causeName ?? 'Error';
  }

  /** The fields a `sync_failed` event carries. */
  toJSON(): { errorClass: ErrorClass; retryable: boolean; attempt: number; message: string } {
    return { errorClass: this.errorClass, retryable: this.retryable, attempt: this.attempt, message: this.message };
  }
}

/** Raised by our own checks when a reply parses but does not have the shape we rely on. */
export class MalformedReplyError extends Error {
  override name = 'MalformedReplyError';
}

/** A wallet (or its positions) the key may not read. Names the wallet and how to switch it off. */
export class WalletRefusedError extends Error {
  override name = 'WalletRefusedError';
  constructor(
    readonly wallet: string,
    what: string,
    cause: unknown,
    exchangeId: string,
  ) {
    const why = cause instanceof Error ? `${cause.constructor.name}: ${cause.message}` : String(cause);
    super(
      `wallet "${wallet}" (${what}): the API key may not read it (${why}). Give the key read access to it, or switch the wallet off for this account: "wallets": {"${wallet}": false} in the accounts file, or ${exchangeId.toUpperCase()}_WALLETS_OFF=${wallet}`,
    );
  }
}

/** An account of a kind the exchange's plan cannot read whole yet (binance portfolio margin). */
export class UncoveredAccountError extends Error {
  override name = 'UncoveredAccountError';
}

export interface Classification {
  errorClass: ErrorClass;
  retryable: boolean;
}

const is = (err: unknown, name: string): boolean => {
  const ctor = errors[name];
  return ctor !== undefined && err instanceof ctor;
};

// Binance answers -2015 ("Invalid API-key, IP, or permissions") and ccxt turns it into
// DDoSProtection once the instance has had one successful private call, because Binance also
// uses it for temporary bans. A revoked key or a changed IP allow-list looks exactly like that,
// and retrying it only digs the ban deeper, so we call it what the user must fix: auth.
const BINANCE_KEY_REJECTED = /"code"\s*:\s*-2015\b/;

// okx answers 50120 ("API key doesn't have permission to use this function") for an endpoint the
// key's permissions do not cover; ccxt has no entry for the code and raises a plain ExchangeError.
const OKX_NO_PERMISSION = /"code"\s*:\s*"50120"/;

/**
 * Order matters: ccxt's tree nests PermissionDenied under AuthenticationError and
 * RateLimitExceeded/RequestTimeout/InvalidNonce/ExchangeNotAvailable under NetworkError.
 * Only ccxt's OperationFailed subtree is ever retryable.
 */
export function classify(err: unknown, exchangeId: string): Classification {
  if (err instanceof ExchangeError) return { errorClass: err.errorClass, retryable: err.retryable };
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof WalletRefusedError) return { errorClass: 'permission', retryable: false };
  if (err instanceof UncoveredAccountError) return { errorClass: 'internal', retryable: false };
  if (is(err, 'PermissionDenied') || is(err, 'AccountSuspended')) return { errorClass: 'permission', retryable: false };
  if (exchangeId === 'okx' && is(err, 'ExchangeError') && OKX_NO_PERMISSION.test(message)) return { errorClass: 'permission', retryable: false };
  if (is(err, 'AuthenticationError')) return { errorClass: 'auth', retryable: false };
  if (is(err, 'DDoSProtection') && exchangeId.startsWith('binance') && BINANCE_KEY_REJECTED.test(message)) {
    return { errorClass: 'auth', retryable: false };
  }
  if (is(err, 'RateLimitExceeded') || is(err, 'DDoSProtection')) return { errorClass: 'rate_limit', retryable: true };
  if (is(err, 'RequestTimeout')) return { errorClass: 'timeout', retryable: true };
  if (is(err, 'InvalidNonce')) return { errorClass: 'nonce', retryable: true };
  if (is(err, 'ExchangeNotAvailable')) return { errorClass: 'exchange_down', retryable: true }; // includes OnMaintenance
  if (is(err, 'NetworkError')) return { errorClass: 'network', retryable: true };
  // A garbled or empty body is usually a proxy or CDN hiccup: worth another try.
  if (is(err, 'BadResponse')) return { errorClass: 'bad_response', retryable: true }; // includes NullResponse
  if (err instanceof SyntaxError) return { errorClass: 'bad_response', retryable: true };
  // A well-formed reply that does not fit our schema will not fit it next time either.
  if (err instanceof MalformedReplyError || err instanceof ZodError || err instanceof DecimalError) {
    return { errorClass: 'bad_response', retryable: false };
  }
  if (is(err, 'OperationFailed')) return { errorClass: 'network', retryable: true };
  return { errorClass: 'internal', retryable: false };
}

/** Classifies `err` and wraps it in a scrubbed ExchangeError. */
export function toExchangeError(err: unknown, exchangeId: string, attempt: number, secrets: Secrets): ExchangeError {
  if (err instanceof ExchangeError) return err;
  const { errorClass, retryable } = classify(err, exchangeId);
  const raw = err instanceof ZodError ? `reply does not fit the snapshot schema: ${zodSummary(err)}` : err instanceof Error ? err.message : String(err);
  const causeName = err instanceof Error ? err.constructor.name : typeof err;
  return new ExchangeError({ errorClass, retryable, attempt, message: scrub(`${causeName}: ${raw}`, secrets), causeName });
}

function zodSummary(err: ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}
