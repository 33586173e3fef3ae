import { Worker } from 'node:worker_threads';

const tsxApiUrl = import.meta.resolve('tsx/esm/api');

/**
 * The module `name` (`./decode-thread`) beside the module at `from` (its import.meta.url), as that
 * one runs: the TypeScript source (`.ts`, through tsx) or the build (`.js`, bin/build.js).
 */
export function moduleBeside(name: string, from: string): URL {
  return new URL(`${name}${from.endsWith('.js') ? '.js' : '.ts'}`, from);
}

/**
 * A worker thread running one of tessera's modules. A built module runs as it is; for a
 * TypeScript one, tsx is registered inside the thread before the module is imported: Node 20 does
 * not apply `--import` loaders to a worker's entry module.
 */
export function startTypeScriptThread(module: URL, workerData: unknown): Worker {
  if (module.pathname.endsWith('.js')) return new Worker(module, { workerData });
  const bootstrap = `import(${JSON.stringify(tsxApiUrl)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(module.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
