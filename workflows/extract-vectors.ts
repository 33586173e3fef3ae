import { ApplicationFailure, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CpuActivities } from '../activities/cpu-activities.ts';
import type { InferenceActivities, ShardSummary } from '../activities/inference-activities.ts';
import { parseRunConfig } from '../lib/config.ts';
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

const cpu = proxyActivities<CpuActivities>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '30 minutes',
  retry,
});

const compactOnCpu = proxyActivities<CpuActivities>({
  taskQueue: TASK_QUEUES.cpu,
  // Compaction streams every shard once; at ~50 MB/s, 1M images (~85 GB) need about half an hour.
  startToCloseTimeout: '6 hours',
  retry,
});

const inference = proxyActivities<InferenceActivities>({
  taskQueue: TASK_QUEUES.inference,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry,
});

/**
 * seed & split → plan shards → extract shards (bounded fan-out, inference queue) → compact →
 * manifest. Only paths and counts cross activity boundaries; no file, model or clock is touched here.
 */
export async function extractVectors(input: unknown): Promise<RunSummary> {
  const parsed = parseRunConfig(input);
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, 'InvalidConfig');
  const config = parsed.config;
  const started = Date.now();

  const progress: RunProgress = { stage: 'split', shardsTotal: 0, shardsDone: 0, imagesTotal: 0, imagesDone: 0, rows: 0, errors: 0 };
  setHandler(progressQuery, () => progress);

  const split = await cpu.prepareSplit(config);
  progress.errors = split.rejectedRows;
  progress.stage = 'plan';
  const plan = await cpu.planShards(config);
  progress.shardsTotal = plan.shardCount;
  progress.imagesTotal = plan.images;
  progress.stage = 'extract';

  const shards: ShardSummary[] = [];
  let nextShard = 0;
  const lane = async () => {
    while (nextShard < plan.shardCount) {
      const shard = nextShard++;
      const summary = await inference.extractShard(config, shard);
      shards[shard] = summary;
      progress.shardsDone++;
      progress.imagesDone += summary.images;
      progress.rows += summary.rows;
      progress.errors += summary.errorCount;
    }
  };
  await Promise.all(Array.from({ length: Math.min(config.parallelShards, plan.shardCount) }, lane));

  progress.stage = 'compact';
  const compacted = await compactOnCpu.compact(config, plan.shardCount);
  progress.stage = 'manifest';
  const timings = {
    split: split.seconds,
    plan: plan.seconds,
    extract: shards.reduce((sum, s) => sum + s.seconds, 0),
    compact: compacted.seconds,
    total: (Date.now() - started) / 1000,
  };
  const counts: RunCounts = {
    inputRows: split.inputRows,
    trainingImages: plan.images,
    validationImages: split.validationRows,
    extractedImages: compacted.extracted,
    rows: compacted.rows,
    errors: compacted.errors,
    shards: plan.shardCount,
    tilesPerImage: compacted.tilesPerImage,
    channels: compacted.channels,
  };
  const { workflowId, runId } = workflowInfo();
  const manifest = await cpu.writeManifest(config, { workflowId, runId, counts, timings });
  progress.stage = 'done';
  return { workflowId, out: config.out, vectors: `${config.out}/vectors.parquet`, manifest, counts, timings };
}
