// `npm run build` (and `npm install` / `npm ci`, through prepare): src/ -> dist/, from scratch, so
// that a file removed from src/ does not live on in dist/. Built beside dist/ and swapped in, so a
// process starting meanwhile (the bin rebuilding a stale dist/, or a second one) never imports a
// half-written tree.
import { spawnSync } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const staging = `${root}dist.build-${process.pid}`;
const old = `${root}dist.old-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}bin/tsconfig.build.json`, '--outDir', staging], { stdio: 'inherit' });
if (tsc.status !== 0) {
  rmSync(staging, { recursive: true, force: true });
  process.exit(tsc.status ?? 1);
}
try {
  renameSync(`${root}dist`, old);
} catch (err) {
  if (err.code !== 'ENOENT') throw err;
}
renameSync(staging, `${root}dist`);
rmSync(old, { recursive: true, force: true });
