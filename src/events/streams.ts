// Accounts and their streams: one stream per exchange account, '<exchange>:<account>'.
import { z } from 'zod';

/** The one identity of an account everywhere: config, syncs, commands, streams, read models. */
export const AccountId = z.object({ exchange: z.string().min(1), account: z.string().min(1) });
export type AccountId = z.infer<typeof AccountId>;

/** A selection of accounts: absent fields match every account. */
export type AccountFilter = Partial<AccountId>;

export function accountStream(id: AccountId): string {
  return `${id.exchange}:${id.account}`;
}

export function parseAccountStream(streamId: string): AccountId {
  const i = streamId.indexOf(':');
  if (i <= 0 || i === streamId.length - 1) throw new Error(`not an account stream id: "${streamId}"`);
  return { exchange: streamId.slice(0, i), account: streamId.slice(i + 1) };
}

export function matchesFilter(id: AccountId, filter: AccountFilter): boolean {
  return (filter.exchange === undefined || id.exchange === filter.exchange) && (filter.account === undefined || id.account === filter.account);
}

/** How a user names accounts: NAME (that name on every exchange) or EXCHANGE:NAME (one account). */
export const ACCOUNT_SELECTOR = /^([a-z0-9]+:)?[A-Za-z0-9_-]+$/;

/** The filter an ACCOUNT_SELECTOR text names. */
export function selectAccounts(text: string): AccountFilter {
  const i = text.indexOf(':');
  return i < 0 ? { account: text } : { exchange: text.slice(0, i), account: text.slice(i + 1) };
}
