// The exchange ids ccxt knows, for checking a configuration: listed from ccxt's per-exchange
// modules without loading any of them.
export { EXCHANGE_IDS } from './ccxt-modules.js';
