// `exchange-sync <command>`: dispatch, --help, and the exit-code contract
// (0 ok, 1 failure, 2 usage or config error). Errors are one stderr line; detail only at debug.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from './config.js';
import { UsageError, type Command } from './commands/command.js';

// Summaries live here so --help does not load every command (and ccxt) to print them.
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  migrate: { summary: 'apply schema/ migrations', load: async () => (await import('./commands/migrate.js')).migrate },
  run: { summary: 'the daemon: schedule, NATS commands, JetStream relay, projections, HTTP', load: async () => (await import('./commands/run.js')).run },
  sync: { summary: 'sync accounts once and exit (exit 0 ok, 1 any failed, 2 usage/config)', load: async () => (await import('./commands/sync.js')).sync },
  rebuild: { summary: 'rebuild the projection tables from the log', load: async () => (await import('./commands/rebuild.js')).rebuild },
  balances: { summary: 'balances now, or --at a moment', load: async () => (await import('./commands/balances.js')).balances },
  portfolio: { summary: 'cost basis, entry price and PnL per holding, now or --at a moment', load: async () => (await import('./commands/portfolio.js')).portfolio },
  positions: { summary: 'positions now, or --at a moment', load: async () => (await import('./commands/positions.js')).positions },
  trades: { summary: 'the recorded fills', load: async () => (await import('./commands/history.js')).trades },
  transfers: { summary: 'the recorded deposits and withdrawals', load: async () => (await import('./commands/history.js')).transfers },
  events: { summary: 'read (and --follow) the event log', load: async () => (await import('./commands/events.js')).events },
  emulator: { summary: 'the local bybit/binance/okx emulator', load: async () => (await import('./commands/emulator.js')).emulator },
  demo: { summary: 'emulator + daemon against the local PostgreSQL and NATS', load: async () => (await import('./commands/demo.js')).demo },
};

const HELP = `exchange-sync: records crypto exchange account snapshots as events in PostgreSQL

Usage: exchange-sync <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "exchange-sync <command> --help" for a command's options.
Configuration comes from the environment (see README.md).`;

function debugWanted(argv: string[]): boolean {
  const i = argv.indexOf('--log-level');
  const flag = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--log-level='))?.split('=')[1];
  return [flag, process.env.EXCHANGE_SYNC_LOG_LEVEL].some((v) => v !== undefined && /^(debug|trace)$/i.test(v));
}

export async function main(argv: string[]): Promise<number> {
  // Variables already set win over the file, as with the old module's dotenv.
  if (existsSync('.env')) process.loadEnvFile('.env');
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`exchange-sync: unknown command "${name}" (run exchange-sync --help)\n`);
    return 2;
  }
  const command = await entry.load();
  try {
    const { values } = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(`${command.help}\n`);
      return 0;
    }
    return await command.run(values);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`exchange-sync ${name}: ${err.message}\n`);
      return 2;
    }
    // undefined_table / invalid_schema_name: the database was never migrated.
    const code = (err as { code?: string }).code;
    if (code === '42P01' || code === '3F000') {
      process.stderr.write(`exchange-sync ${name}: the database has no exchange-sync schema yet (run "exchange-sync migrate"): ${(err as Error).message}\n`);
      return 1;
    }
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`exchange-sync ${name}: ${(err as Error).message ?? String(err)}\n`);
    if (usage) {
      process.stderr.write(`run "exchange-sync ${name} --help" for usage\n`);
      return 2;
    }
    if (debugWanted(argv)) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
