import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { RunConfig } from './config.ts';
import { writeJsonAtomic } from './atomic-files.ts';
import { runLayout } from './run-layout.ts';
import type { RunCounts } from './run-summary.ts';
import { TESSERA_VERSION } from './version.ts';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface RunStats {
  workflowId: string;
  runId: string;
  counts: RunCounts;
  /** Seconds spent in each stage (shard times summed). */
  timings: Record<string, number>;
}

/** manifest.json: what produced this output folder, so a reader can trust or reproduce it. */
export async function writeManifest(config: RunConfig, stats: RunStats): Promise<string> {
  const layout = runLayout(config);
  const modelSha256 = await sha256File(layout.model);
  await writeJsonAtomic(layout.manifest, {
    tessera: TESSERA_VERSION,
    createdAt: new Date().toISOString(),
    config,
    model: { path: layout.model, sha256: modelSha256 },
    workflow: { id: stats.workflowId, runId: stats.runId },
    counts: stats.counts,
    timings: stats.timings,
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
