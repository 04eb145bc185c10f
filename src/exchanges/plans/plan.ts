// What an exchange plan is: which ccxt calls make one account's snapshot, wallet by wallet. The
// plan returns ccxt's parsed structures; snapshot.ts maps them to the event's shape.
import type { Account } from '../../config.js';
import type { Wallet } from '../../events/catalog.js';
import type { AccountFacts } from '../account-facts.js';
import { MalformedReplyError } from '../errors.js';
import type { Instance } from '../instances.js';
import type { WalletReads } from '../wallet-reads.js';

export type Dict = Record<string, unknown>;

export interface PlanContext {
  inst: Instance;
  account: Account;
  /** What earlier snapshots learned about this account (account type, futures or not). */
  facts: AccountFacts;
  reads: WalletReads;
}

export interface WalletBalance {
  wallet: Wallet;
  /** A ccxt balance structure. */
  balance: Dict;
}

export interface Holdings {
  /** Every wallet read, in the order read; the first one's timestamp is the snapshot's exchange time. */
  wallets: WalletBalance[];
  /** ccxt position structures, open and closed (snapshot.ts keeps the open ones). */
  positions: Dict[];
}

export interface Plan {
  holdings(ctx: PlanContext): Promise<Holdings>;
}

/** The account reads this wallet unless its `wallets` switch says false. */
export function wanted(account: Account, wallet: Wallet): boolean {
  return account.wallets?.[wallet] !== false;
}

/**
 * An implicit ccxt API method (`privateGetV5AccountInfo`, ...): ccxt signs, sends and checks the
 * reply for errors; the caller reads the raw result. Used where the unified method would make
 * calls we do not want or hide a field we need.
 */
export async function raw(inst: Instance, method: string, params: Dict = {}): Promise<Dict> {
  const fn = (inst as unknown as Record<string, unknown>)[method];
  if (typeof fn !== 'function') throw new Error(`ccxt ${inst.id} has no method ${method}`);
  const reply: unknown = await (fn as (p: Dict) => Promise<unknown>).call(inst, params);
  if (reply === null || typeof reply !== 'object') throw new MalformedReplyError(`${inst.id} ${method}: reply is not an object`);
  return reply as Dict;
}

export function dict(v: unknown, what: string): Dict {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new MalformedReplyError(`${what} is not an object`);
  return v as Dict;
}

export function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new MalformedReplyError(`${what} is not a list`);
  return v;
}

/** One wallet through ccxt's unified fetchBalance (the params pick the wallet). */
export async function readBalance(ctx: PlanContext, wallet: Wallet, what: string, params: Dict): Promise<WalletBalance> {
  const balance = await ctx.reads.read(wallet, what, () => ctx.inst.fetchBalance(params));
  return { wallet, balance: balance as unknown as Dict };
}
