// The daemon's NATS connection: reconnects forever (an outage delays commands and relaying, it
// must not end the process), logs each state change once, never the credentials.
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Config } from '../config.js';

export type { NatsConnection };

export interface NatsConnectOptions {
  name?: string;
  /** Keep trying the first connect instead of failing at once (the daemon waits for NATS). */
  waitOnFirstConnect?: boolean;
}

export async function connectNats(nats: Config['nats'], logger: Logger, opts: NatsConnectOptions = {}): Promise<NatsConnection> {
  const { auth } = nats;
  const nc = await connect({
    servers: nats.url.split(',').map((s) => s.trim()),
    name: opts.name ?? 'exchange-sync',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    waitOnFirstConnect: opts.waitOnFirstConnect ?? true,
    ...(auth.creds ? { authenticator: credsAuthenticator(new Uint8Array(readFileSync(auth.creds))) } : {}),
    ...(auth.token ? { token: auth.token } : {}),
    ...(auth.user ? { user: auth.user, pass: auth.pass } : {}),
  });
  void watch(nc, logger);
  return nc;
}

async function watch(nc: NatsConnection, logger: Logger): Promise<void> {
  let connected = true;
  for await (const s of nc.status()) {
    if (s.type === 'disconnect' && connected) {
      connected = false;
      logger.warn({ server: s.server }, 'NATS disconnected; reconnecting (events wait in PostgreSQL meanwhile)');
    } else if (s.type === 'reconnect' && !connected) {
      connected = true;
      logger.info({ server: s.server }, 'NATS reconnected');
    } else if (s.type === 'error') {
      logger.warn({ err: String(s.error) }, 'NATS error');
    }
  }
}
