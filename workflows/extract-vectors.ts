import { defineSearchAttributeKey } from '@temporalio/common';
import { ApplicationFailure, executeChild, log, patched, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { parseRunConfig, type RunConfig, type Split } from '../lib/config.ts';
import { hasOutputTemplate, resolveOutputTemplate } from '../lib/output-template.ts';
import type { RunCounts, RunSummary } from '../lib/run-summary.ts';
import { activitiesFor } from './activity-options.ts';
import { extractShardRange, shardRanges, type ShardRange } from './extract-shard-range.ts';
import { extractShardsInline } from './inline-extraction.ts';
import { describeProgress, progressQuery, withRate, type RunProgress } from './run-progress.ts';

/** Set by Temporal on every workflow a schedule starts: the slot's time, not the start time. */
const scheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

/**
 * `out` with `{scheduledTime}` filled in from the schedule's slot, or, for a run not started by a
 * schedule (e.g. from the Temporal CLI), the start of its chain of executions, which a reset or
 * retry of the run does not change.
 */
function resolveOutput(config: RunConfig): RunConfig {
  if (!hasOutputTemplate(config.out)) return config;
  const slot = workflowInfo().typedSearchAttributes.get(scheduledStartTime) ?? workflowInfo().startTime;
  return { ...config, out: resolveOutputTemplate(config.out, slot) };
}

/**
 * preflight → seed & split → plan shards → extract shards (child workflows of at most 256 shards,
 * so history stays bounded) → errors.csv → compact → manifest. Only paths and counts cross
 * activity boundaries; no file, model or clock is touched here.
 */
export async function extractVectors(input: unknown): Promise<RunSummary> {
  const parsed = parseRunConfig(input);
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, 'InvalidConfig');
  const config = resolveOutput(parsed.config);
  const { cpu, compactOnCpu, inference } = activitiesFor(config);
  const { workflowId, runId } = workflowInfo();
  const started = Date.now();

  const progress: RunProgress = withRate(
    { stage: 'preflight', shardsTotal: 0, shardsDone: 0, imagesTotal: 0, imagesDone: 0, rows: 0, errors: 0, extractStartedAt: null, imagesAtExtractStart: 0, extractEndedAt: null, updatedAt: started, imagesPerSecond: 0, etaSeconds: null },
    started,
  );
  setHandler(progressQuery, () => progress);
  const stage = (name: RunProgress['stage']) => {
    Object.assign(progress, withRate({ ...progress, stage: name }, Date.now()));
    setCurrentDetails(`${describeProgress(progress)}\n\nOutput: \`${config.out}\``);
    log.info('run stage', { stage: name, out: config.out });
  };

  stage('preflight');
  await cpu.preflight(config);
  stage('split');
  const split = await cpu.prepareSplit(config);
  stage('plan');
  const shardCounts: Partial<Record<Split, number>> = {};
  const ranges: ShardRange[] = [];
  let planSeconds = 0;
  for (const name of config.splits) {
    const plan = await cpu.planShards(config, name);
    shardCounts[name] = plan.shardCount;
    planSeconds += plan.seconds;
    progress.shardsTotal += plan.shardCount;
    progress.imagesTotal += plan.images;
    progress.imagesDone += plan.rejectedRows;
    progress.errors += plan.rejectedRows;
    ranges.push(...shardRanges(name, plan.shardCount));
  }
  progress.extractStartedAt = Date.now();
  progress.imagesAtExtractStart = progress.imagesDone;
  stage('extract');

  let extractSeconds = 0;
  const finished = (done: { shards: number; images: number; rows: number; errors: number; seconds: number }) => {
    extractSeconds += done.seconds;
    progress.shardsDone += done.shards;
    progress.imagesDone += done.images;
    progress.rows += done.rows;
    progress.errors += done.errors;
    stage('extract');
  };
  if (patched('shard-range-children')) {
    // Ranges run one after another; each keeps parallelShards activities in flight, so the only
    // idle time is a range's last shards finishing: under one shard's time per 256 shards.
    for (const range of ranges) {
      const last = range.firstShard + range.shardCount - 1;
      const done = await executeChild(extractShardRange, {
        args: [config, range],
        workflowId: `${workflowId}--${range.split}-shards-${range.firstShard}-${last}`,
        staticSummary: `tessera ${range.split} shards ${range.firstShard}–${last} of \`${config.out}\``,
      });
      finished({ ...done, shards: done.shardCount });
    }
  } else {
    await extractShardsInline(config, inference, shardCounts, (shard) =>
      finished({ shards: 1, images: shard.images, rows: shard.rows, errors: shard.errorCount, seconds: shard.seconds }),
    );
  }

  progress.extractEndedAt = Date.now();
  stage('compact');
  const errors = await cpu.writeErrors(config, shardCounts);
  const train = config.splits.includes('train') ? await compactOnCpu.compact(config, 'train', shardCounts.train!) : undefined;
  const val = config.splits.includes('val') ? await compactOnCpu.compact(config, 'val', shardCounts.val!) : undefined;
  stage('manifest');
  const timings = {
    split: split.seconds,
    plan: planSeconds,
    extract: extractSeconds,
    compact: (train?.seconds ?? 0) + (val?.seconds ?? 0),
    total: (Date.now() - started) / 1000,
  };
  const counts: RunCounts = {
    inputRows: split.inputRows,
    trainingImages: split.trainingRows,
    validationImages: split.validationRows,
    extractedImages: train?.extracted ?? 0,
    rows: train?.rows ?? 0,
    validationExtractedImages: val?.extracted ?? 0,
    validationRows: val?.rows ?? 0,
    errors,
    shards: progress.shardsTotal,
    tilesPerImage: (train ?? val)!.tilesPerImage,
    channels: (train ?? val)!.channels,
  };
  const manifest = await cpu.writeManifest(config, { workflowId, runId, counts, timings, shardCounts });
  stage('done');
  return {
    workflowId,
    out: config.out,
    vectors: train ? `${config.out}/vectors.parquet` : null,
    validationVectors: val ? `${config.out}/validation-vectors.parquet` : null,
    manifest,
    counts,
    timings,
  };
}
