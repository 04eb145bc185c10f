// The HTTP front: routes a request to the control API or to the exchange that owns its path,
// counts it, applies the faults that match it, and writes the exchange module's reply.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONTROL_PREFIX, handleControl, type Core } from './control.js';
import { gatewayError, type ExchangeModule, type ExchangeRequest, type Reply } from './wire.js';

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function serialise(reply: Reply): string {
  return typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
}

function send(res: ServerResponse, reply: Reply, body = serialise(reply)): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export class EmulatorServer {
  private readonly server: Server;
  private closed = false;
  /** latency faults in flight: cleared on close so close() never waits for them */
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly core: Core,
    private readonly modules: ExchangeModule[],
  ) {
    this.server = createServer((req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        send(res, { status: 500, headers: { 'content-type': 'text/plain' }, body: `emulator error: ${(err as Error).message}` });
      });
    });
  }

  listen(port: number, host: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const { port: actual } = this.server.address() as AddressInfo;
        resolve(`http://${host.includes(':') ? `[${host}]` : host}:${actual}`);
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.sleepers) wake();
    this.sleepers.clear();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // hung requests and idle keep-alive sockets would otherwise hold close() open forever
    this.server.closeAllConnections();
    await done;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q >= 0 ? target.slice(0, q) : target;
    const rawQuery = q >= 0 ? target.slice(q + 1) : '';
    const query = new URLSearchParams(rawQuery);
    const method = req.method ?? 'GET';

    if (path.startsWith(CONTROL_PREFIX)) {
      const body = await readBody(req);
      send(res, handleControl(this.core, method, path, query, body));
      return;
    }
    const body = await readBody(req);

    const module = this.modules.find((m) => m.owns(path));
    if (!module) {
      send(res, { status: 404, headers: { 'content-type': 'text/plain' }, body: `emulator: no exchange serves ${path} (bybit: /v5/..., okx: /api/v5/..., binance: /api, /sapi, /fapi, /dapi)` });
      return;
    }
    const apiKey = module.apiKeyOf(req.headers);
    this.core.counter.record(module.exchange, path, apiKey);
    const effect = this.core.faults.take(module.exchange, apiKey, path);

    if (effect.latencyMs > 0) await this.sleep(effect.latencyMs);
    if (this.closed) return;
    // a hung request is simply never answered; close() destroys its socket
    if (effect.terminal?.kind === 'hang') return;

    const exchangeRequest: ExchangeRequest = { method, path, rawQuery, query, body, headers: req.headers, now: Date.now() + effect.skewMs };
    let reply: Reply;
    if (effect.terminal?.kind === 'rate_limit') reply = module.rateLimited(exchangeRequest);
    else if (effect.terminal?.kind === 'http_5xx') reply = gatewayError(effect.terminal.status ?? 503);
    else reply = module.handle(exchangeRequest, this.core.state);

    if (effect.terminal?.kind === 'malformed') {
      // the real reply cut in half, as when a proxy drops the connection mid-body, but with 200
      const full = serialise(reply);
      send(res, { status: 200, headers: { 'content-type': 'application/json' }, body: '' }, full.slice(0, Math.max(1, Math.floor(full.length / 2))));
      return;
    }
    send(res, reply);
  }
}
