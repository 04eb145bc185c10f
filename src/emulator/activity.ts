// Demo activity (StartOptions.tradeEveryMs): the demo accounts trade a little and now and then
// receive a deposit, so a daemon watching the emulator sees its history grow. Round-robin over
// bybit, binance and okx; every fill is a small spot BTC or ETH trade at the current price that
// the account's balances can pay for.
import { cmp, mul } from './decimal.js';
import { DEMO_ACCOUNTS } from './scenario.js';
import type { EmulatorState } from './state.js';
import { EmulatorInputError, EXCHANGES } from './types.js';

/** Spot fills the demo makes, alternating per round. */
const DEMO_FILLS = [
  { symbol: 'BTC/USDT', base: 'BTC', amount: '0.001' },
  { symbol: 'ETH/USDT', base: 'ETH', amount: '0.01' },
] as const;
/** Every this many rounds (one round = one fill per exchange) a deposit of DEMO_DEPOSIT USDT. */
const DEPOSIT_EVERY_ROUNDS = 4;
const DEMO_DEPOSIT = '100';

export interface Activity {
  stop(): void;
  /** one step now (tests; the timer calls the same) */
  step(): void;
}

export function startActivity(state: EmulatorState, everyMs: number): Activity {
  let tick = 0;
  const step = (): void => {
    const exchange = EXCHANGES[tick % EXCHANGES.length] ?? 'bybit';
    const round = Math.floor(tick / EXCHANGES.length);
    tick++;
    const apiKey = DEMO_ACCOUNTS[exchange].apiKey;
    const account = state.getAccount(exchange, apiKey);
    if (!account) return;
    const pick = DEMO_FILLS[round % DEMO_FILLS.length] ?? DEMO_FILLS[0];
    if (!state.market(exchange, pick.symbol)) return;
    const price = state.price(exchange, pick.symbol);
    const usdt = account.balances.USDT?.free ?? '0';
    const base = account.balances[pick.base]?.free ?? '0';
    // buy on even rounds, sell on odd ones, whichever the balances allow (fee 0.1 % included)
    const canBuy = cmp(usdt, mul(mul(pick.amount, price), '1.001')) >= 0;
    const canSell = cmp(base, pick.amount) >= 0;
    const preferBuy = round % 2 === 0;
    const side = preferBuy ? (canBuy ? 'buy' : canSell ? 'sell' : undefined) : canSell ? 'sell' : canBuy ? 'buy' : undefined;
    try {
      if (side) state.trade(exchange, apiKey, { symbol: pick.symbol, side, amount: pick.amount });
      if (round % DEPOSIT_EVERY_ROUNDS === DEPOSIT_EVERY_ROUNDS - 1) state.deposit(exchange, apiKey, { currency: 'USDT', amount: DEMO_DEPOSIT });
    } catch (err) {
      // a demo account changed under the timer (e.g. emptied over the control API): skip this turn
      if (!(err instanceof EmulatorInputError)) throw err;
    }
  };
  const timer = everyMs > 0 ? setInterval(step, everyMs) : undefined;
  timer?.unref();
  return {
    stop: () => {
      if (timer) clearInterval(timer);
    },
    step,
  };
}
