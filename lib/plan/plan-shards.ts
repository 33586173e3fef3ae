import fs from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig, Split } from '../core/run-config.ts';
import { openCsv } from '../pandas/csv.ts';
import { InputError } from '../core/errors.ts';
import { runLayout, SHARD_FILE, type SplitLayout } from '../run-folder/layout.ts';
import {
  ClassMappingSchema,
  PlanRejectsSchema,
  ShardPlanSchema,
  type RejectedRow,
  type ShardImage,
} from '../run-folder/records.ts';
import { requireRecord, writeRecord } from '../run-folder/records-io.ts';

export interface PlanSummary {
  /** Rows in the split's CSV. */
  images: number;
  /** Rows that cannot become vectors (no image id or no class), listed in errors.csv. */
  rejectedRows: number;
  shardCount: number;
  seconds: number;
}

/**
 * Cuts one split's CSV (training.csv or validation.csv) into shard plans on disk, streaming it:
 * each shard's plan is written as soon as it holds shardSize images, so memory does not grow
 * with the dataset. Shards hold consecutive images, so shard files concatenated in shard order
 * are already ordered by `i`. An image's ordinal is its row in that CSV, so `i` stays tied to it
 * even when a row is rejected here. Workflows only ever see the shard count.
 */
export async function planShards(config: RunConfig, split: Split): Promise<PlanSummary> {
  const started = performance.now();
  const layout = runLayout(config);
  const files = layout.split(split);
  const csv = await openCsv(files.csv);
  // The split CSVs start with pandas' unnamed index column, so data columns sit one to the right.
  const idColumn = csv.header.indexOf(config.idColumn);
  const classColumn = csv.header.indexOf(config.classColumn);
  if (idColumn < 1 || classColumn < 1)
    throw new InputError(`${files.csv} lacks ${config.idColumn} or ${config.classColumn}`);
  const mapping = await requireRecord(layout.classMapping, ClassMappingSchema, 'prepareSplit');

  await fs.mkdir(path.dirname(files.planRejects), { recursive: true });
  let shard: ShardImage[] = [];
  let shardCount = 0;
  const writeShard = async () => {
    await writeRecord(files.plan(shardCount), ShardPlanSchema, { shard: shardCount, images: shard });
    shardCount++;
    shard = [];
  };
  const rejected: RejectedRow[] = [];
  let ordinal = 0;
  for await (const { fields } of csv.rows) {
    const imageId = fields[idColumn]!;
    const classValue = fields[classColumn]!;
    const target = Object.hasOwn(mapping.targets, classValue) ? mapping.targets[classValue] : undefined;
    let reason: string | undefined;
    if (imageId === '') reason = `${config.idColumn} is empty`;
    else if (target === undefined) reason = `${config.classColumn} is empty`;
    if (reason) rejected.push({ imageId, classValue, split, stage: 'plan', reason, position: ordinal });
    else {
      shard.push({ ordinal, imageId, target: target! });
      if (shard.length === config.shardSize) await writeShard();
    }
    ordinal++;
  }
  if (shard.length > 0) await writeShard();
  await writeRecord(files.planRejects, PlanRejectsSchema, { rejected });
  await removeShardsFrom(files, shardCount);
  return { images: ordinal, rejectedRows: rejected.length, shardCount, seconds: (performance.now() - started) / 1000 };
}

/**
 * Shards numbered `first` or more belong to an earlier, larger split of this folder (its data
 * changed since): their plans, reports and files go, so nothing can take them for this run's.
 * Found by listing, not by counting up, so a gap left by a crash hides none of them.
 */
async function removeShardsFrom(files: SplitLayout, first: number): Promise<void> {
  for (const folder of [files.plans, files.reports, files.shards]) {
    for (const name of await fs.readdir(folder).catch(() => [] as string[])) {
      const shard = SHARD_FILE.exec(name);
      if (shard && Number(shard[1]) >= first) await fs.rm(path.join(folder, name), { force: true });
    }
  }
}
