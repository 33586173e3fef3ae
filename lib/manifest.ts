import type { RunConfig, Split } from './config.ts';
import { writeJsonAtomic } from './atomic-files.ts';
import { readFingerprint } from './run-fingerprint.ts';
import { runLayout } from './run-layout.ts';
import { readShardAttempts, type ShardAttempts } from './shard-attempts.ts';
import type { RunCounts } from './run-summary.ts';
import { TESSERA_VERSION } from './version.ts';

export interface RunStats {
  workflowId: string;
  runId: string;
  counts: RunCounts;
  /** Seconds spent in each stage (shard times summed). */
  timings: Record<string, number>;
  shardCounts: Partial<Record<Split, number>>;
}

/** manifest.json: what produced this output folder, so a reader can trust or reproduce it. */
export async function writeManifest(config: RunConfig, stats: RunStats): Promise<string> {
  const layout = runLayout(config);
  // Hashed once, by preflight: a large model is not read again at the end of the run.
  const { modelSha256 } = await readFingerprint(config);
  const shards: ShardAttempts[] = [];
  for (const [split, count] of Object.entries(stats.shardCounts) as [Split, number][]) {
    for (let shard = 0; shard < count; shard++) shards.push(await readShardAttempts(config, split, shard));
  }
  await writeJsonAtomic(layout.manifest, {
    tessera: TESSERA_VERSION,
    createdAt: new Date().toISOString(),
    config,
    model: { path: layout.model, sha256: modelSha256 },
    workflow: { id: stats.workflowId, runId: stats.runId },
    counts: stats.counts,
    timings: stats.timings,
    /** Every attempt at every shard: started when, by which worker, extracted, reused or interrupted. */
    shards,
    files: {
      training: 'training.csv',
      validation: 'validation.csv',
      errors: 'errors.csv',
      classes: 'classes.csv',
      ...(config.splits.includes('train') ? { vectors: 'vectors.parquet', shards: 'shards/' } : {}),
      ...(config.splits.includes('val') ? { validationVectors: 'validation-vectors.parquet', validationShards: 'shards-validation/' } : {}),
    },
  });
  return layout.manifest;
}
