// A TCP proxy in front of PostgreSQL whose traffic a test can stall: a daemon behind it sees its
// database connection hang (nothing lost, nothing refused) until the test lets it go on.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface StallableProxy {
  port: number;
  /** Holds every byte in both directions from now on. */
  stall(): void;
  /** Lets the held bytes and all later ones through. */
  resume(): void;
  close(): Promise<void>;
}

function flow([a, b]: [Socket, Socket]): void {
  a.pipe(b);
  b.pipe(a);
  a.resume();
  b.resume();
}

export async function startProxy(target: { host: string; port: number }): Promise<StallableProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let stalled = false;
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    if (!stalled) flow(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    stall() {
      stalled = true;
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    resume() {
      stalled = false;
      for (const p of pairs) flow(p);
    },
    async close() {
      for (const p of pairs) for (const s of p) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
