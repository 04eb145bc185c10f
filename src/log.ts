// pino: JSON lines to stdout (human-readable on a TTY) and to a rolling file, secrets censored.
import { join } from 'node:path';
import { pino, type Logger, type TransportTargetOptions } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

const SECRET_KEYS = ['apiKey', 'secret', 'password', 'pass', 'token', 'connectionString', 'privateKey', 'authorization'];

// pino's redaction takes explicit paths (no recursive wildcard), so cover the depths our log
// calls actually use: top level, one object down, and arrays of accounts.
export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*[*].${k}`, `*.*[*].${k}`]);

export interface LogOptions {
  level: LogLevel;
  /** Directory of the rolling file; undefined logs to stdout only. */
  dir?: string;
  /** Defaults to whether the destination is a TTY. */
  pretty?: boolean;
  /** 1 = stdout (the daemon), 2 = stderr (one-shot commands whose stdout is their result). */
  destination?: 1 | 2;
  name?: string;
}

export function createLogger(opts: LogOptions): Logger {
  const destination = opts.destination ?? 1;
  const pretty = opts.pretty ?? (destination === 1 ? process.stdout : process.stderr).isTTY === true;
  const targets: TransportTargetOptions[] = [
    pretty
      ? { target: 'pino-pretty', level: opts.level, options: { destination, colorize: true, translateTime: 'SYS:HH:MM:ss.l' } }
      : { target: 'pino/file', level: opts.level, options: { destination } },
  ];
  if (opts.dir) {
    // The old module rotated at 10 MB and kept a week of files.
    targets.push({
      target: 'pino-roll',
      level: opts.level,
      options: { file: join(opts.dir, 'exchange-sync'), extension: '.log', size: '10m', frequency: 'daily', limit: { count: 7 }, mkdir: true },
    });
  }
  return pino(
    {
      name: opts.name ?? 'exchange-sync',
      level: opts.level,
      redact: { paths: REDACT_PATHS, censor: '***' },
    },
    pino.transport({ targets }),
  );
}

/** Waits until everything logged so far is written (before process exit). */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}

/** For library users and tests that want no output at all. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
