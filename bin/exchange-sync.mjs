#!/usr/bin/env node
// Runs the compiled CLI (dist/, built from src/ by `npm install` through the prepare script)
// with plain node: tsx at run time doubles the memory of what it loads and triples start-up.
// A dist/ older than src/ is rebuilt first, with the project's own TypeScript, and a missing
// one that cannot be built is named in one line: never run out of date.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = `${root}dist/cli.js`;

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function stale() {
  if (!existsSync(cli)) return 'dist/ has not been built';
  if (existsSync(`${root}src`) && newestMtime(`${root}src`) > statSync(cli).mtimeMs) return 'src/ changed since dist/ was built';
  return undefined;
}

const why = stale();
if (why) {
  const tsc = `${root}node_modules/typescript/bin/tsc`;
  if (!existsSync(tsc)) {
    process.stderr.write(`exchange-sync: ${why}, and TypeScript is not installed to build it: run "npm install" (or "npm run build") in ${root}\n`);
    process.exit(2);
  }
  process.stderr.write(`exchange-sync: ${why}; building it (npm run build)...\n`);
  const built = spawnSync(process.execPath, [`${root}bin/build.mjs`], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (built.status !== 0) {
    process.stderr.write('exchange-sync: the build failed (see above); fix it or run "npm run build"\n');
    process.exit(2);
  }
}
await import(cli);
