import { parseCommandArgs, USAGE, usageOf } from './usage.ts';
import { DevServerStartError, startDevServer } from '../lib/dev/dev-server.ts';
import { errorMessage } from '../lib/core/errors.ts';
import { OutputFolderError } from '../lib/run-folder/output-folder.ts';
import { LeaseHeldError, readLiveLease } from '../lib/run-folder/lease.ts';
import { generateSampleData } from '../lib/dev/sample-data.ts';
import type { RunSummary } from '../lib/core/run-summary.ts';
import { createWorkers } from '../workers/create-workers.ts';
import { embeddedRun } from './embedded-run.ts';
import { buildRunConfig, configFlagSpecs, UsageError } from './run-options.ts';
import { resolveTarget } from './temporal-target.ts';
import {
  decodeThreadsFromEnvironment,
  parseWorkerOptions,
  runtimeOptionsFromEnvironment,
  workerFlags,
} from './worker-options.ts';
import { connectionFlags, describeTarget } from '../lib/temporal/connection.ts';
import { RunCancelledError, RunFailedError, submitRun } from './submit-run.ts';
import { cancelCommand } from './cancel-command.ts';
import { scheduleCommand } from './schedule-command.ts';
import { statusCommand } from './status-command.ts';
import { reportCommand } from './report-command.ts';
import { indexCommand } from './index-command.ts';
import { searchCommand } from './search-command.ts';
import { evaluateCommand } from './evaluate-command.ts';
import { serveCommand } from './serve-command.ts';
import { heldOutValidationNote } from '../lib/report/held-out.ts';
import { hasOutputTemplate } from '../lib/run/output-template.ts';

function printSummary(summary: RunSummary, seconds: number, finishedAt?: string): void {
  const extract = summary.timings.extract ?? 0;
  const c = summary.counts;
  const reused = c.reusedImages + c.validationReusedImages;
  const extracted = c.extractedImages + c.validationExtractedImages;
  const heldOut = heldOutValidationNote(c.validationImages, summary.validationVectors !== null);
  const lines = [
    finishedAt === undefined
      ? `tessera: done in ${seconds.toFixed(1)} s`
      : `tessera: already complete, nothing to run: the options, model, input CSV, images and outputs are those of the run that finished ${finishedAt} (${summary.manifest})`,
    `  images     ${c.extractedImages} extracted of ${c.trainingImages} (validation: ${c.validationImages}${heldOut ? ` ${heldOut}` : ''})`,
    ...(reused > 0
      ? [`  reused     ${reused} images' vectors copied from earlier outputs; ${extracted - reused} through the model`]
      : []),
    `  rows       ${c.rows} (${c.tilesPerImage} tiles × ${c.channels} channels per image)`,
    ...(summary.validationVectors
      ? [`  validation ${c.validationExtractedImages} images extracted with occlusion, ${c.validationRows} rows`]
      : []),
    `  errors     ${c.errors}${c.errors > 0 ? ` (see ${summary.out}/errors.csv)` : ''}`,
    `  speed      ${(c.extractedImages / seconds).toFixed(1)} images/s overall, ${(extract > 0 ? c.extractedImages / extract : 0).toFixed(1)} images/s in extraction`,
    ...[summary.vectors, summary.validationVectors]
      .filter((file) => file !== null)
      .map((file) => `  output     ${file}`),
    ...(summary.reuse?.skipped ?? []).map((why) => `  warning    ${why}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

async function runCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('run', args, {
    ...configFlagSpecs(),
    config: { type: 'string' },
    ...connectionFlags,
    detach: { type: 'boolean' },
    quiet: { type: 'boolean' },
    verbose: { type: 'boolean' },
  });
  const config = buildRunConfig(values, values.config);
  if (hasOutputTemplate(config.out))
    throw new UsageError('--out: {scheduledTime} is filled in only for scheduled runs (tessera schedule create)');
  if (config.keepRuns !== undefined || config.reuseEarlierRuns)
    throw new UsageError(
      '--keep-runs and --reuse-earlier-runs apply to the runs of a schedule (tessera schedule create); give earlier outputs with --reuse DIR',
    );
  if (values.detach && !values.address)
    throw new UsageError('--detach needs --address (the embedded server stops when tessera exits)');
  // A folder an embedded run is working in (its own server) must not get a second workflow from a cluster.
  const embeddedHolder = values.address ? readLiveLease(config.out) : null;
  if (embeddedHolder) throw new LeaseHeldError(config.out, embeddedHolder);
  const result: Awaited<ReturnType<typeof embeddedRun>> = values.address
    ? await submitRun(config, { target: resolveTarget(values), detach: values.detach, quiet: values.quiet })
    : await embeddedRun(config, {
        quiet: values.quiet,
        verbose: values.verbose,
        runtime: runtimeOptionsFromEnvironment(),
        decodeThreads: decodeThreadsFromEnvironment(),
        onServer: (ui, log) =>
          values.quiet ||
          process.stderr.write(
            `tessera: local Temporal dev server, Web UI at ${ui} (while this command runs); log: ${log}\n`,
          ),
      });
  const { summary, finishedAt } = result;
  if (summary) printSummary(summary, finishedAt ? summary.timings.total : result.seconds, finishedAt);
  else process.stdout.write(`${result.workflowId}\n`);
  return 0;
}

async function workerCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('worker', args, workerFlags);
  const options = parseWorkerOptions(values);
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

async function devCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('dev', args, {
    port: { type: 'string' },
    'ui-port': { type: 'string' },
    db: { type: 'string', default: '.tessera-dev/state.db' },
  });
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

async function sampleDataCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('sample-data', args, {
    out: { type: 'string' },
    images: { type: 'string' },
    classes: { type: 'string' },
    seed: { type: 'string' },
  });
  if (!values.out) throw new UsageError('tessera sample-data needs --out DIR');
  const result = await generateSampleData({
    dir: values.out,
    images: values.images ? Number(values.images) : undefined,
    classes: values.classes ? Number(values.classes) : undefined,
    seed: values.seed ? Number(values.seed) : undefined,
  });
  process.stdout.write(`wrote ${result.images} images in ${result.classes} classes; ${result.csv}\n`);
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  run: runCommand,
  worker: workerCommand,
  dev: devCommand,
  'sample-data': sampleDataCommand,
  report: reportCommand,
  index: indexCommand,
  search: searchCommand,
  evaluate: evaluateCommand,
  serve: serveCommand,
  status: statusCommand,
  cancel: cancelCommand,
  schedule: scheduleCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const handler = COMMANDS[command];
  if (!handler) {
    process.stderr.write(`tessera: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${usageOf(command)}\n`);
    return 0;
  }
  try {
    return await handler(rest);
  } catch (error) {
    if (error instanceof UsageError || (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`tessera ${command}: ${errorMessage(error)}\n`);
      return 2;
    }
    // Another run holds the output folder: refused before anything changed, like bad usage; the
    // other run is unaffected, so this is not "the run failed" (1).
    if (error instanceof LeaseHeldError) {
      process.stderr.write(`tessera ${command}: ${error.message}\n`);
      return 2;
    }
    // Same code as preflight's "output folder is not writable" in a run on a cluster: the run cannot be done as asked.
    // A server that does not start says why in its own log lines, which the message carries; a stack adds nothing.
    if (error instanceof OutputFolderError || error instanceof DevServerStartError) {
      process.stderr.write(`tessera ${command}: ${error.message}\n`);
      return 1;
    }
    if (error instanceof RunCancelledError) {
      process.stderr.write(`tessera ${command}: ${error.message}\n`);
      return 3;
    }
    if (error instanceof RunFailedError) {
      process.stderr.write(
        `tessera ${command}: run failed: ${error.message}\n${error.log ? `tessera ${command}: details in ${error.log}\n` : ''}`,
      );
      return 1;
    }
    process.stderr.write(
      `tessera ${command}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}
