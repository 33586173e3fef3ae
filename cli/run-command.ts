import type { RunSummary } from '../lib/core/run-summary.ts';
import type { EmbeddedRunResult } from './embedded-run.ts';
import { readLiveLease, LeaseHeldError } from '../lib/run-folder/lease.ts';
import { connectionFlags } from '../lib/temporal/connection.ts';
import { heldOutValidationNote } from '../lib/report/held-out.ts';
import { hasOutputTemplate } from '../lib/run/output-template.ts';
import { buildRunConfig, configFlagSpecs, readConfigText, UsageError } from './run-options.ts';
import { refuseMissingInputs } from './run-inputs.ts';
import { resolveTarget } from './temporal-target.ts';
import { parseCommandArgs } from './usage.ts';

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

/**
 * `tessera run`. Everything the command line can get wrong (flags, values, the config file, a
 * missing dataset, CSV, image folder or model) is refused before the Temporal SDK, onnxruntime,
 * DuckDB or sharp are loaded and before anything is written: those come with the run's own modules.
 */
export async function runCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('run', args, {
    ...configFlagSpecs(),
    config: { type: 'string' },
    ...connectionFlags,
    detach: { type: 'boolean' },
    quiet: { type: 'boolean' },
    verbose: { type: 'boolean' },
  });
  const config = buildRunConfig(values, values.config, await readConfigText(values.config));
  if (hasOutputTemplate(config.out))
    throw new UsageError('--out: {scheduledTime} is filled in only for scheduled runs (tessera schedule create)');
  if (config.keepRuns !== undefined || config.reuseEarlierRuns)
    throw new UsageError(
      '--keep-runs and --reuse-earlier-runs apply to the runs of a schedule (tessera schedule create); give earlier outputs with --reuse DIR',
    );
  if (values.detach && !values.address)
    throw new UsageError('--detach needs --address (the embedded server stops when tessera exits)');
  let result: EmbeddedRunResult;
  if (values.address) {
    // A folder an embedded run is working in (its own server) must not get a second workflow from a cluster.
    const embeddedHolder = readLiveLease(config.out);
    if (embeddedHolder) throw new LeaseHeldError(config.out, embeddedHolder);
    // The cluster's workers read the inputs, maybe from a volume this machine does not mount: not checked here.
    const target = resolveTarget(values);
    const { submitRun } = await import('./submit-run.ts');
    result = await submitRun(config, { target, detach: values.detach, quiet: values.quiet });
  } else {
    refuseMissingInputs(config);
    const { embeddedRun } = await import('./embedded-run.ts');
    const { decodeThreadsFromEnvironment, runtimeOptionsFromEnvironment } = await import('./worker-options.ts');
    result = await embeddedRun(config, {
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
  }
  const { summary, finishedAt } = result;
  if (summary) printSummary(summary, finishedAt ? summary.timings.total : result.seconds, finishedAt);
  else process.stdout.write(`${result.workflowId}\n`);
  return 0;
}
