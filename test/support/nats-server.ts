// A private nats-server with JetStream for tests that stop and restart it, so the machine's shared
// server (which other suites use) is never touched. Restarts reuse the port and store directory,
// as a real server coming back would.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

const BINARY = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export interface TestNatsServer {
  readonly port: number;
  readonly url: string;
  readonly storeDir: string;
  readonly running: boolean;
  start(): Promise<void>;
  /** SIGTERM by default (clean shutdown); SIGKILL to simulate a crash. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
  /** Stops it and removes the store directory. */
  dispose(): Promise<void>;
}


export async function startNatsServer(): Promise<TestNatsServer> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'es-nats-'));
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    if (child) return;
    const proc = spawn(BINARY, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let log = '';
    // nats-server logs to stderr; "Server is ready" comes after JetStream has recovered its store.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server on ${port} not ready after 10 s:\n${log}`)), 10_000);
      proc.stderr!.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${log}`));
      });
    }).catch((err) => {
      child = undefined;
      throw err;
    });
    proc.stderr!.removeAllListeners('data');
    proc.stderr!.resume();
  }

  async function stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    await exited;
  }

  await start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
    async restart() {
      await stop();
      await start();
    },
    async dispose() {
      await stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
