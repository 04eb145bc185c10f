// bybit v5. Which wallets exist depends on the account type, which /v5/account/info tells
// (unifiedMarginStatus): classic accounts have SPOT and CONTRACT, unified ones (UTA) UNIFIED, and
// UTA 1.0 still keeps inverse contracts in CONTRACT. Every type has the FUND account.
// Positions: linear USDT- and USDC-settled, and inverse, every cursor page.
import type { MarginMode, Wallet } from '../../events/catalog.js';
import { MalformedReplyError, UncoveredAccountError } from '../errors.js';
import { dict, list, raw, wanted, type Dict, type Holdings, type Plan, type PlanContext, type WalletBalance } from './plan.js';

interface AccountType {
  /** unifiedMarginStatus: 1 classic, 2 unified margin, 3/4 UTA 1.0, 5/6 UTA 2.0. */
  status: number;
  /** The account-wide margin mode of a unified account; classic accounts set it per position. */
  marginMode: MarginMode | null;
}

const MARGIN_MODES: Record<string, MarginMode> = { REGULAR_MARGIN: 'cross', ISOLATED_MARGIN: 'isolated', PORTFOLIO_MARGIN: 'portfolio' };
const FACT = 'bybit.accountType';

/** A page is 200 rows at most; this many pages (10,000 positions) means a cursor that loops. */
const MAX_PAGES = 50;

async function accountType(ctx: PlanContext): Promise<AccountType> {
  const known = ctx.facts.get<AccountType>(FACT);
  // A unified account's margin mode can change at any time, so it is asked every snapshot; a
  // classic account's type is remembered for a day (an upgrade to unified within it is caught by
  // the wallet call bybit then refuses, see holdings).
  if (known && known.status === 1) return known;
  const reply = await ctx.reads.account(() => raw(ctx.inst, 'privateGetV5AccountInfo'));
  const result = dict(reply.result, 'bybit account/info result');
  const status = Number(result.unifiedMarginStatus);
  if (!Number.isInteger(status) || status < 1) throw new MalformedReplyError(`bybit account/info: unifiedMarginStatus is ${String(result.unifiedMarginStatus)}`);
  if (status === 2) throw new UncoveredAccountError('bybit unified margin accounts (unifiedMarginStatus 2, the predecessor of UTA) are not covered yet (docs/accounts.md)');
  const type: AccountType = { status, marginMode: status === 1 ? null : (MARGIN_MODES[String(result.marginMode)] ?? null) };
  ctx.facts.set(FACT, type);
  return type;
}

/** bybit's answer to a wallet call of the wrong account type: "accountType only support UNIFIED." */
const WRONG_ACCOUNT_TYPE = /accountType only support/i;

/** The wallets of an account type: our name and bybit's accountType. */
function walletsOf(status: number): Array<[Wallet, string]> {
  if (status === 1) return [['spot', 'SPOT'], ['contract', 'CONTRACT'], ['funding', 'FUND']];
  if (status <= 4) return [['unified', 'UNIFIED'], ['contract', 'CONTRACT'], ['funding', 'FUND']];
  return [['unified', 'UNIFIED'], ['funding', 'FUND']];
}

/** Which wallet holds each kind of position: classic accounts keep all in CONTRACT, UTA 1.0 keeps inverse there. */
function positionQueries(status: number): Array<[Wallet, Dict]> {
  const linear: Wallet = status === 1 ? 'contract' : 'unified';
  const inverse: Wallet = status <= 4 ? 'contract' : 'unified';
  return [
    [linear, { category: 'linear', settleCoin: 'USDT' }],
    [linear, { category: 'linear', settleCoin: 'USDC' }],
    [inverse, { category: 'inverse' }],
  ];
}

async function walletBalance(ctx: PlanContext, wallet: Wallet, accountType: string): Promise<WalletBalance> {
  const { inst } = ctx;
  const reply =
    accountType === 'FUND'
      ? await ctx.reads.read(wallet, 'FUND account: /v5/asset/transfer/query-account-coins-balance', () =>
          raw(inst, 'privateGetV5AssetTransferQueryAccountCoinsBalance', { accountType }),
        )
      : await ctx.reads.read(wallet, `${accountType} account: /v5/account/wallet-balance`, () => raw(inst, 'privateGetV5AccountWalletBalance', { accountType }));
  const result = dict(reply.result, `bybit ${accountType} balance result`);
  list(accountType === 'FUND' ? result.balance : result.list, `bybit ${accountType} balance list`);
  return { wallet, balance: inst.parseBalance(reply) as unknown as Dict };
}

/** Every page of one position query, parsed by ccxt. */
async function positionPages(ctx: PlanContext, wallet: Wallet, params: Dict): Promise<Dict[]> {
  const { inst } = ctx;
  const out: Dict[] = [];
  const seen = new Set<string>();
  // A position that moves between pages while they are read (the list is ordered by update time)
  // can come twice; the later page's row is the newer one.
  const rows = new Map<string, Dict>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const request: Dict = { ...params, limit: 200 };
    if (cursor) request.cursor = cursor;
    const what = `positions ${Object.values(params).join(' ')}: /v5/position/list`;
    const reply = await ctx.reads.read(wallet, what, () => raw(inst, 'privateGetV5PositionList', request));
    const result = dict(reply.result, 'bybit position/list result');
    const page = list(result.list, 'bybit position/list list');
    for (const item of page) {
      const row = dict(item, 'bybit position row');
      rows.set(`${String(row.symbol)}|${String(row.positionIdx)}`, row);
    }
    const next = typeof result.nextPageCursor === 'string' ? result.nextPageCursor : '';
    if (next === '' || page.length === 0) {
      for (const row of rows.values()) out.push(inst.parsePosition(row) as unknown as Dict);
      return out;
    }
    if (seen.has(next)) throw new MalformedReplyError(`bybit position/list: cursor ${next} came back twice`);
    seen.add(next);
    cursor = next;
  }
  throw new MalformedReplyError(`bybit position/list: more than ${MAX_PAGES} pages of positions`);
}

function withMarginMode(positions: Dict[], type: AccountType): Dict[] {
  return positions.map((p) => {
    // Unified accounts margin every position by the account's mode (bybit deprecated the
    // per-position tradeMode there); classic accounts say it per position.
    if (type.marginMode) return { ...p, marginMode: type.marginMode };
    const tradeMode = String((p.info as Dict | undefined)?.tradeMode ?? '');
    return { ...p, marginMode: tradeMode === '1' ? 'isolated' : tradeMode === '0' ? 'cross' : null };
  });
}

async function holdingsOf(ctx: PlanContext, type: AccountType): Promise<Holdings> {
  const wallets: WalletBalance[] = [];
  for (const [wallet, accountType] of walletsOf(type.status)) {
    if (wanted(ctx.account, wallet)) wallets.push(await walletBalance(ctx, wallet, accountType));
  }
  const positions: Dict[] = [];
  for (const [wallet, params] of positionQueries(type.status)) {
    if (wanted(ctx.account, wallet)) positions.push(...(await positionPages(ctx, wallet, params)));
  }
  return { wallets, positions: withMarginMode(positions, type) };
}

export const bybit: Plan = {
  async holdings(ctx) {
    const type = await accountType(ctx);
    try {
      return await holdingsOf(ctx, type);
    } catch (err) {
      // A remembered classic account that has since become unified: ask its type again, once.
      if (type.status !== 1 || !(err instanceof Error && WRONG_ACCOUNT_TYPE.test(err.message))) throw err;
      ctx.facts.forget(FACT);
      return holdingsOf(ctx, await accountType(ctx));
    }
  },
};
