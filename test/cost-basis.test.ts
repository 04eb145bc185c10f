// The cost-basis rules of docs/cost-basis.md, each checked with figures computed by hand (the
// worked examples there), and one golden scenario per method that uses them all.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Method } from '../src/cost-basis/book.js';
import { Exact } from '../src/cost-basis/exact.js';
import { inFoldOrder, place, type Fact } from '../src/cost-basis/facts.js';
import { holdingFigures, type HoldingFigures } from '../src/cost-basis/figures.js';
import { Ledger, type MatchWithdrawal } from '../src/cost-basis/ledger.js';

const at = (h: number, m = 0) => new Date(Date.UTC(2026, 0, 1, h, m)).toISOString();
const snap = (h: number, totals: Record<string, string>, prices: Record<string, string>, positions: Extract<Fact, { kind: 'snapshot' }>['positions'] = []): Fact => ({
  kind: 'snapshot',
  at: at(h),
  quote: 'USDT',
  totals,
  prices,
  positions,
});
let ids = 0;
const fill = (
  h: number,
  symbol: string,
  side: 'buy' | 'sell',
  amount: string,
  price: string,
  cost: string,
  fees: { currency: string; cost: string }[] = [],
  more: { market?: 'spot' | 'swap'; realizedPnl?: string | null } = {},
): Fact => ({ kind: 'fill', at: at(h), id: `f${++ids}`, symbol, market: more.market ?? 'spot', side, amount, price, cost, fees, realizedPnl: more.realizedPnl ?? null });
const transfer = (h: number, type: 'deposit' | 'withdrawal', currency: string, amount: string, more: { fee?: { currency: string; cost: string }; txid?: string; status?: 'ok' | 'pending' | 'failed' } = {}): Fact => ({
  kind: 'transfer',
  at: at(h),
  id: `t${++ids}`,
  type,
  currency,
  amount,
  fee: more.fee ?? null,
  status: more.status ?? 'ok',
  txid: more.txid ?? null,
  update: false,
});

function fold(facts: Fact[], match: MatchWithdrawal = () => undefined): Ledger {
  const l = new Ledger('USDT');
  l.fold(inFoldOrder(facts.map((f, i) => place(f, 1, i))), match);
  return l;
}

function row(l: Ledger, method: Method, asset: string): HoldingFigures {
  const r = holdingFigures(l).find((x) => x.method === method && x.asset === asset);
  assert.ok(r, `no ${method} row for ${asset}`);
  return r;
}

const pick = (r: HoldingFigures, ...keys: (keyof HoldingFigures)[]) => Object.fromEntries(keys.map((k) => [k, r[k]]));

describe('exact division: half to even at the 32nd significant digit', () => {
  test('a repeating quotient is cut at 32 digits, rounded to the nearer', () => {
    assert.equal(Exact.of('1').div(Exact.of('3')).toString(), '0.33333333333333333333333333333333');
    assert.equal(Exact.of('2').div(Exact.of('3')).toString(), '0.66666666666666666666666666666667');
    assert.equal(Exact.of('24220').div(Exact.of('12')).toString(), '2018.3333333333333333333333333333');
    assert.equal(Exact.of('-205').div(Exact.of('158')).toString(), '-1.2974683544303797468354430379747');
  });
  test('a tie goes to the even digit', () => {
    // 33 significant digits ending in 5: exactly half way.
    assert.equal(Exact.of('1.00000000000000000000000000000005').div(Exact.ONE).toString(), '1');
    assert.equal(Exact.of('1.00000000000000000000000000000015').div(Exact.ONE).toString(), '1.0000000000000000000000000000002');
    // Just over half way is not a tie.
    assert.equal(Exact.of('1.000000000000000000000000000000050001').div(Exact.ONE).toString(), '1.0000000000000000000000000000001');
  });
  test('exact quotients stay exact; large and tiny magnitudes keep 32 digits', () => {
    assert.equal(Exact.of('79000').times(Exact.of('1.5')).div(Exact.of('2.5')).toString(), '47400');
    assert.equal(Exact.of('1').div(Exact.of('7000000000000')).toString(), '0.00000000000014285714285714285714285714285714');
    assert.equal(Exact.of('10000000000000000000000000000000000000').div(Exact.of('3')).toString(), '3333333333333333333333333333333300000');
  });
});

describe('the rules, one at a time', () => {
  test('a fee in the quote adds to a buy’s cost and comes off a sell’s proceeds', () => {
    const l = fold([
      snap(0, { USDT: '10000' }, {}),
      fill(1, 'BTC/USDT', 'buy', '0.1', '30000', '3000', [{ currency: 'USDT', cost: '3' }]),
      fill(2, 'BTC/USDT', 'sell', '0.05', '40000', '2000', [{ currency: 'USDT', cost: '2' }]),
    ]);
    for (const m of ['average', 'fifo'] as const) {
      // cost 3003 for 0.1; half leaves at 1501.5 for 1998 of proceeds.
      assert.deepEqual(pick(row(l, m, 'BTC'), 'quantity', 'costBasis', 'entryPrice', 'realizedPnl'), { quantity: '0.05', costBasis: '1501.5', entryPrice: '30030', realizedPnl: '496.5' });
    }
    assert.equal(row(l, 'average', 'USDT').quantity, '8995');
  });

  test('a fee in the base reduces the quantity received, not the cost', () => {
    const l = fold([snap(0, { USDT: '10000' }, {}), fill(1, 'BTC/USDT', 'buy', '0.1', '30000', '3000', [{ currency: 'BTC', cost: '0.0001' }])]);
    assert.deepEqual(pick(row(l, 'fifo', 'BTC'), 'quantity', 'costBasis', 'entryPrice'), {
      quantity: '0.0999',
      costBasis: '3000',
      entryPrice: '30030.03003003003003003003003003',
    });
  });

  test('a fee in a third asset is valued at its price recorded at or before the fill, or kept apart without one', () => {
    const valued = fold([snap(0, { USDT: '10000', BNB: '1' }, { BNB: '600' }), fill(1, 'BTC/USDT', 'buy', '0.1', '30000', '3000', [{ currency: 'BNB', cost: '0.005' }])]);
    assert.deepEqual(pick(row(valued, 'average', 'BTC'), 'costBasis', 'unvaluedFees'), { costBasis: '3003', unvaluedFees: {} });
    // The BNB left at its market value: its cost was the same 600 a unit, so nothing realized.
    assert.deepEqual(pick(row(valued, 'average', 'BNB'), 'quantity', 'costBasis', 'realizedPnl'), { quantity: '0.995', costBasis: '597', realizedPnl: '0' });

    const apart = fold([snap(0, { USDT: '10000', XYZ: '5' }, {}), fill(1, 'BTC/USDT', 'buy', '0.1', '30000', '3000', [{ currency: 'XYZ', cost: '0.5' }])]);
    assert.deepEqual(pick(row(apart, 'average', 'BTC'), 'costBasis', 'unvaluedFees'), { costBasis: '3000', unvaluedFees: { XYZ: '0.5' } });
    assert.equal(row(apart, 'average', 'XYZ').quantity, '4.5');
  });

  test('a fill in another quote is valued at that quote asset’s recorded price, and says so', () => {
    const l = fold([snap(0, { USDT: '0', BTC: '1' }, { BTC: '40000' }), fill(1, 'ETH/BTC', 'buy', '2', '0.05', '0.1')]);
    assert.deepEqual(pick(row(l, 'average', 'ETH'), 'quantity', 'costBasis', 'entryPrice', 'conversion'), { quantity: '2', costBasis: '4000', entryPrice: '2000', conversion: true });
    // The BTC spent left at its market value, which is what it cost (opened at 40000).
    assert.deepEqual(pick(row(l, 'average', 'BTC'), 'quantity', 'realizedPnl', 'conversion'), { quantity: '0.9', realizedPnl: '0', conversion: true });
  });

  test('facts apply in exchange time: a fill made before the first snapshot explains that holding', () => {
    // The fill is handed over after the snapshot (as a backfill is recorded), but happened before it.
    const facts = [snap(2, { USDT: '7000', BTC: '0.1' }, { BTC: '35000' }), fill(1, 'BTC/USDT', 'buy', '0.1', '30000', '3000')];
    const l = new Ledger('USDT');
    l.fold(inFoldOrder([place(facts[0]!, 1, 0), place(facts[1]!, 2, 0)]), () => undefined);
    assert.deepEqual(pick(row(l, 'fifo', 'BTC'), 'quantity', 'entryPrice', 'unknownCostQuantity', 'drift', 'pnl'), {
      quantity: '0.1',
      entryPrice: '30000',
      unknownCostQuantity: '0',
      drift: '0',
      pnl: '500',
    });
  });

  test('units the history does not explain open a lot at the price of the snapshot where they first appear', () => {
    const l = fold([
      snap(0, { USDT: '100', ETH: '1' }, { ETH: '2000' }),
      transfer(1, 'deposit', 'SOL', '10'),
      snap(2, { USDT: '100', ETH: '1', SOL: '10' }, { ETH: '2100', SOL: '150' }),
    ]);
    assert.deepEqual(pick(row(l, 'average', 'ETH'), 'entryPrice', 'pnl', 'unknownCostQuantity'), { entryPrice: '2000', pnl: '100', unknownCostQuantity: '1' });
    assert.deepEqual(pick(row(l, 'fifo', 'SOL'), 'entryPrice', 'pnl', 'unknownCostQuantity', 'drift'), { entryPrice: '150', pnl: '0', unknownCostQuantity: '10', drift: '0' });
  });

  test('a deposit matching another account’s withdrawal (txid) carries that withdrawal’s cost', () => {
    const cost = { average: Exact.of('3000'), fifo: Exact.of('3000') };
    const l = fold([snap(0, { USDT: '0' }, {}), transfer(1, 'deposit', 'BTC', '0.1', { txid: '0xabc' }), snap(2, { USDT: '0', BTC: '0.1' }, { BTC: '35000' })], (currency, txid) =>
      currency === 'BTC' && txid === '0xabc' ? { currency, txid, quote: 'USDT', qty: Exact.of('0.1001'), cost } : undefined,
    );
    assert.deepEqual(pick(row(l, 'fifo', 'BTC'), 'quantity', 'costBasis', 'entryPrice', 'unknownCostQuantity'), { quantity: '0.1', costBasis: '3000', entryPrice: '30000', unknownCostQuantity: '0' });
    // The quote's own units cost one each, whatever the withdrawal's fee made them cost there;
    // and a cost counted in another quote is not carried.
    const usdt = fold([snap(0, { USDT: '0' }, {}), transfer(1, 'deposit', 'USDT', '100', { txid: '0xq' }), transfer(1, 'deposit', 'BTC', '1', { txid: '0xe' })], (currency, txid) =>
      txid === '0xq' ? { currency, txid, quote: 'USDT', qty: Exact.of('100'), cost: { average: Exact.of('101'), fifo: Exact.of('101') } } : { currency, txid, quote: 'EUR', qty: Exact.of('1'), cost: { average: Exact.of('28000'), fifo: Exact.of('28000') } },
    );
    assert.deepEqual(pick(row(usdt, 'average', 'USDT'), 'quantity', 'costBasis', 'entryPrice'), { quantity: '100', costBasis: '100', entryPrice: '1' });
    assert.deepEqual(pick(row(usdt, 'average', 'BTC'), 'unknownCostQuantity', 'costBasis'), { unknownCostQuantity: '1', costBasis: '0' });
  });

  test('a withdrawal removes units at their cost basis and realizes nothing', () => {
    const l = fold([
      snap(0, { USDT: '10000' }, {}),
      fill(1, 'BTC/USDT', 'buy', '0.1', '30000', '3000'),
      fill(2, 'BTC/USDT', 'buy', '0.1', '40000', '4000'),
      transfer(3, 'withdrawal', 'BTC', '0.0999', { fee: { currency: 'BTC', cost: '0.0001' }, txid: '0x1' }),
      transfer(3, 'withdrawal', 'BTC', '0.05', { status: 'failed' }),
    ]);
    assert.deepEqual(pick(row(l, 'average', 'BTC'), 'quantity', 'costBasis', 'realizedPnl'), { quantity: '0.1', costBasis: '3500', realizedPnl: '0' });
    assert.deepEqual(pick(row(l, 'fifo', 'BTC'), 'quantity', 'costBasis', 'realizedPnl'), { quantity: '0.1', costBasis: '4000', realizedPnl: '0' });
    assert.deepEqual(
      [...l.withdrawals.values()].map((w) => [w.qty.toString(), w.cost.average?.toString(), w.cost.fifo?.toString()]),
      [['0.0999', '3500', '3000']],
    );
  });

  test('derivatives keep the exchange’s entry and unrealized PnL; realized PnL comes from their fills', () => {
    const position = { symbol: 'BTC/USDT:USDT', side: 'short' as const, contracts: '2', entryPrice: '40000', markPrice: '38000', notional: '76000', unrealizedPnl: '4000' };
    const open = fold([snap(0, { USDT: '5000' }, {}), fill(1, 'BTC/USDT:USDT', 'sell', '2', '40000', '80000', [{ currency: 'USDT', cost: '40' }], { market: 'swap', realizedPnl: '0' }), snap(2, { USDT: '4960' }, {}, [position])]);
    assert.deepEqual(pick(row(open, 'average', 'BTC/USDT:USDT'), 'kind', 'quantity', 'entryPrice', 'currentPrice', 'value', 'pnl', 'pnlPercentage', 'realizedPnl'), {
      kind: 'position',
      quantity: '-2',
      entryPrice: '40000',
      currentPrice: '38000',
      value: '76000',
      pnl: '4000',
      pnlPercentage: '5',
      realizedPnl: '0',
    });
    // The 40 USDT fee left the wallet with the fill: no drift at the snapshot.
    assert.equal(row(open, 'average', 'USDT').drift, '0');
  });

  test('the snapshot wins for quantity: a gap becomes an adjustment lot, shown as drift', () => {
    const l = fold([
      snap(0, { USDT: '0', ETH: '10' }, { ETH: '2000' }),
      snap(1, { USDT: '0', ETH: '10.5' }, { ETH: '2200' }),
      snap(2, { USDT: '0', ETH: '10.2' }, { ETH: '2200' }),
    ]);
    // average: 10 at 2000 + 0.5 at 2200 = 21100 for 10.5; 0.3 leave at that average, each pooled
    // lot giving its share (10 x 0.3 / 10.5, rounded; the other lot the rest), and what stays is
    // 21100 less the two parts' costs, exactly.
    assert.deepEqual(pick(row(l, 'average', 'ETH'), 'quantity', 'costBasis', 'drift', 'realizedPnl'), {
      quantity: '10.2',
      costBasis: '20497.142857142857142857142857142858',
      drift: '0.2',
      realizedPnl: '0',
    });
    // fifo: the 0.3 leave the opening lot (oldest) at 2000.
    assert.deepEqual(pick(row(l, 'fifo', 'ETH'), 'quantity', 'costBasis', 'drift', 'unknownCostQuantity'), { quantity: '10.2', costBasis: '20500', drift: '0.2', unknownCostQuantity: '9.7' });
  });
});

/** docs/cost-basis.md "Golden scenario": one account over a day, every rule at once. */
const GOLDEN: Fact[] = [
  snap(0, { USDT: '100000', BNB: '1' }, { BNB: '500' }),
  fill(1, 'BTC/USDT', 'buy', '1', '30000', '30000', [{ currency: 'USDT', cost: '30' }]),
  fill(2, 'BTC/USDT', 'buy', '1.01', '32000', '32320', [{ currency: 'BTC', cost: '0.01' }]),
  fill(3, 'BTC/USDT', 'buy', '0.5', '33280', '16640', [{ currency: 'BNB', cost: '0.02' }]),
  fill(4, 'BTC/USDT', 'sell', '1.5', '40000', '60000', [{ currency: 'USDT', cost: '60' }]),
  fill(5, 'ETH/BTC', 'buy', '10', '0.05', '0.5', [{ currency: 'BTC', cost: '0.0005' }]),
  transfer(6, 'deposit', 'ETH', '2'),
  transfer(7, 'withdrawal', 'BTC', '0.1995', { fee: { currency: 'BTC', cost: '0.0005' }, txid: 'tx1' }),
  snap(8, { USDT: '81000', BTC: '0.2995', ETH: '12', BNB: '0.98' }, { BTC: '41000', ETH: '2100', BNB: '510' }),
  fill(9, 'BTC/USDT:USDT', 'buy', '1', '41000', '41000', [{ currency: 'USDT', cost: '20.5' }], { market: 'swap', realizedPnl: '0' }),
  {
    ...snap(9, { USDT: '80979.5', BTC: '0.2995', ETH: '12', BNB: '0.98' }, { BTC: '41500', ETH: '2100', BNB: '510' }, [
      { symbol: 'BTC/USDT:USDT', side: 'long', contracts: '1', entryPrice: '41000', markPrice: '41500', notional: '41500', unrealizedPnl: '500' },
    ]),
    at: at(9, 30),
  },
  fill(10, 'BTC/USDT:USDT', 'sell', '1', '42000', '42000', [{ currency: 'USDT', cost: '21' }], { market: 'swap', realizedPnl: '1000' }),
  snap(11, { USDT: '81958.5', BTC: '0.2995', ETH: '12', BNB: '0.98' }, { BTC: '42000', ETH: '2000', BNB: '520' }),
];

const KEYS = ['quantity', 'costBasis', 'entryPrice', 'currentPrice', 'value', 'pnl', 'pnlPercentage', 'realizedPnl', 'unknownCostQuantity', 'drift', 'conversion'] as const;

describe('golden scenario', () => {
  const l = fold(GOLDEN);
  const both = {
    USDT: { quantity: '81958.5', costBasis: '81958.5', entryPrice: '1', currentPrice: '1', value: '81958.5', pnl: '0', pnlPercentage: '0', realizedPnl: '0', unknownCostQuantity: '0', drift: '50', conversion: false },
    BNB: { quantity: '0.98', costBasis: '490', entryPrice: '500', currentPrice: '520', value: '509.6', pnl: '19.6', pnlPercentage: '4', realizedPnl: '0', unknownCostQuantity: '0.98', drift: '0', conversion: false },
    ETH: {
      quantity: '12',
      costBasis: '24220',
      entryPrice: '2018.3333333333333333333333333333',
      currentPrice: '2000',
      value: '24000',
      pnl: '-219.9999999999999999999999999996',
      pnlPercentage: '-0.908340214698596201486374896778',
      realizedPnl: '0',
      unknownCostQuantity: '2',
      drift: '0',
      conversion: true,
    },
    'BTC/USDT:USDT': { quantity: '0', costBasis: null, entryPrice: null, currentPrice: null, value: '0', pnl: '0', pnlPercentage: null, realizedPnl: '1000', unknownCostQuantity: '0', drift: '0', conversion: false },
  };

  test('average cost', () => {
    for (const [asset, want] of Object.entries(both)) assert.deepEqual(pick(row(l, 'average', asset), ...KEYS), want, asset);
    assert.deepEqual(pick(row(l, 'average', 'BTC'), ...KEYS), {
      quantity: '0.2995',
      costBasis: '9464.2',
      entryPrice: '31600',
      currentPrice: '42000',
      value: '12579',
      pnl: '3114.8',
      pnlPercentage: '32.91139240506329113924050632911',
      realizedPnl: '16744.2',
      unknownCostQuantity: '0',
      drift: '0',
      conversion: true,
    });
  });

  test('fifo', () => {
    for (const [asset, want] of Object.entries(both)) assert.deepEqual(pick(row(l, 'fifo', asset), ...KEYS), want, asset);
    assert.deepEqual(pick(row(l, 'fifo', 'BTC'), ...KEYS), {
      quantity: '0.2995',
      costBasis: '9973.35',
      entryPrice: '33300',
      currentPrice: '42000',
      value: '12579',
      pnl: '2605.65',
      pnlPercentage: '26.12612612612612612612612612613',
      realizedPnl: '17593.35',
      unknownCostQuantity: '0',
      drift: '0',
      conversion: true,
    });
  });

  test('the stored form folds on to the same figures as one fold of everything', () => {
    const split = 6;
    const placed = inFoldOrder(GOLDEN.map((f, i) => place(f, 1, i)));
    const first = new Ledger('USDT');
    first.fold(placed.slice(0, split), () => undefined);
    const resumed = Ledger.fromJSON(JSON.parse(JSON.stringify(first.toJSON())));
    resumed.fold(placed.slice(split), () => undefined);
    assert.deepEqual(holdingFigures(resumed), holdingFigures(l));
  });
});
