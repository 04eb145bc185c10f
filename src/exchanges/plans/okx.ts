// okx: the trading account (/api/v5/account/balance) and the funding account
// (/api/v5/asset/balances); positions of every instType in one call (okx does not page them).
import { wanted, type Dict, type Plan, type WalletBalance } from './plan.js';

export const okx: Plan = {
  async holdings({ inst, account, reads }) {
    const wallets: WalletBalance[] = [];
    if (wanted(account, 'trading')) {
      wallets.push({ wallet: 'trading', balance: (await reads.read('trading', 'trading account: /api/v5/account/balance', () => inst.fetchBalance({ type: 'trading' }))) as unknown as Dict });
    }
    if (wanted(account, 'funding')) {
      wallets.push({ wallet: 'funding', balance: (await reads.read('funding', 'funding account: /api/v5/asset/balances', () => inst.fetchBalance({ type: 'funding' }))) as unknown as Dict });
    }
    const positions = wanted(account, 'trading') ? ((await reads.read('trading', 'positions: /api/v5/account/positions', () => inst.fetchPositions())) as unknown as Dict[]) : [];
    return { wallets, positions };
  },
};
