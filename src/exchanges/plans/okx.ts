// okx: the trading account (/api/v5/account/balance) and the funding account
// (/api/v5/asset/balances); positions of every instType in one call (okx does not page them).
import { readBalance, wanted, type Dict, type Plan, type WalletBalance } from './plan.js';

export const okx: Plan = {
  async holdings(ctx) {
    const { inst, account, reads } = ctx;
    const wallets: WalletBalance[] = [];
    if (wanted(account, 'trading')) wallets.push(await readBalance(ctx, 'trading', 'trading account: /api/v5/account/balance', { type: 'trading' }));
    if (wanted(account, 'funding')) wallets.push(await readBalance(ctx, 'funding', 'funding account: /api/v5/asset/balances', { type: 'funding' }));
    const positions = wanted(account, 'trading') ? ((await reads.read('trading', 'positions: /api/v5/account/positions', () => inst.fetchPositions())) as unknown as Dict[]) : [];
    return { wallets, positions };
  },
};
