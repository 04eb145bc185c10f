// `exchange-sync emulator`: runs the local exchange emulator in the foreground and prints what
// to point the daemon at; stops cleanly on Ctrl-C or SIGTERM.
import { DEMO_ACCOUNTS, startEmulator } from '../emulator/index.js';
import { intFlag, stringFlag, UsageError, type Command } from './command.js';

const DEFAULT_PORT = 9480;

export const emulator: Command = {
  name: 'emulator',
  help: `Usage: exchange-sync emulator [--port N] [--scenario default|empty] [--seed N]

Runs a local HTTP server on 127.0.0.1 that speaks Bybit v5 and Binance (spot + USD-M futures)
for the calls exchange-sync makes (markets, balances, positions, tickers, time), checks API
signatures like the exchanges do, and can inject faults (rate limits, 5xx, latency, hangs,
malformed bodies, clock skew) through its control API under /_emulator/.

Options:
  --port N          port to listen on (default ${DEFAULT_PORT}; 0 picks a free port)
  --scenario NAME   default: one demo account per exchange (keys printed at start);
                    empty: no accounts (add them with PUT /_emulator/accounts)
  --seed N          seed of the price random walk (default 1)

Stops on Ctrl-C / SIGTERM. See docs/emulator.md for endpoints, the control API and faults.`,
  options: {
    port: { type: 'string' },
    scenario: { type: 'string' },
    seed: { type: 'string' },
  },
  async run(values) {
    const port = intFlag(values, 'port', 0, 65535) ?? DEFAULT_PORT;
    const seed = intFlag(values, 'seed', 0, 2 ** 32 - 1) ?? 1;
    const scenario = stringFlag(values, 'scenario') ?? 'default';
    if (scenario !== 'default' && scenario !== 'empty') throw new UsageError(`--scenario must be "default" or "empty", got "${scenario}"`);

    const emu = await startEmulator({ port, scenario, seed });
    const lines = [`exchange-sync emulator listening on ${emu.url} (scenario ${scenario}, seed ${seed})`, ''];
    if (scenario === 'default') {
      lines.push('Demo accounts:');
      for (const [exchange, creds] of Object.entries(DEMO_ACCOUNTS)) {
        const passphrase = 'passphrase' in creds ? `  passphrase ${creds.passphrase}` : '';
        lines.push(`  ${exchange.padEnd(8)} apiKey ${creds.apiKey.padEnd(18)} secret ${creds.secret}${passphrase}`);
      }
      lines.push('', 'Environment for exchange-sync:');
      lines.push(`  EXCHANGE_SYNC_EXCHANGES=${Object.keys(DEMO_ACCOUNTS).join(',')}`);
      for (const [exchange, creds] of Object.entries(DEMO_ACCOUNTS)) {
        const ex = exchange.toUpperCase();
        lines.push(`  ${ex}_API_URL=${emu.url}`, `  ${ex}_API_KEY=${creds.apiKey}`, `  ${ex}_API_SECRET=${creds.secret}`);
        if ('passphrase' in creds) lines.push(`  ${ex}_PASSWORD=${creds.passphrase}`);
      }
    } else {
      lines.push('No accounts yet: add one with PUT /_emulator/accounts (see docs/emulator.md).', '');
      lines.push('Environment for exchange-sync:', ...Object.keys(DEMO_ACCOUNTS).map((ex) => `  ${ex.toUpperCase()}_API_URL=${emu.url}`));
    }
    lines.push('', `Control API: ${emu.url}/_emulator/state`, 'Ctrl-C to stop.');
    process.stdout.write(`${lines.join('\n')}\n`);

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const stop = (s: NodeJS.Signals): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve(s);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await emu.close();
    process.stdout.write(`emulator stopped (${signal})\n`);
    return 0;
  },
};
