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
   * Runs one private call for `wallet`. Refusals become WalletRefusedError: a permission error at
   * any point, and an authentication error once another call with the same key has worked
   * (binance answers -2015 "invalid API-key, IP, or permissions" for a wallet the key may not read).
   */
  async read<T>(wallet: Wallet, what: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.keyWorks = true;
      return result;
    } catch (err) {
      const { errorClass } = classify(err, this.exchangeId);
      if (errorClass === 'permission' || (errorClass === 'auth' && this.keyWorks)) throw new WalletRefusedError(wallet, what, err);
      throw err;
    }
  }
}
