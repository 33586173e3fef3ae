import { describeTarget } from '../lib/temporal/connection.ts';
import { UsageError } from './run-options.ts';
import { parseCommandArgs } from './usage.ts';
import { parseWorkerOptions, workerFlags } from './worker-options.ts';

/** `tessera worker`: workers for a cluster's queues; the SDK and the models load once its flags are read. */
export async function workerCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('worker', args, workerFlags);
  const options = parseWorkerOptions(values);
  const { createWorkers } = await import('../workers/create-workers.ts');
  const workers = await createWorkers({
    target: options.target,
    allowRoots: options.allowRoots,
    queues: options.queues,
    inferenceConcurrency: options.inferenceConcurrency,
    intraOpThreads: options.intraOpThreads,
    cpuMicroBatch: options.microBatch,
    decodeThreads: options.decodeThreads,
    runtime: { format: options.logFormat, level: options.logLevel, metricsAddress: options.metricsAddress },
    shutdownGraceTime: options.shutdownGraceTime,
  });
  // Graceful shutdown: stop polling, let running activities finish or be retried elsewhere.
  process.once('SIGINT', () => workers.shutdown());
  process.once('SIGTERM', () => workers.shutdown());
  const metrics = options.metricsAddress ? `, metrics on http://${options.metricsAddress}/metrics` : '';
  process.stderr.write(
    `tessera worker: queues ${options.queues.join(', ')} on ${describeTarget(options.target)}${metrics}; serving ${options.allowRoots.join(', ')}\n`,
  );
  await workers.run();
  return 0;
}

/** `tessera dev`: a local Temporal dev server until Ctrl-C. */
export async function devCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('dev', args, {
    port: { type: 'string' },
    'ui-port': { type: 'string' },
    db: { type: 'string', default: '.tessera-dev/state.db' },
  });
  const { startDevServer } = await import('../lib/dev/dev-server.ts');
  const server = await startDevServer({
    dbFile: values.db,
    port: values.port ? Number(values.port) : 7233,
    uiPort: values['ui-port'] ? Number(values['ui-port']) : 8233,
  });
  process.stdout.write(
    `Temporal dev server: ${server.address}\nWeb UI: ${server.uiUrl}\nState: ${values.db}\nCtrl-C stops it.\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.stop();
  return 0;
}

/** `tessera sample-data`: the demo's dataset (sharp loads once the flags are read). */
export async function sampleDataCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('sample-data', args, {
    out: { type: 'string' },
    images: { type: 'string' },
    classes: { type: 'string' },
    seed: { type: 'string' },
  });
  if (!values.out) throw new UsageError('tessera sample-data needs --out DIR');
  const { generateSampleData } = await import('../lib/dev/sample-data.ts');
  const result = await generateSampleData({
    dir: values.out,
    images: values.images ? Number(values.images) : undefined,
    classes: values.classes ? Number(values.classes) : undefined,
    seed: values.seed ? Number(values.seed) : undefined,
  });
  process.stdout.write(`wrote ${result.images} images in ${result.classes} classes; ${result.csv}\n`);
  return 0;
}
