// process.env -> typed Config. Every bad variable is collected and reported in one ConfigError,
// so a user fixes their environment in one pass instead of one restart per typo.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { METHODS, type Method } from './cost-basis/book.js';
import { Wallet, WALLETS } from './events/catalog.js';
import { accountStream, type AccountId } from './events/streams.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const ACCOUNT_NAME = /^[A-Za-z0-9_-]+$/;

// The old Python module took logging level names; pino's are kept too.
const LOG_LEVELS = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
  fatal: 'fatal',
  silent: 'silent',
} as const;
export type LogLevel = (typeof LOG_LEVELS)[keyof typeof LOG_LEVELS];

export function parseLogLevel(raw: string): LogLevel | undefined {
  return LOG_LEVELS[raw.trim().toLowerCase() as keyof typeof LOG_LEVELS];
}

const logLevel = z.string().transform((raw, ctx) => {
  const level = parseLogLevel(raw);
  if (!level) {
    ctx.addIssue({ code: 'custom', message: `unknown log level "${raw}" (use DEBUG, INFO, WARNING, ERROR, CRITICAL)` });
    return z.NEVER;
  }
  return level;
});

const bool = z.stringbool({ truthy: ['true', '1', 'yes', 'on'], falsy: ['false', '0', 'no', 'off'], case: 'insensitive' });
const port = z.coerce.number().int().min(0).max(65535);
const commaList = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter((x) => x.length > 0),
);
const subjectToken = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be a NATS subject token ([A-Za-z0-9_-]+)');
// Whether an id names a ccxt exchange is checked in loadConfig against the list it is given
// (exchanges/ids.ts), by the commands that talk to exchanges; the others check the form alone.
const exchangeId = z.string().regex(/^[a-z0-9]+$/, 'an exchange id is a ccxt id such as bybit');
const unknownExchange = (id: string) => `unknown exchange "${id}" (not a ccxt exchange id)`;
const httpUrl = z.url({ protocol: /^https?$/ });

const EnvSchema = z.object({
  DB_HOST: z.string().min(1).default('localhost'),
  DB_PORT: port.default(5432),
  DB_USER: z.string().min(1).default('testuser'),
  DB_PASS: z.string().default('testpassword'),
  DB_NAME: z.string().min(1).default('alphapulse'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  EXCHANGE_SYNC_INTERVAL_MINUTES: z.coerce.number().positive().max(7 * 24 * 60).default(30),
  EXCHANGE_SYNC_ENABLED: bool.default(true),
  EXCHANGE_SYNC_EXCHANGES: commaList.pipe(z.array(exchangeId)).default(['bybit']),
  EXCHANGE_SYNC_LOG_LEVEL: logLevel.default('info'),
  EXCHANGE_SYNC_LOG_DIR: z.string().min(1).default('logs'),
  EXCHANGE_SYNC_ACCOUNTS_FILE: z.string().min(1).optional(),
  EXCHANGE_SYNC_NATS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be dot-separated NATS subject tokens')
    .default('exchange_sync'),
  EXCHANGE_SYNC_STREAM: subjectToken.default('EXCHANGE_SYNC'),
  EXCHANGE_SYNC_HTTP_PORT: port.default(9464),
  EXCHANGE_SYNC_HISTORY: bool.default(true),
  EXCHANGE_SYNC_HISTORY_SINCE: z
    .string()
    .trim()
    .default('90')
    .transform((v, ctx) => {
      if (/^\d+$/.test(v) && Number(v) > 0) return { days: Number(v) };
      if (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(Date.parse(v))) return { at: new Date(v).toISOString() };
      ctx.addIssue({ code: 'custom', message: `expected a number of days (90) or an ISO date (2026-01-01), got "${v}"` });
      return z.NEVER;
    }),
  EXCHANGE_SYNC_HISTORY_WINDOWS: z.coerce.number().int().positive().max(10_000).default(20),
  // The fleet's schedule (README "Running several daemons"): a daemon killed mid-sync has its
  // accounts taken over within lease + poll.
  EXCHANGE_SYNC_LEASE_SECONDS: z.coerce.number().min(1).max(3600).default(60),
  EXCHANGE_SYNC_POLL_SECONDS: z.coerce.number().min(0.05).max(60).default(2),
  EXCHANGE_SYNC_COST_BASIS: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(METHODS, { error: (i) => `expected average or fifo, got "${String(i.input)}"` }))
    .default('average'),
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  NATS_CREDS: z.string().min(1).optional(),
  NATS_TOKEN: z.string().min(1).optional(),
  NATS_USER: z.string().min(1).optional(),
  NATS_PASS: z.string().optional(),
});

// The accounts file says `name`; inside, an account is named by its AccountId (exchange, account).
const AccountSchema = z.strictObject({
  name: z.string().regex(ACCOUNT_NAME, 'account names match [A-Za-z0-9_-]+ (they become NATS subject tokens)'),
  exchange: exchangeId,
  apiKey: z.string().min(1).optional(),
  secret: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  testnet: z.boolean().default(false),
  apiUrl: httpUrl.optional(),
  options: z.record(z.string(), z.unknown()).default({}),
  /** Wallets switched off for this account ({"funding": false}); every other wallet the exchange's plan knows is read. */
  wallets: z.partialRecord(Wallet, z.boolean()).default({}),
});
const toAccount = ({ name, ...rest }: z.infer<typeof AccountSchema>): Account => ({ account: name, ...rest });
/** A configured account: its identity (AccountId) and how to reach it. */
export type Account = AccountId & Omit<z.infer<typeof AccountSchema>, 'name' | 'wallets'> & Partial<Pick<z.infer<typeof AccountSchema>, 'wallets'>>;
const accountsFileSchema = (isKnown: (id: string) => boolean) =>
  z.array(AccountSchema.extend({ exchange: exchangeId.refine(isKnown, { error: (issue) => unknownExchange(String(issue.input)) }) }).transform(toAccount));

export interface NatsAuth {
  creds?: string;
  token?: string;
  user?: string;
  pass?: string;
}

export interface Config {
  database: { connectionString: string };
  intervalMinutes: number;
  syncEnabled: boolean;
  exchanges: string[];
  logLevel: LogLevel;
  logDir: string;
  accounts: Account[];
  /** Things worth a log line that do not stop the process, e.g. a listed exchange without keys. */
  warnings: string[];
  nats: { url: string; prefix: string; stream: string; auth: NatsAuth };
  httpPort: number;
  /** The shared schedule: how long a claim holds without renewal, how often due accounts are claimed (default 60 s, 2 s). Optional in a Config built in code. */
  schedule?: { leaseMs: number; pollMs: number };
  /** The cost-basis method the portfolio shows (the holdings projection keeps both); default average. */
  costBasis?: Method;
  /** Bearer token of the HTTP portfolio and sync routes; they are off without one. */
  httpToken?: string;
  /** Fills, deposits and withdrawals fetched with each sync; null when EXCHANGE_SYNC_HISTORY=false. */
  history: { since: { days: number } | { at: string }; maxWindows: number } | null;
}

type Env = Record<string, string | undefined>;

/** `<NAME>` or the contents of the file named by `<NAME>_FILE` (Docker/Kubernetes secrets). */
function secretVar(env: Env, name: string, problems: string[]): string | undefined {
  const file = env[`${name}_FILE`];
  if (file !== undefined && file !== '') {
    if (env[name] !== undefined && env[name] !== '') {
      problems.push(`${name} and ${name}_FILE are both set; set one`);
      return undefined;
    }
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  }
  const value = env[name];
  return value === '' ? undefined : value;
}

// Env issues name the variable alone (EXCHANGE_SYNC_EXCHANGES, not EXCHANGE_SYNC_EXCHANGES.1);
// accounts-file issues name the entry and field, e.g. [2].apiUrl.
function envProblems(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${String(issue.path[0])}: ${issue.message}`);
}
function fileProblems(error: z.ZodError, path: string): string[] {
  return error.issues.map((issue) => {
    const [index, ...field] = issue.path.map(String);
    const where = index === undefined ? '' : `[${index}]${field.length ? `.${field.join('.')}` : ''}: `;
    return `EXCHANGE_SYNC_ACCOUNTS_FILE: ${path}: ${where}${issue.message}`;
  });
}

/** `funding,delivery` -> {funding: false, delivery: false}. */
function walletsOff(env: Env, name: string, problems: string[]): Partial<Record<Wallet, boolean>> {
  const off: Partial<Record<Wallet, boolean>> = {};
  for (const item of (env[name] ?? '').split(',')) {
    const w = item.trim();
    if (w === '') continue;
    const parsed = Wallet.safeParse(w);
    if (parsed.success) off[parsed.data] = false;
    else problems.push(`${name}: unknown wallet "${w}" (known: ${WALLETS.join(', ')})`);
  }
  return off;
}

function envAccounts(env: Env, exchanges: string[], problems: string[], warnings: string[]): Account[] {
  const accounts: Account[] = [];
  for (const exchange of exchanges) {
    const ex = exchange.toUpperCase();
    const apiKey = secretVar(env, `${ex}_API_KEY`, problems);
    const secret = secretVar(env, `${ex}_API_SECRET`, problems);
    const password = secretVar(env, `${ex}_PASSWORD`, problems);
    const testnetRaw = env[`${ex}_TESTNET`];
    const testnet = testnetRaw === undefined || testnetRaw === '' ? { success: true as const, data: false } : bool.safeParse(testnetRaw);
    if (!testnet.success) problems.push(`${ex}_TESTNET: expected true or false, got "${testnetRaw}"`);
    const apiUrlRaw = env[`${ex}_API_URL`];
    const apiUrl = apiUrlRaw ? httpUrl.safeParse(apiUrlRaw) : undefined;
    if (apiUrl && !apiUrl.success) problems.push(`${ex}_API_URL: not an http(s) URL: "${apiUrlRaw}"`);
    const wallets = walletsOff(env, `${ex}_WALLETS_OFF`, problems);
    if (!apiKey) {
      warnings.push(`EXCHANGE_SYNC_EXCHANGES lists ${exchange} but ${ex}_API_KEY is not set; no ${exchange} account from the environment`);
      continue;
    }
    if (!secret) problems.push(`${ex}_API_SECRET: required when ${ex}_API_KEY is set`);
    accounts.push({
      account: 'default',
      exchange,
      apiKey,
      secret,
      password,
      testnet: testnet.success ? testnet.data : false,
      apiUrl: apiUrl?.success ? apiUrl.data : undefined,
      options: {},
      wallets,
    });
  }
  return accounts;
}

function fileAccounts(path: string, isKnown: (id: string) => boolean, problems: string[]): Account[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const why = err instanceof SyntaxError ? `not valid JSON (${err.message})` : `cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    problems.push(`EXCHANGE_SYNC_ACCOUNTS_FILE: ${path}: ${why}`);
    return [];
  }
  const parsed = accountsFileSchema(isKnown).safeParse(raw);
  if (!parsed.success) {
    problems.push(...fileProblems(parsed.error, path));
    return [];
  }
  return parsed.data;
}

function databaseUrl(env: z.infer<typeof EnvSchema>, pass: string | undefined): string {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  const url = new URL('postgres://placeholder');
  url.hostname = env.DB_HOST;
  url.port = String(env.DB_PORT);
  url.username = env.DB_USER;
  url.password = pass ?? env.DB_PASS;
  url.pathname = `/${env.DB_NAME}`;
  return url.toString();
}

export interface LoadOptions {
  /**
   * The known exchange ids (ccxt.exchanges). Given, every exchange named in the environment or
   * the accounts file must be one; left out, ids are only checked for form.
   */
  exchangeIds?: readonly string[];
}

export function loadConfig(env: Env = process.env, opts: LoadOptions = {}): Config {
  const known = opts.exchangeIds;
  const isKnown = (id: string) => known === undefined || known.includes(id);
  const problems: string[] = [];
  const warnings: string[] = [];
  // An empty variable means "unset", as it did for the old module's os.getenv(...) or default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) problems.push(...envProblems(parsed.error));
  const dbPass = secretVar(env, 'DB_PASS', problems);
  const natsToken = secretVar(env, 'NATS_TOKEN', problems);
  const natsPass = secretVar(env, 'NATS_PASS', problems);
  const httpToken = secretVar(env, 'EXCHANGE_SYNC_HTTP_TOKEN', problems);
  // A short token can be guessed over the network; the routes it guards start syncs.
  if (httpToken !== undefined && httpToken.length < 16) problems.push('EXCHANGE_SYNC_HTTP_TOKEN: must be at least 16 characters (e.g. openssl rand -hex 24)');
  // Even when the list has a bad entry, check the variables of the good ones in the same pass.
  const listed = parsed.success
    ? parsed.data.EXCHANGE_SYNC_EXCHANGES
    : commaList.parse(cleaned.EXCHANGE_SYNC_EXCHANGES ?? 'bybit').filter((id) => exchangeId.safeParse(id).success);
  for (const id of listed) if (!isKnown(id)) problems.push(`EXCHANGE_SYNC_EXCHANGES: ${unknownExchange(id)}`);
  const accounts = envAccounts(env, listed.filter(isKnown), problems, warnings);
  const file = cleaned.EXCHANGE_SYNC_ACCOUNTS_FILE;
  if (file) accounts.push(...fileAccounts(file, isKnown, problems));

  const seen = new Set<string>();
  for (const a of accounts) {
    const key = accountStream(a);
    if (seen.has(key)) problems.push(`accounts: ${key} is defined twice`);
    seen.add(key);
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    database: { connectionString: databaseUrl(e, dbPass) },
    intervalMinutes: e.EXCHANGE_SYNC_INTERVAL_MINUTES,
    syncEnabled: e.EXCHANGE_SYNC_ENABLED,
    exchanges: e.EXCHANGE_SYNC_EXCHANGES,
    logLevel: e.EXCHANGE_SYNC_LOG_LEVEL,
    logDir: e.EXCHANGE_SYNC_LOG_DIR,
    accounts,
    warnings,
    nats: {
      url: e.NATS_URL,
      prefix: e.EXCHANGE_SYNC_NATS_PREFIX,
      stream: e.EXCHANGE_SYNC_STREAM,
      auth: { creds: e.NATS_CREDS, token: natsToken, user: e.NATS_USER, pass: natsPass },
    },
    httpPort: e.EXCHANGE_SYNC_HTTP_PORT,
    schedule: { leaseMs: Math.round(e.EXCHANGE_SYNC_LEASE_SECONDS * 1000), pollMs: Math.round(e.EXCHANGE_SYNC_POLL_SECONDS * 1000) },
    costBasis: e.EXCHANGE_SYNC_COST_BASIS,
    httpToken,
    history: e.EXCHANGE_SYNC_HISTORY ? { since: e.EXCHANGE_SYNC_HISTORY_SINCE, maxWindows: e.EXCHANGE_SYNC_HISTORY_WINDOWS } : null,
  };
}

/** The config as it may be printed or logged: no secret survives, not even inside a URL. */
export function redactConfig(config: Config): unknown {
  const dbUrl = new URL(config.database.connectionString);
  if (dbUrl.password) dbUrl.password = '***';
  const hide = (v: string | undefined) => (v === undefined ? undefined : '***');
  return {
    ...config,
    database: { connectionString: dbUrl.toString() },
    accounts: config.accounts.map((a) => ({ ...a, apiKey: hide(a.apiKey), secret: hide(a.secret), password: hide(a.password) })),
    httpToken: hide(config.httpToken),
    nats: { ...config.nats, auth: { creds: config.nats.auth.creds, token: hide(config.nats.auth.token), user: config.nats.auth.user, pass: hide(config.nats.auth.pass) } },
  };
}
