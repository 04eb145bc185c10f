// The daemon's HTTP face: liveness, readiness and metrics for orchestrators and Prometheus (open),
// and the token-guarded API of http-api.ts. That is all, so node:http is enough. A request can
// fail; the process must not.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Queryable } from '../events/db.js';
import { assertCurrent, readMigrations, schemaStatus, type MigrationFile } from '../events/migrate.js';
import { API_ROUTES, handleApi, type ApiOptions } from './http-api.js';
import { withTimeout } from './metrics.js';
import type { NatsConnection } from './nats.js';

export interface CheckResult {
  ok: boolean;
  error?: string;
}

export interface ReadinessChecks {
  postgres: CheckResult;
  nats: CheckResult;
  schema: CheckResult;
}

export interface ReadinessReport {
  status: 'ok' | 'unavailable';
  checks: ReadinessChecks;
}

export interface HttpServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  readiness: () => Promise<ReadinessReport>;
  /** Backstop for a readiness function that does not bound its own checks. */
  readinessTimeoutMs?: number;
  logger?: Logger;
  /** GET /v1/portfolio and POST /v1/sync; absent, those paths are not found. */
  api?: ApiOptions;
}

export interface HttpServer {
  /** Base URL of the bound socket, e.g. http://127.0.0.1:9464 (a wildcard host becomes loopback). */
  url: string;
  close(): Promise<void>;
}

type Route = (res: ServerResponse) => Promise<void>;

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { registry, logger } = opts;
  const readinessTimeoutMs = opts.readinessTimeoutMs ?? 5000;

  const routes: Record<string, Route> = {
    // Liveness only: restarting the process would not bring PostgreSQL or NATS back.
    '/healthz': async (res) => sendJson(res, 200, { status: 'ok' }),
    '/readyz': async (res) => {
      let report: ReadinessReport | { status: 'unavailable'; error: string };
      try {
        report = await withTimeout(opts.readiness(), readinessTimeoutMs, 'readiness');
      } catch (err) {
        report = { status: 'unavailable', error: errorText(err) };
      }
      sendJson(res, report.status === 'ok' ? 200 : 503, report);
    },
    '/metrics': async (res) => {
      const body = await registry.metrics();
      send(res, 200, registry.contentType, body);
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (opts.api && path in API_ROUTES) return handleApi(req, res, new URL(req.url ?? '/', 'http://localhost'), opts.api, sendJson);
    const route = routes[path];
    if (!route) return sendJson(res, 404, { error: `not found: ${path}` });
    // HEAD is GET without a body (node drops the body itself); RFC 9110 requires both.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendJson(res, 405, { error: `method ${req.method} not allowed` });
    }
    await route(res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger?.warn({ err: errorText(err), url: req.url }, 'HTTP request failed');
      if (!res.headersSent) sendJson(res, 500, { error: errorText(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => reject(err);
    server.once('error', failed);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', failed);
      // A server error after listen (e.g. EMFILE on accept) is worth a log line, not a crash.
      server.on('error', (err) => logger?.warn({ err: err.message }, 'HTTP server error'));
      resolve();
    });
  });

  let closing: Promise<void> | undefined;
  return {
    url: urlOf(server.address() as AddressInfo),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Prometheus keeps its connection open between scrapes; do not wait for it to hang up.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function urlOf(addr: AddressInfo): string {
  const host = addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address === '::' ? '::1' : addr.address;
  return `http://${addr.family === 'IPv6' ? `[${host}]` : host}:${addr.port}`;
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`, headers);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface ReadinessOptions {
  pool: Queryable;
  /** The connection, or a getter when it is made after the server starts. Absent = not ready. */
  nc?: NatsConnection | (() => NatsConnection | undefined);
  /** Bound on each check; the checks run in parallel, so /readyz answers within about this. */
  timeoutMs?: number;
  /** Migration files to compare against (tests); schema/ of this version by default. */
  migrations?: MigrationFile[];
}

/** The daemon's readiness: PostgreSQL answers, NATS is connected, the schema is this version's. */
export function readinessChecks(opts: ReadinessOptions): () => Promise<ReadinessReport> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  // The files do not change while the process runs; read them once (again only after a failure).
  let files: Promise<MigrationFile[]> | undefined = opts.migrations ? Promise.resolve(opts.migrations) : undefined;
  const migrationFiles = () =>
    (files ??= readMigrations().catch((err: unknown) => {
      files = undefined;
      throw err;
    }));

  const postgres = async () => {
    await withTimeout(opts.pool.query('SELECT 1'), timeoutMs, 'postgres');
  };
  const schema = async () => {
    const status = await withTimeout(
      migrationFiles().then((f) => schemaStatus(opts.pool, f)),
      timeoutMs,
      'schema',
    );
    assertCurrent(status);
  };
  const nats = async () => {
    const nc = typeof opts.nc === 'function' ? opts.nc() : opts.nc;
    if (!nc) throw new Error('no NATS connection');
    if (nc.isClosed()) throw new Error('NATS connection is closed');
    if (nc.isDraining()) throw new Error('NATS connection is draining');
    // rtt() fails at once while reconnecting and otherwise proves the server answers.
    await withTimeout(nc.rtt(), timeoutMs, 'nats');
  };

  return async () => {
    const [pg, nt, sc] = await Promise.all([check(postgres), check(nats), check(schema)]);
    const checks: ReadinessChecks = { postgres: pg, nats: nt, schema: sc };
    return { status: pg.ok && nt.ok && sc.ok ? 'ok' : 'unavailable', checks };
  };
}

async function check(fn: () => Promise<void>): Promise<CheckResult> {
  try {
    await fn();
    return { ok: true };
  } catch (err) {
    return { ok: false, error: errorText(err) };
  }
}
