#!/usr/bin/env node
// tessera is written in TypeScript and runs through tsx's loader, registered here so that the
// command works from any directory without a build step.
import os from 'node:os';

// sharp decodes on libuv's thread pool, 4 threads unless told otherwise: on a GPU machine decoding
// is the bottleneck, so give it one thread per core. Set before anything uses the pool.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, os.availableParallelism()));
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
