// ccxt's trade and transaction structures -> our Trade and Transfer. Pure, like snapshot.ts.
import type { Fee, Trade, Transfer, TransferStatus } from '../../events/catalog.js';
import { MalformedReplyError } from '../errors.js';
import { decimalOrNull } from '../snapshot.js';

type Dict = Record<string, unknown>;

function must(v: string | null, what: string): string {
  if (v === null) throw new MalformedReplyError(`${what} is missing`);
  return v;
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null;
}

function time(v: unknown, what: string): string {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new MalformedReplyError(`${what}: no timestamp`);
  return new Date(v).toISOString();
}

function fees(t: Dict, what: string): Fee[] {
  const parts = Array.isArray(t.fees) && t.fees.length > 0 ? (t.fees as Dict[]) : t.fee ? [t.fee as Dict] : [];
  const out: Fee[] = [];
  for (const f of parts) {
    const cost = decimalOrNull(f.cost, `${what}.fee.cost`);
    const currency = text(f.currency);
    if (cost === null || cost === '0') continue;
    out.push({ currency: must(currency, `${what}.fee.currency`), cost });
  }
  return out;
}

const MARKET_TYPES = new Set(['spot', 'margin', 'swap', 'future', 'option']);

export function mapTrade(t: Dict, markets: Record<string, unknown> | undefined): Trade {
  const id = must(text(t.id), 'trade id');
  const what = `trade ${id}`;
  const symbol = must(text(t.symbol), `${what}.symbol`);
  const market = markets?.[symbol] as { type?: string } | undefined;
  const type = String(market?.type ?? (symbol.includes(':') ? 'swap' : 'spot'));
  if (t.side !== 'buy' && t.side !== 'sell') throw new MalformedReplyError(`${what}: side is ${String(t.side)}`);
  const info = (t.info ?? {}) as Dict;
  return {
    id,
    orderId: text(t.order),
    symbol,
    marketType: (MARKET_TYPES.has(type) ? type : 'spot') as Trade['marketType'],
    side: t.side,
    amount: must(decimalOrNull(t.amount, `${what}.amount`), `${what}.amount`),
    price: must(decimalOrNull(t.price, `${what}.price`), `${what}.price`),
    cost: must(decimalOrNull(t.cost, `${what}.cost`), `${what}.cost`),
    fees: fees(t, what),
    takerOrMaker: t.takerOrMaker === 'taker' || t.takerOrMaker === 'maker' ? t.takerOrMaker : null,
    timestamp: time(t.timestamp, what),
    // binance realizedPnl, okx fillPnl; bybit's execution rows carry none.
    realizedPnl: decimalOrNull(info.realizedPnl ?? info.fillPnl, `${what}.realizedPnl`),
  };
}

const STATUSES: Record<string, TransferStatus> = { pending: 'pending', ok: 'ok', failed: 'failed', canceled: 'canceled' };

export function mapTransfer(t: Dict): Transfer {
  const id = must(text(t.id), 'transfer id');
  const what = `transfer ${id}`;
  if (t.type !== 'deposit' && t.type !== 'withdrawal') throw new MalformedReplyError(`${what}: type is ${String(t.type)}`);
  const fee = t.fee as Dict | undefined;
  const feeCost = fee ? decimalOrNull(fee.cost, `${what}.fee.cost`) : null;
  return {
    id,
    type: t.type,
    currency: must(text(t.currency), `${what}.currency`),
    amount: must(decimalOrNull(t.amount, `${what}.amount`), `${what}.amount`),
    fee: feeCost !== null && feeCost !== '0' ? { currency: text(fee?.currency) ?? must(text(t.currency), `${what}.currency`), cost: feeCost } : null,
    // A status ccxt does not map (some exchanges' "credited, not yet unlocked") is watched as pending.
    status: STATUSES[String(t.status)] ?? 'pending',
    network: text(t.network),
    txid: text(t.txid),
    timestamp: time(t.timestamp, what),
  };
}
