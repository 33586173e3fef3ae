import path from 'node:path';
import type { RunConfig, Split } from '../core/run-config.ts';
import { shardName } from '../plan/shard-image.ts';

/** Every file a run reads or writes, from its config. Activities share it so names never drift. */
export function runLayout(config: RunConfig) {
  const data = path.resolve(config.data);
  const out = path.resolve(config.out);
  const work = path.join(out, '.tessera');
  const trainingCsv = path.join(out, 'training.csv');
  const validationCsv = path.join(out, 'validation.csv');
  return {
    data,
    out,
    inputCsv: path.resolve(data, config.csv),
    images: path.resolve(data, config.images),
    model: path.resolve(config.model),
    trainingCsv,
    validationCsv,
    classMapping: path.join(work, 'classes.json'),
    classesCsv: path.join(out, 'classes.csv'),
    errorsCsv: path.join(out, 'errors.csv'),
    manifest: path.join(out, 'manifest.json'),
    /** Every extracted image's bytes (sha256) with its row, shard and target. */
    lineageCsv: path.join(out, 'lineage.csv'),
    work,
    /** Says that tessera created this folder: only such a folder is written into. */
    marker: path.join(work, 'folder.json'),
    /** The input CSV's and the split CSVs' sha256, as prepareSplit last wrote them. */
    splitRecord: path.join(work, 'split.json'),
    /** The files of one split's extraction: `train` → shards/ and vectors.parquet. */
    split(split: Split) {
      const train = split === 'train';
      const shards = path.join(out, train ? 'shards' : 'shards-validation');
      return {
        csv: train ? trainingCsv : validationCsv,
        shards,
        vectors: path.join(out, train ? 'vectors.parquet' : 'validation-vectors.parquet'),
        compaction: path.join(work, `compacted-${split}.json`),
        plan: (shard: number) => path.join(work, 'plans', split, `${shardName(shard)}.json`),
        planRejects: path.join(work, 'plans', split, 'rejected.json'),
        parquet: (shard: number) => path.join(shards, `${shardName(shard)}.parquet`),
        report: (shard: number) => path.join(work, 'shards', split, `${shardName(shard)}.json`),
        attempts: (shard: number) => path.join(work, 'attempts', split, `${shardName(shard)}.jsonl`),
      };
    },
  };
}
