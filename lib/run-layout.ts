import path from 'node:path';
import type { RunConfig } from './config.ts';
import { shardName } from './shard-plan.ts';

/** Every file a run reads or writes, from its config. Activities share it so names never drift. */
export function runLayout(config: RunConfig) {
  const data = path.resolve(config.data);
  const out = path.resolve(config.out);
  const shards = path.join(out, 'shards');
  const work = path.join(out, '.tessera');
  return {
    data,
    out,
    inputCsv: path.resolve(data, config.csv),
    images: path.resolve(data, config.images),
    model: path.resolve(config.model),
    trainingCsv: path.join(out, 'training.csv'),
    validationCsv: path.join(out, 'validation.csv'),
    splitReport: path.join(work, 'split.json'),
    plans: path.join(work, 'plans'),
    shards,
    vectors: path.join(out, 'vectors.parquet'),
    errorsCsv: path.join(out, 'errors.csv'),
    manifest: path.join(out, 'manifest.json'),
    work,
    shardPlan: (shard: number) => path.join(work, 'plans', `${shardName(shard)}.json`),
    shardParquet: (shard: number) => path.join(shards, `${shardName(shard)}.parquet`),
    shardReport: (shard: number) => path.join(work, 'shards', `${shardName(shard)}.json`),
  };
}

export type RunLayout = ReturnType<typeof runLayout>;
