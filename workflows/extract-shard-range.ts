import { condition } from '@temporalio/workflow';
import type { ShardSummary } from '../activities/inference-activities.ts';
import type { RunConfig, Split } from '../lib/core/run-config.ts';
import { activitiesFor } from './activity-options.ts';
import { runInLanes } from './lanes.ts';
import { runDurations, type RunDurations } from './run-durations.ts';
import { RunProgressTracker } from './run-progress.ts';

/**
 * Shards per child workflow. Each shard costs this workflow about six history events (activity
 * scheduled/started/completed and a workflow task), so 256 shards stay near 1,500 events, far
 * below Temporal's 51,200-event cap, however large the dataset.
 */
export const SHARDS_PER_CHILD = 256;

export interface ShardRange {
  split: Split;
  firstShard: number;
  shardCount: number;
}

export interface ShardRangeSummary extends ShardRange {
  images: number;
  extracted: number;
  rows: number;
  errors: number;
  /** Shard seconds summed (activity time, not wall time). */
  seconds: number;
}

/** The split's shards cut into child-sized ranges, in shard order. */
export function shardRanges(split: Split, shardCount: number, perChild = SHARDS_PER_CHILD): ShardRange[] {
  const ranges: ShardRange[] = [];
  for (let first = 0; first < shardCount; first += perChild)
    ranges.push({ split, firstShard: first, shardCount: Math.min(perChild, shardCount - first) });
  return ranges;
}

/** Extracts one range of shards with `parallelShards` activities in flight on the inference queue. */
export async function extractShardRange(
  config: RunConfig,
  range: ShardRange,
  durations: Partial<RunDurations> = {},
): Promise<ShardRangeSummary> {
  // Started only by extractVectors with the config it already parsed (and every activity checks it again).
  const { inference } = activitiesFor(config);
  const progress = new RunProgressTracker('extract');
  progress.addPlanned({ shards: range.shardCount, images: 0, rejectedRows: 0 });
  progress.startExtraction();
  progress.enter('extract');

  const summary: ShardRangeSummary = { ...range, images: 0, extracted: 0, rows: 0, errors: 0, seconds: 0 };
  const record = (shard: ShardSummary) => {
    summary.images += shard.images;
    summary.extracted += shard.extracted;
    summary.rows += shard.rows;
    summary.errors += shard.errorCount;
    summary.seconds += shard.seconds;
    progress.addFinished({ shards: 1, images: shard.images, rows: shard.rows, errors: shard.errorCount });
  };

  let settled = 0; // shards whose activity has returned or failed
  const extract = async (shard: number) => {
    try {
      const options = { summary: `${range.split} shard ${shard}` };
      record(await inference.extractShard.executeWithOptions(options, [config, range.split, shard]));
    } finally {
      settled++;
    }
  };
  // A split's first shard is handed out alone. Scheduled together, the task queue gave a worker
  // shard 1 before shard 0 in 5 runs of 8, and compaction, which follows the shards in order, then
  // had all of shard 0 to copy after the last shard. The other lanes start after a short timer or
  // when shard 0 is done, whichever comes first.
  const firstAlone = range.firstShard === 0;
  const { firstShardAloneMs } = runDurations(durations);
  const shards = Array.from({ length: range.shardCount }, (_, k) => range.firstShard + k);
  await runInLanes(shards, config.parallelShards, extract, (lane) =>
    lane > 0 && firstAlone ? condition(() => settled > 0, firstShardAloneMs) : undefined,
  );
  progress.endExtraction();
  progress.enter('done');
  return summary;
}
