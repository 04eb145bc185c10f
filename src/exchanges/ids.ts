// The exchange ids ccxt knows, for checking a configuration. Importing ccxt takes ~0.7 s, so
// only what talks to exchanges imports this; loadConfig takes the list as an argument.
import ccxt from 'ccxt';

export const EXCHANGE_IDS: readonly string[] = ccxt.exchanges;
