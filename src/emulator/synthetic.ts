// Markets the recordings do not have, built from a recorded instrument row so ccxt parses them
// like any other: a bybit USDC perpetual (BTCPERP, always there) and, on request, many USDT
// perpetuals (SYN001USDT, ...) for tests that need hundreds of markets or positions.
import { clone, FixtureError, type Fixtures, type Json, type MarketInfo } from './fixtures.js';

/** Digits of the synthetic numbering: SYN001 ... SYN999, then SYN1000 ... */
const SYNTHETIC_DIGITS = 3;

export function syntheticId(n: number): string {
  return `SYN${String(n).padStart(SYNTHETIC_DIGITS, '0')}`;
}

function bybitTemplate(fixtures: Fixtures): MarketInfo {
  const btc = fixtures.markets.bybit.find((m) => m.id === 'BTCUSDT' && m.kind === 'linear');
  if (!btc) throw new FixtureError('fixture: bybit markets have no BTCUSDT linear instrument to clone');
  return btc;
}

function cloneLinear(template: MarketInfo, id: string, base: string, quote: string): MarketInfo {
  const row: Json = { ...clone(template.row), symbol: id, baseCoin: base, quoteCoin: quote, settleCoin: quote };
  return {
    ...template,
    // ccxt's bybit fetchFutureMarkets: symbol = base/quote:settle, settle = settleCoin for linear
    symbol: `${base}/${quote}:${quote}`,
    id,
    base,
    quote,
    settle: quote,
    row,
  };
}

/**
 * The bybit markets the emulator adds to the recorded ones: BTCPERP (BTC/USDC:USDC, a USDC-settled
 * linear perpetual) and `synthetic` USDT perpetuals SYN001/USDT:USDT, SYN002/USDT:USDT, ...
 */
export function bybitExtraMarkets(fixtures: Fixtures, synthetic: number): MarketInfo[] {
  if (!Number.isInteger(synthetic) || synthetic < 0) throw new RangeError(`syntheticLinearMarkets must be a non-negative integer, got ${synthetic}`);
  const template = bybitTemplate(fixtures);
  const out = [cloneLinear(template, 'BTCPERP', 'BTC', 'USDC')];
  for (let n = 1; n <= synthetic; n++) {
    const base = syntheticId(n);
    out.push(cloneLinear(template, `${base}USDT`, base, 'USDT'));
  }
  return out;
}
