// NATS request-reply endpoints: <prefix>.cmd.sync, .cmd.status and .cmd.portfolio, on one queue group so
// several daemons share the requests. Every failure becomes an error reply with the
// Nats-Service-Error headers; nothing a requester sends can take the daemon down (nats.js
// ignores a handler's returned promise, so each handler catches everything itself).
import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ACCOUNT_NAME } from '../config.js';
import { PortfolioQuery, UnknownAccountError, type Portfolio } from '../portfolio/portfolio.js';
import type { SyncResult } from './sync.js';

export const QUEUE_GROUP = 'exchange-sync';
/** Commands are tiny; anything bigger is a mistake or an attack. */
export const MAX_COMMAND_BYTES = 4096;

export const SyncCommand = z.strictObject({
  exchange: z.string().regex(/^[a-z0-9]+$/, 'exchange must be a ccxt exchange id').optional(),
  account: z.string().regex(ACCOUNT_NAME, 'account must match [A-Za-z0-9_-]+').optional(),
  /** Reply after the syncs are recorded (true) or as soon as they are started (false). */
  wait: z.boolean().default(false),
});
export type SyncCommand = z.infer<typeof SyncCommand>;

export class CommandError extends Error {
  constructor(
    readonly code: 400 | 404 | 500 | 503,
    message: string,
  ) {
    super(message);
  }
}

export interface SyncReply {
  daemon: string;
  accepted: { exchange: string; account: string }[];
  results?: SyncResult[];
}

export interface CommandHandlers {
  /** Starts (and with wait, finishes) the syncs the command selects; CommandError 404 when none match. */
  sync(cmd: SyncCommand): Promise<SyncReply>;
  status(): Promise<unknown>;
  /** UnknownAccountError when the query names an account never recorded. */
  portfolio(query: PortfolioQuery): Promise<Portfolio>;
}

const issuesText = (error: z.ZodError, what: string) => error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`).join('; ');

/** A sync command from any transport (NATS, HTTP): CommandError 400 when it is not one. */
export function parseSyncCommand(body: unknown): SyncCommand {
  const parsed = SyncCommand.safeParse(body);
  if (!parsed.success) throw new CommandError(400, issuesText(parsed.error, 'command'));
  return parsed.data;
}

/** A portfolio query from any transport: CommandError 400 when it is not one. */
export function parsePortfolioQuery(body: unknown): PortfolioQuery {
  const parsed = PortfolioQuery.safeParse(body);
  if (!parsed.success) throw new CommandError(400, issuesText(parsed.error, 'query'));
  return parsed.data;
}

/** Runs a portfolio query, an unknown account becoming CommandError 404. */
export async function answerPortfolio(handlers: Pick<CommandHandlers, 'portfolio'>, query: PortfolioQuery): Promise<Portfolio> {
  try {
    return await handlers.portfolio(query);
  } catch (err) {
    if (err instanceof UnknownAccountError) throw new CommandError(404, err.message);
    throw err;
  }
}

function reply(msg: Msg, body: unknown): void {
  msg.respond(JSON.stringify(body));
}

function replyError(msg: Msg, code: number, message: string): void {
  const h = headers();
  h.set('Nats-Service-Error', message.replace(/[\r\n]+/g, ' ').slice(0, 512));
  h.set('Nats-Service-Error-Code', String(code));
  msg.respond(JSON.stringify({ error: message, code }), { headers: h });
}

function parseBody(msg: Msg): unknown {
  if (msg.data.length > MAX_COMMAND_BYTES) throw new CommandError(400, `command is ${msg.data.length} bytes; the limit is ${MAX_COMMAND_BYTES}`);
  if (msg.data.length === 0) return {};
  try {
    return JSON.parse(msg.string());
  } catch {
    throw new CommandError(400, 'command is not valid JSON');
  }
}

export class CommandEndpoints {
  private subs: Subscription[] = [];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly handlers: CommandHandlers,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.subs = [
      this.nc.subscribe(`${this.prefix}.cmd.sync`, { queue: QUEUE_GROUP, callback: (err, msg) => this.dispatch(err, msg, (m) => this.onSync(m)) }),
      this.nc.subscribe(`${this.prefix}.cmd.status`, { queue: QUEUE_GROUP, callback: (err, msg) => this.dispatch(err, msg, () => this.handlers.status()) }),
      this.nc.subscribe(`${this.prefix}.cmd.portfolio`, {
        queue: QUEUE_GROUP,
        callback: (err, msg) => this.dispatch(err, msg, (m) => answerPortfolio(this.handlers, parsePortfolioQuery(parseBody(m)))),
      }),
    ];
  }

  /** Stops taking requests and waits for the ones being answered. */
  async stop(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await Promise.allSettled([...this.inFlight]);
  }

  private dispatch(err: Error | null, msg: Msg, handle: (msg: Msg) => Promise<unknown>): void {
    if (err) {
      this.logger.warn({ err: err.message }, 'command subscription error');
      return;
    }
    const work = (async () => {
      try {
        const body = await handle(msg);
        if (msg.reply) reply(msg, body);
      } catch (e) {
        const code = e instanceof CommandError ? e.code : 500;
        const message = e instanceof CommandError ? e.message : `internal error: ${(e as Error).message}`;
        if (code === 500) this.logger.error({ err: (e as Error).message, subject: msg.subject }, 'command failed');
        else this.logger.info({ code, message, subject: msg.subject }, 'command refused');
        try {
          if (msg.reply) replyError(msg, code, message);
        } catch (replyErr) {
          this.logger.warn({ err: (replyErr as Error).message }, 'could not send an error reply');
        }
      }
    })();
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async onSync(msg: Msg): Promise<unknown> {
    return this.handlers.sync(parseSyncCommand(parseBody(msg)));
  }
}
