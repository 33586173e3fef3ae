import fs from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig, Split } from './config.ts';
import { parseCsv } from './csv.ts';
import { InputError } from './errors.ts';
import { writeJsonAtomic } from './atomic-files.ts';
import { parseClassId } from './prepare-split.ts';
import { runLayout } from './run-layout.ts';
import { planShardRanges, type ShardImage } from './shard-plan.ts';

export interface ShardPlanFile {
  shard: number;
  images: ShardImage[];
}

export interface PlanSummary {
  images: number;
  shardCount: number;
  seconds: number;
}

/**
 * Cuts one split's CSV (training.csv or validation.csv) into shard plans on disk; workflows only
 * ever see the shard count. An image's ordinal is its row in that CSV.
 */
export async function planShards(config: RunConfig, split: Split): Promise<PlanSummary> {
  const started = performance.now();
  const files = runLayout(config).split(split);
  const table = parseCsv(await fs.readFile(files.csv, 'utf8'), files.csv);
  // The split CSVs start with pandas' unnamed index column, so data columns sit one to the right.
  const idColumn = table.header.indexOf(config.idColumn);
  const classColumn = table.header.indexOf(config.classColumn);
  if (idColumn < 1 || classColumn < 1) throw new InputError(`${files.csv} lacks ${config.idColumn} or ${config.classColumn}`);
  const images: ShardImage[] = table.rows.map((fields, ordinal) => ({
    ordinal,
    imageId: fields[idColumn]!,
    target: parseClassId(fields[classColumn]!)!,
  }));
  const ranges = planShardRanges(images.length, config.shardSize);
  for (const range of ranges) {
    const plan: ShardPlanFile = { shard: range.shard, images: images.slice(range.first, range.end) };
    await fs.mkdir(path.dirname(files.plan(range.shard)), { recursive: true });
    await writeJsonAtomic(files.plan(range.shard), plan);
  }
  return { images: images.length, shardCount: ranges.length, seconds: (performance.now() - started) / 1000 };
}
