// One snapshot's private calls, wallet by wallet. A snapshot is whole or it is a failed sync: a
// wallet the key may not read fails the sync (errorClass permission) naming the wallet, rather than
// leaving the wallet out and making the account's totals swing.
import type { Wallet } from '../events/catalog.js';
import { classify, WalletRefusedError } from './errors.js';

export class WalletReads {
  /** A private call of this snapshot has succeeded: the key itself is good. */
  private keyWorks = false;

  constructor(private readonly exchangeId: string) {}

  /**
   * Runs one private call for `wallet`. Once another call of this snapshot has worked with the
   * same key, a refusal (permission, or authentication: binance answers -2015 "invalid API-key,
   * IP, or permissions" for a wallet the key may not read) is about this wallet and becomes
   * WalletRefusedError. Before that it is about the key itself (a revoked key, an IP not on the
   * allow-list) and stays as it is: switching a wallet off would not help.
   */
  async read<T>(wallet: Wallet, what: string, call: () => Promise<T>): Promise<T> {
    return this.call(() => call(), wallet, what);
  }

  /** A call that reads no wallet of its own (the account type): its refusals are the key's. */
  async account<T>(call: () => Promise<T>): Promise<T> {
    return this.call(call);
  }

  private async call<T>(call: () => Promise<T>, wallet?: Wallet, what?: string): Promise<T> {
    try {
      const result = await call();
      this.keyWorks = true;
      return result;
    } catch (err) {
      const { errorClass } = classify(err, this.exchangeId);
      if (wallet && this.keyWorks && (errorClass === 'permission' || errorClass === 'auth')) throw new WalletRefusedError(wallet, what ?? wallet, err, this.exchangeId);
      throw err;
    }
  }
}
