// binance: the spot and funding wallets, and where the account has futures (/sapi/v1/account/info)
// the USD-M (fapi) and COIN-M (dapi) wallets and positions.
// Portfolio-margin accounts keep their funds in one unified wallet read through /papi, which this
// plan does not read yet: it says so rather than record a partial account.
import { UncoveredAccountError } from '../errors.js';
import { dict, raw, readBalance, wanted, type Dict, type Plan, type PlanContext, type WalletBalance } from './plan.js';

interface AccountKind {
  futures: boolean;
  portfolioMargin: boolean;
}

const FACT = 'binance.accountKind';

/**
 * Only "has futures" is remembered (for a day): its wallets are then read every snapshot, so a
 * change shows as an error, never as a missing wallet. An account without futures asks again every
 * snapshot (one request of weight 1 instead of four futures requests), so futures opened or a
 * switch to portfolio margin is seen at once rather than recorded as a smaller account.
 */
async function accountKind(ctx: PlanContext): Promise<AccountKind> {
  const known = ctx.facts.get<AccountKind>(FACT);
  if (known) return known;
  const info = dict(await ctx.reads.account(() => raw(ctx.inst, 'sapiGetAccountInfo')), 'binance account/info');
  const kind = { futures: info.isFutureEnabled === true, portfolioMargin: info.isPortfolioMarginRetailEnabled === true };
  if (kind.futures && !kind.portfolioMargin) ctx.facts.set(FACT, kind);
  return kind;
}

export const binance: Plan = {
  async holdings(ctx) {
    const { inst, account, reads } = ctx;
    const kind = await accountKind(ctx);
    if (kind.portfolioMargin) {
      throw new UncoveredAccountError('binance portfolio-margin accounts are not covered yet: their unified wallet (/papi) is not read (docs/accounts.md)');
    }
    const wallets: WalletBalance[] = [];
    const positions: Dict[] = [];
    const balance = async (wallet: WalletBalance['wallet'], what: string, type: string) => {
      if (wanted(account, wallet)) wallets.push(await readBalance(ctx, wallet, what, { type }));
    };
    await balance('spot', 'spot wallet: /api/v3/account', 'spot');
    await balance('funding', 'funding wallet: /sapi/v1/asset/get-funding-asset', 'funding');
    if (kind.futures) {
      await balance('futures', 'USD-M wallet: /fapi/v3/account', 'future');
      if (wanted(account, 'futures')) {
        // v2 of positionRisk: v3 dropped leverage and margin type from the rows.
        const rows = await reads.read('futures', 'USD-M positions: /fapi/v2/positionRisk', () => inst.fetchPositionsRisk(undefined, { type: 'future', subType: 'linear', useV2: true }));
        positions.push(...(rows as unknown as Dict[]));
      }
      await balance('delivery', 'COIN-M wallet: /dapi/v1/account', 'delivery');
      if (wanted(account, 'delivery')) {
        const rows = await reads.read('delivery', 'COIN-M positions: /dapi/v1/positionRisk', () => inst.fetchPositionsRisk(undefined, { type: 'delivery', subType: 'inverse' }));
        positions.push(...(rows as unknown as Dict[]));
      }
    }
    return { wallets, positions };
  },
};
