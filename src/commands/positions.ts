// `exchange-sync positions`: open derivatives positions, current or as of a past moment.
import { positions as positionsProjection, type PositionRow } from '../projections/index.js';
import { holdingsCommand } from './balances.js';

export const positions = holdingsCommand<PositionRow>({
  name: 'positions',
  noun: 'positions',
  about: `Prints each account's open positions: side, contracts, entry, mark and liquidation price,
notional, unrealized PnL, leverage and margin mode, as the exchange reported them ("-" where it
did not). AS_OF is when the position was last observed (the newest fetch of that account).`,
  projection: positionsProjection,
  columns: [
    { header: 'EXCHANGE', cell: (r) => r.exchange },
    { header: 'ACCOUNT', cell: (r) => r.account },
    { header: 'SYMBOL', cell: (r) => r.symbol },
    { header: 'SIDE', cell: (r) => r.side },
    { header: 'CONTRACTS', cell: (r) => r.contracts, decimal: true },
    { header: 'ENTRY', cell: (r) => r.entryPrice, decimal: true },
    { header: 'MARK', cell: (r) => r.markPrice, decimal: true },
    { header: 'LIQ', cell: (r) => r.liquidationPrice, decimal: true },
    { header: 'NOTIONAL', cell: (r) => r.notional, decimal: true },
    { header: 'UPNL', cell: (r) => r.unrealizedPnl, decimal: true },
    { header: 'LEVERAGE', cell: (r) => r.leverage, decimal: true },
    { header: 'MARGIN', cell: (r) => r.marginMode },
    { header: 'AS_OF', cell: (r) => r.asOf },
  ],
});
