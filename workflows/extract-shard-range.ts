import { condition, patched, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { ShardSummary } from '../activities/inference-activities.ts';
import type { RunConfig, Split } from '../lib/core/run-config.ts';
import { activitiesFor } from './activity-options.ts';
import { describeProgress, progressQuery, withRate, type RunProgress } from './run-progress.ts';

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
export async function extractShardRange(config: RunConfig, range: ShardRange): Promise<ShardRangeSummary> {
  // Started only by extractVectors with the config it already parsed (and every activity checks it again).
  const { inference } = activitiesFor(config);
  const progress: RunProgress = withRate(
    {
      stage: 'extract',
      shardsTotal: range.shardCount,
      shardsDone: 0,
      imagesTotal: 0,
      imagesDone: 0,
      rows: 0,
      errors: 0,
      extractStartedAt: Date.now(),
      imagesAtExtractStart: 0,
      extractEndedAt: null,
      updatedAt: Date.now(),
      imagesPerSecond: 0,
      etaSeconds: null,
    },
    Date.now(),
  );
  setHandler(progressQuery, () => progress);
  setCurrentDetails(describeProgress(progress));

  const summary: ShardRangeSummary = { ...range, images: 0, extracted: 0, rows: 0, errors: 0, seconds: 0 };
  const record = (shard: ShardSummary) => {
    summary.images += shard.images;
    summary.extracted += shard.extracted;
    summary.rows += shard.rows;
    summary.errors += shard.errorCount;
    summary.seconds += shard.seconds;
    Object.assign(
      progress,
      withRate(
        {
          ...progress,
          shardsDone: progress.shardsDone + 1,
          imagesDone: summary.images,
          rows: summary.rows,
          errors: summary.errors,
        },
        Date.now(),
      ),
    );
    setCurrentDetails(describeProgress(progress));
  };

  const last = range.firstShard + range.shardCount;
  let next = range.firstShard;
  let failed = false;
  let settled = 0; // shards whose activity has returned or failed
  const lane = async () => {
    while (next < last && !failed) {
      const shard = next++;
      try {
        record(
          await inference.extractShard.executeWithOptions({ summary: `${range.split} shard ${shard}` }, [
            config,
            range.split,
            shard,
          ]),
        );
      } catch (error) {
        failed = true; // no lane takes another shard
        throw error;
      } finally {
        settled++;
      }
    }
  };
  // A split's first shard is handed out alone. Scheduled together, the task queue gave a worker
  // shard 1 before shard 0 in 5 runs of 8, and compaction, which follows the shards in order, then
  // had all of shard 0 to copy after the last shard. The other lanes start after a 1 ms timer
  // (the dev server fires it after ~1 s) or when shard 0 is done, whichever comes first.
  const firstAlone = range.firstShard === 0 && patched('first-shard-dispatched-alone');
  const startLane = async (k: number) => {
    if (k > 0 && firstAlone) await condition(() => settled > 0, 1);
    return lane();
  };
  // allSettled, not all: on cancellation or a failure this workflow ends only after every lane's
  // running activity has stopped and removed its temporary file.
  const lanes = await Promise.allSettled(
    Array.from({ length: Math.min(config.parallelShards, range.shardCount) }, (_, k) => startLane(k)),
  );
  const rejected = lanes.find((lane): lane is PromiseRejectedResult => lane.status === 'rejected');
  if (rejected) throw rejected.reason;
  progress.stage = 'done';
  progress.extractEndedAt = Date.now();
  setCurrentDetails(describeProgress(progress));
  return summary;
}
