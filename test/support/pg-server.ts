// A private PostgreSQL cluster for fault tests that stop or restart the server, so the machine's
// shared one (which other suites use) is never touched: initdb into a temp dir, pg_ctl on a free
// port, trust auth for `postgres` over 127.0.0.1. PostgreSQL refuses to run as root, so when the
// tests run as root every binary runs as the `postgres` OS user (runuser) on a dir it owns.
import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

const run = promisify(execFile);
const BIN = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const OS_USER = 'postgres';

export interface TestPgServer {
  readonly port: number;
  /** Admin URL (database `postgres`). */
  readonly url: string;
  /** URL of another database on this server. */
  urlFor(database: string): string;
  readonly dir: string;
  start(): Promise<void>;
  /** pg_ctl stop; mode fast by default (immediate simulates a crash). */
  stop(mode?: 'smart' | 'fast' | 'immediate'): Promise<void>;
  /** pg_ctl restart -m fast (or the given mode); waits until it accepts connections. */
  restart(mode?: 'smart' | 'fast' | 'immediate'): Promise<void>;
  /** Stops it (immediate) and removes the directory. */
  dispose(): Promise<void>;
}


const asRoot = userInfo().uid === 0;

async function pgRun(binary: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', OS_USER, '--', join(BIN, binary), ...args]] : [join(BIN, binary), args];
  try {
    const { stdout, stderr } = await run(cmd, argv, { timeout: timeoutMs, cwd: '/' });
    return stdout + stderr;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${binary} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

export async function startPgServer(): Promise<TestPgServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'es-pg-'));
  if (asRoot) {
    const { stdout } = await run('id', ['-u', OS_USER]);
    const { stdout: gid } = await run('id', ['-g', OS_USER]);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  await pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  let running = false;

  async function start(): Promise<void> {
    await pgRun('pg_ctl', ['start', '-w', '-t', '30', '-D', data, '-l', logFile, '-o', opts]);
    running = true;
  }
  async function stop(mode: 'smart' | 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!running) return;
    await pgRun('pg_ctl', ['stop', '-w', '-t', '30', '-D', data, '-m', mode]);
    running = false;
  }

  await start();
  const urlFor = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    url: urlFor('postgres'),
    urlFor,
    dir,
    start,
    stop,
    async restart(mode = 'fast') {
      await pgRun('pg_ctl', ['restart', '-w', '-t', '30', '-D', data, '-m', mode, '-l', logFile, '-o', opts]);
      running = true;
    },
    async dispose() {
      await stop('immediate').catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
