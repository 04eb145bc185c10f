// The plan per exchange id: the exchanges verified against real recorded formats have their own,
// every other ccxt id the generic one.
import { binance } from './binance.js';
import { bybit } from './bybit.js';
import { generic } from './generic.js';
import { okx } from './okx.js';
import type { Plan } from './plan.js';

const PLANS: Record<string, Plan> = { bybit, binance, okx };

export function planFor(exchangeId: string): Plan {
  return PLANS[exchangeId] ?? generic;
}

export { wanted, type Holdings, type Plan, type PlanContext } from './plan.js';
