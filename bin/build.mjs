// `npm run build` (and `npm install` / `npm ci`, through prepare): src/ -> dist/, from scratch,
// so that a file removed from src/ does not live on in dist/.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(`${root}dist`, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}bin/tsconfig.build.json`], { stdio: 'inherit' });
process.exit(tsc.status ?? 1);
