// The shape every `exchange-sync <command>` module exports; cli.ts parses, dispatches and
// turns errors into one stderr line and an exit code.
import type { ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface Command {
  name: string;
  /** Full --help text, flags included. */
  help: string;
  options: Options;
  run(values: Values): Promise<number>;
}

/** Bad flags or arguments: exit code 2, message only. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function stringFlag(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function listFlag(values: Values, name: string): string[] | undefined {
  const v = stringFlag(values, name);
  return v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean);
}

export function intFlag(values: Values, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = stringFlag(values, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${v}"`);
  }
  return n;
}
