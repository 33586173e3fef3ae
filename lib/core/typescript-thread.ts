import { Worker } from 'node:worker_threads';

const tsxApiUrl = import.meta.resolve('tsx/esm/api');

/**
 * A worker thread running a TypeScript module. tsx is registered inside the thread before the
 * module is imported: Node 20 does not apply `--import` loaders to a worker's entry module.
 */
export function startTypeScriptThread(module: URL, workerData: unknown): Worker {
  const bootstrap = `import(${JSON.stringify(tsxApiUrl)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(module.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
