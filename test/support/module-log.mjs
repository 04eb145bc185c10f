// `node --import ./test/support/module-log.mjs ...`: appends the URL of every module the process
// loads to the file named by MODULE_LOG, so a test can tell what a process really loaded.
import { register } from 'node:module';

register(new URL('./module-log-hooks.mjs', import.meta.url), { data: { file: process.env.MODULE_LOG } });
