import fs from 'node:fs/promises';
import type { RunConfig } from './config.ts';
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

/** Cuts training.csv into shard plans on disk; workflows only ever see the shard count. */
export async function planShards(config: RunConfig): Promise<PlanSummary> {
  const started = performance.now();
  const layout = runLayout(config);
  const table = parseCsv(await fs.readFile(layout.trainingCsv, 'utf8'), layout.trainingCsv);
  // training.csv starts with pandas' unnamed index column, so data columns sit one to the right.
  const idColumn = table.header.indexOf(config.idColumn);
  const classColumn = table.header.indexOf(config.classColumn);
  if (idColumn < 1 || classColumn < 1) throw new InputError(`${layout.trainingCsv} lacks ${config.idColumn} or ${config.classColumn}`);
  const images: ShardImage[] = table.rows.map((fields, ordinal) => ({
    ordinal,
    imageId: fields[idColumn]!,
    target: parseClassId(fields[classColumn]!)!,
  }));
  const ranges = planShardRanges(images.length, config.shardSize);
  await fs.mkdir(layout.plans, { recursive: true });
  for (const range of ranges) {
    const plan: ShardPlanFile = { shard: range.shard, images: images.slice(range.first, range.end) };
    await writeJsonAtomic(layout.shardPlan(range.shard), plan);
  }
  return { images: images.length, shardCount: ranges.length, seconds: (performance.now() - started) / 1000 };
}
