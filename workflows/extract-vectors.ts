import { ApplicationFailure, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CpuActivities } from '../activities/cpu-activities.ts';
import type { InferenceActivities, ShardSummary } from '../activities/inference-activities.ts';
import { parseRunConfig, type RunConfig, type Split } from '../lib/config.ts';
import type { RunCounts, RunSummary } from '../lib/run-summary.ts';
import { TASK_QUEUES } from '../lib/task-queues.ts';
import { progressQuery, type RunProgress } from './run-progress.ts';

const retry = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 10,
  nonRetryableErrorTypes: ['InputError'],
};

/**
 * Every activity heartbeats while it works, so a worker that dies (SIGKILL, lost machine) gives
 * its activity to another worker after `heartbeatSeconds`, not after the start-to-close limit.
 */
function activitiesFor(config: RunConfig) {
  const heartbeatTimeout = `${config.heartbeatSeconds} seconds`;
  return {
    cpu: proxyActivities<CpuActivities>({ taskQueue: TASK_QUEUES.cpu, startToCloseTimeout: '30 minutes', heartbeatTimeout, retry }),
    // Compaction streams every shard once; at ~50 MB/s, 1M images (~85 GB) need about half an hour.
    compactOnCpu: proxyActivities<CpuActivities>({ taskQueue: TASK_QUEUES.cpu, startToCloseTimeout: '6 hours', heartbeatTimeout, retry }),
    inference: proxyActivities<InferenceActivities>({ taskQueue: TASK_QUEUES.inference, startToCloseTimeout: '2 hours', heartbeatTimeout, retry }),
  };
}

/**
 * preflight → seed & split → plan shards → extract shards (bounded fan-out, inference queue) → errors.csv →
 * compact → manifest. Only paths and counts cross activity boundaries; no file, model or
 * clock is touched here.
 */
export async function extractVectors(input: unknown): Promise<RunSummary> {
  const parsed = parseRunConfig(input);
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, 'InvalidConfig');
  const config = parsed.config;
  const { cpu, compactOnCpu, inference } = activitiesFor(config);
  const started = Date.now();

  const progress: RunProgress = { stage: 'preflight', shardsTotal: 0, shardsDone: 0, imagesTotal: 0, imagesDone: 0, rows: 0, errors: 0 };
  setHandler(progressQuery, () => progress);

  progress.stage = 'preflight';
  await cpu.preflight(config);
  progress.stage = 'split';
  const split = await cpu.prepareSplit(config);
  progress.stage = 'plan';
  const shardCounts: Partial<Record<Split, number>> = {};
  const work: { split: Split; shard: number }[] = [];
  let planSeconds = 0;
  for (const name of config.splits) {
    const plan = await cpu.planShards(config, name);
    shardCounts[name] = plan.shardCount;
    planSeconds += plan.seconds;
    progress.imagesTotal += plan.images;
    progress.imagesDone += plan.rejectedRows;
    progress.errors += plan.rejectedRows;
    for (let shard = 0; shard < plan.shardCount; shard++) work.push({ split: name, shard });
  }
  progress.shardsTotal = work.length;
  progress.stage = 'extract';

  const shards: ShardSummary[] = [];
  let next = 0;
  const lane = async () => {
    while (next < work.length) {
      const { split: name, shard } = work[next++]!;
      const summary = await inference.extractShard(config, name, shard);
      shards.push(summary);
      progress.shardsDone++;
      progress.imagesDone += summary.images;
      progress.rows += summary.rows;
      progress.errors += summary.errorCount;
    }
  };
  await Promise.all(Array.from({ length: Math.min(config.parallelShards, work.length) }, lane));

  progress.stage = 'compact';
  const errors = await cpu.writeErrors(config, shardCounts);
  const train = config.splits.includes('train') ? await compactOnCpu.compact(config, 'train', shardCounts.train!) : undefined;
  const val = config.splits.includes('val') ? await compactOnCpu.compact(config, 'val', shardCounts.val!) : undefined;
  progress.stage = 'manifest';
  const timings = {
    split: split.seconds,
    plan: planSeconds,
    extract: shards.reduce((sum, s) => sum + s.seconds, 0),
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
    shards: work.length,
    tilesPerImage: (train ?? val)!.tilesPerImage,
    channels: (train ?? val)!.channels,
  };
  const { workflowId, runId } = workflowInfo();
  const manifest = await cpu.writeManifest(config, { workflowId, runId, counts, timings, shardCounts });
  progress.stage = 'done';
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
