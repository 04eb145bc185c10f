// `npm run bench`: every benchmark against its baseline, measured in the same run.
import { cpus } from 'node:os';
import { createTestDb } from '../test/support/db.js';
import { benchAppend } from './append.js';
import { report, type Figure } from './report.js';

const quick = process.argv.includes('--quick');
const figures: Figure[] = [];
const db = await createTestDb();
try {
  figures.push(...(await benchAppend(db.pool, quick ? { appends1: 400, appends100: 40 } : { appends1: 4000, appends100: 200 })));
} finally {
  await db.drop();
}
console.log(report(figures, { when: new Date().toISOString(), node: process.version, cpus: cpus().length, quick }));
