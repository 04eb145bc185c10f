// `exchange-sync <command>`: dispatch, --help, and the exit-code contract
// (0 ok, 1 failure, 2 usage or config error). Errors are one stderr line; detail only at debug.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from './config.js';
import { UsageError, type Command } from './commands/command.js';

const COMMANDS: Record<string, () => Promise<Command>> = {
  migrate: async () => (await import('./commands/migrate.js')).migrate,
  sync: async () => (await import('./commands/sync.js')).sync,
  rebuild: async () => (await import('./commands/rebuild.js')).rebuild,
  emulator: async () => (await import('./commands/emulator.js')).emulator,
  run: async () => (await import('./commands/run.js')).run,
  demo: async () => (await import('./commands/demo.js')).demo,
  balances: async () => (await import('./commands/balances.js')).balances,
  positions: async () => (await import('./commands/positions.js')).positions,
  events: async () => (await import('./commands/events.js')).events,
};

const HELP = `exchange-sync: records crypto exchange account snapshots as events in PostgreSQL

Usage: exchange-sync <command> [options]

Commands:
${Object.keys(COMMANDS)
  .map((c) => `  ${c}`)
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
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`exchange-sync: unknown command "${name}" (run exchange-sync --help)\n`);
    return 2;
  }
  const command = await load();
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
