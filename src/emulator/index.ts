// Local exchange emulator: a real HTTP server on 127.0.0.1 that speaks Bybit v5, Binance (spot,
// USD-M, COIN-M, sapi) and OKX v5 well enough for ccxt's own request, signing and parsing code to
// run against it: balances, positions, and the fill, deposit and withdrawal history.
// See docs/emulator.md.
import { startActivity } from './activity.js';
import { binance } from './binance.js';
import { bybit } from './bybit.js';
import { okx } from './okx.js';
import type { Core } from './control.js';
import { RequestCounter } from './counts.js';
import { FaultRegistry } from './faults.js';
import { loadFixtures } from './fixtures.js';
import { defaultAccounts, INITIAL_PRICES } from './scenario.js';
import { EmulatorServer } from './server.js';
import { EmulatorState } from './state.js';
import { bybitExtraMarkets } from './synthetic.js';
import { EmulatorInputError, EXCHANGES, type Emulator, type StartOptions } from './types.js';

export { DEMO_ACCOUNTS } from './scenario.js';
export { EmulatorInputError } from './types.js';
export { FixtureError } from './fixtures.js';
export type {
  Emulator,
  EmulatorAccountInput,
  EmulatorAccountView,
  EmulatorBalanceView,
  EmulatorDepositInput,
  EmulatorExchange,
  EmulatorFillView,
  EmulatorHistoryTradeInput,
  EmulatorHistoryTransferInput,
  EmulatorPositionInput,
  EmulatorPositionView,
  EmulatorTradeInput,
  EmulatorTransferStatus,
  EmulatorTransferView,
  EmulatorWithdrawInput,
  FaultInput,
  FaultKind,
  RequestCountFilter,
  StartOptions,
} from './types.js';

/** Starts an emulator; `await emulator.close()` when done. */
export async function startEmulator(opts: StartOptions = {}): Promise<Emulator> {
  const tradeEveryMs = opts.tradeEveryMs ?? 0;
  if (!Number.isFinite(tradeEveryMs) || tradeEveryMs < 0) {
    throw new EmulatorInputError(`tradeEveryMs must be a number of ms >= 0 (0 = no demo activity), got ${opts.tradeEveryMs}`);
  }
  const fixtures = loadFixtures(opts.fixturesDir);
  const state = new EmulatorState(fixtures, {
    seed: opts.seed ?? 1,
    driftMs: opts.driftMs ?? 1000,
    initialPrices: INITIAL_PRICES,
    extraMarkets: { bybit: bybitExtraMarkets(fixtures, opts.syntheticLinearMarkets ?? 0) },
  });
  if ((opts.scenario ?? 'default') === 'default') for (const account of defaultAccounts()) state.setAccount(account);
  const core: Core = { state, faults: new FaultRegistry(), counter: new RequestCounter() };
  // okx (/api/v5/) before binance, which owns the rest of /api/
  const server = new EmulatorServer(core, [bybit, okx, binance]);
  const url = await server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  const activity = startActivity(state, tradeEveryMs);

  return {
    url,
    close: () => {
      activity.stop();
      return server.close();
    },
    setAccount: (input) => {
      state.setAccount(input);
    },
    removeAccount: (exchange, apiKey) => {
      state.removeAccount(exchange, apiKey);
    },
    account: (exchange, apiKey) => state.view(exchange, apiKey),
    price: (exchange, symbol) => state.price(exchange, symbol),
    setPrice: (exchange, symbol, price) => state.prices[exchange].set(symbol, price),
    freezePrices: (frozen) => {
      for (const ex of EXCHANGES) state.prices[ex].freeze(frozen);
    },
    injectFault: (fault) => {
      core.faults.add(fault);
    },
    clearFaults: () => {
      core.faults.clear();
    },
    requestCount: (filter) => core.counter.count(filter),
    resetRequestCounts: () => core.counter.reset(),
    trade: (exchange, apiKey, input) => state.trade(exchange, apiKey, input),
    deposit: (exchange, apiKey, input) => state.deposit(exchange, apiKey, input),
    withdraw: (exchange, apiKey, input) => state.withdraw(exchange, apiKey, input),
    setTransferStatus: (exchange, apiKey, id, status) => state.setTransferStatus(exchange, apiKey, id, status),
    fills: (exchange, apiKey) => state.fillViews(exchange, apiKey),
    transfers: (exchange, apiKey) => state.transferViews(exchange, apiKey),
  };
}
