import { loadConfig, redactConfig, type Config } from '../config.js';
import { Daemon } from '../daemon/daemon.js';
import { EXCHANGE_IDS } from '../exchanges/ids.js';
import { createLogger, flushLogger, type Logger } from '../log.js';
import type { Command } from './command.js';

const DUPLICATE_SIGNAL_MS = 1000;

/** Runs a daemon until SIGINT/SIGTERM, then shuts it down in order; resolves with the exit code. */
export async function runUntilSignal(config: Config, logger: Logger, onStarted?: (daemon: Daemon) => void): Promise<number> {
  const daemon = new Daemon(config, { logger });
  let stopping: Promise<void> | undefined;
  let stopped: () => void = () => {};
  const done = new Promise<void>((resolve) => (stopped = resolve));
  let firstSignalAt = 0;
  const stop = (signal: string) => {
    if (stopping) {
      // One Ctrl-C reaches the terminal's whole process group and `npm run` forwards it as well:
      // the same keypress arrives twice. Only a later signal means "stop waiting".
      if (Date.now() - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    firstSignalAt = Date.now();
    logger.info({ signal }, 'signal received');
    stopping = daemon.stop().finally(stopped);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    await daemon.start();
    onStarted?.(daemon);
  } catch (err) {
    await daemon.stop().catch(() => {});
    throw err;
  }
  await done;
  await flushLogger(logger);
  return 0;
}

export const run: Command = {
  name: 'run',
  help: `Usage: exchange-sync run

Runs until SIGINT or SIGTERM:
  - syncs every account every EXCHANGE_SYNC_INTERVAL_MINUTES (fixed rate, spread across the
    interval, one first sync at start; EXCHANGE_SYNC_ENABLED=false turns this off),
  - answers <prefix>.cmd.sync and <prefix>.cmd.status on NATS,
  - publishes every recorded event to the JetStream stream EXCHANGE_SYNC_STREAM,
  - keeps the balances, positions and sync_runs tables current,
  - serves /healthz, /readyz and /metrics on EXCHANGE_SYNC_HTTP_PORT.
The database schema must be current (run "exchange-sync migrate" first). On a signal it stops
taking commands, finishes in-flight syncs, waits for publish acks, and exits 0.`,
  options: {},
  async run() {
    const config = loadConfig(process.env, { exchangeIds: EXCHANGE_IDS });
    const logger = createLogger({ level: config.logLevel, dir: config.logDir });
    for (const w of config.warnings) logger.warn(w);
    logger.debug({ config: redactConfig(config) }, 'configuration');
    return runUntilSignal(config, logger);
  },
};
