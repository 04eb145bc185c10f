// Any other ccxt exchange: ccxt's default balance (one wallet, `default`) and, where ccxt says the
// exchange has them, its positions.
import { wanted, type Dict, type Plan } from './plan.js';

// Errors that mean "this exchange cannot list positions like that", not "the call failed".
const NO_POSITIONS = new Set(['NotSupported', 'ArgumentsRequired', 'BadRequest', 'BadSymbol']);

export const generic: Plan = {
  async holdings({ inst, account, reads }) {
    if (!wanted(account, 'default')) return { wallets: [], positions: [] };
    const balance = (await reads.read('default', 'fetchBalance()', () => inst.fetchBalance())) as unknown as Dict;
    let positions: Dict[] = [];
    if (inst.has.fetchPositions === true) {
      try {
        positions = (await reads.read('default', 'fetchPositions()', () => inst.fetchPositions())) as unknown as Dict[];
      } catch (err) {
        if (!(err instanceof Error && NO_POSITIONS.has(err.constructor.name))) throw err;
      }
    }
    return { wallets: [{ wallet: 'default', balance }], positions };
  },
};
