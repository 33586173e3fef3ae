import fs from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig, Split } from './config.ts';
import { parseCsv } from './csv.ts';
import { InputError } from './errors.ts';
import { readJsonIfExists, writeJsonAtomic } from './atomic-files.ts';
import type { ClassMapping, RejectedRow } from './prepare-split.ts';
import { runLayout } from './run-layout.ts';
import { planShardRanges, type ShardImage } from './shard-plan.ts';

export interface ShardPlanFile {
  shard: number;
  images: ShardImage[];
}

export interface PlanSummary {
  /** Rows in the split's CSV. */
  images: number;
  /** Rows that cannot become vectors (no image id or no class), listed in errors.csv. */
  rejectedRows: number;
  shardCount: number;
  seconds: number;
}

/**
 * Cuts one split's CSV (training.csv or validation.csv) into shard plans on disk; workflows only
 * ever see the shard count. An image's ordinal is its row in that CSV, so `i` stays tied to it
 * even when a row is rejected here.
 */
export async function planShards(config: RunConfig, split: Split): Promise<PlanSummary> {
  const started = performance.now();
  const layout = runLayout(config);
  const files = layout.split(split);
  const table = parseCsv(await fs.readFile(files.csv, 'utf8'), files.csv);
  // The split CSVs start with pandas' unnamed index column, so data columns sit one to the right.
  const idColumn = table.header.indexOf(config.idColumn);
  const classColumn = table.header.indexOf(config.classColumn);
  if (idColumn < 1 || classColumn < 1) throw new InputError(`${files.csv} lacks ${config.idColumn} or ${config.classColumn}`);
  const mapping = (await readJsonIfExists(layout.classMapping)) as ClassMapping | undefined;
  if (!mapping) throw new Error(`${layout.classMapping} is missing: prepareSplit did not finish`);

  const images: ShardImage[] = [];
  const rejected: RejectedRow[] = [];
  table.rows.forEach((fields, ordinal) => {
    const imageId = fields[idColumn]!;
    const classValue = fields[classColumn]!;
    const target = mapping.targets[classValue];
    let reason: string | undefined;
    if (imageId === '') reason = `${config.idColumn} is empty`;
    else if (target === undefined) reason = `${config.classColumn} is empty`;
    if (reason) rejected.push({ imageId, classValue, split, stage: 'plan', reason, position: ordinal });
    else images.push({ ordinal, imageId, target: target! });
  });

  const ranges = planShardRanges(images.length, config.shardSize);
  for (const range of ranges) {
    const plan: ShardPlanFile = { shard: range.shard, images: images.slice(range.first, range.end) };
    await fs.mkdir(path.dirname(files.plan(range.shard)), { recursive: true });
    await writeJsonAtomic(files.plan(range.shard), plan);
  }
  await fs.mkdir(path.dirname(files.planRejects), { recursive: true });
  await writeJsonAtomic(files.planRejects, { rejected });
  return { images: table.rows.length, rejectedRows: rejected.length, shardCount: ranges.length, seconds: (performance.now() - started) / 1000 };
}
