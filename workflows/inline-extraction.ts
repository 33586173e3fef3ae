import type { ShardSummary } from '../activities/inference-activities.ts';
import type { RunConfig, Split } from '../lib/core/run-config.ts';
import type { activitiesFor } from './activity-options.ts';
import { runInLanes } from './lanes.ts';

/**
 * How runs started before shard-range child workflows existed extract their shards: every shard
 * an activity of the run's own workflow. Such a run, resumed by a newer worker, replays its history
 * through this same sequence of commands; new runs never take this path (see `patched` in
 * extract-vectors.ts). Remove it once no run older than the child workflows can still be open.
 */
export async function extractShardsInline(
  config: RunConfig,
  inference: ReturnType<typeof activitiesFor>['inference'],
  shardCounts: Partial<Record<Split, number>>,
  onShard: (summary: ShardSummary) => void,
): Promise<void> {
  const work = config.splits.flatMap((split) =>
    Array.from({ length: shardCounts[split] ?? 0 }, (_, shard) => ({ split, shard })),
  );
  await runInLanes(work, config.parallelShards, async ({ split, shard }) =>
    onShard(await inference.extractShard(config, split, shard)),
  );
}
