#!/usr/bin/env node
// tessera is written in TypeScript. It runs as the JavaScript that `npm run build` (run by the
// set-up) writes into dist/, when that build is of the sources as they are now (bin/build.js);
// otherwise, or with TESSERA_FROM_SOURCE=1, from the TypeScript itself through tsx's loader,
// so that the command works in a fresh clone, an edited checkout and from any directory. A stale
// build is never run.
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { currentBuild } from './build.js';

// sharp decodes on libuv's thread pool, 4 threads unless told otherwise: on a GPU machine decoding
// is the bottleneck, so give it one thread per core. Set before anything uses the pool.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, os.availableParallelism()));
const built = process.env.TESSERA_FROM_SOURCE === '1' ? undefined : currentBuild();
if (!built) {
  const { register } = await import('tsx/esm/api');
  register();
}
const { main } = await import(built ? pathToFileURL(built).href : '../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
