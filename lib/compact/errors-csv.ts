import type { RunConfig, Split } from '../core/run-config.ts';
import { formatCsvRow } from '../pandas/csv.ts';
import { writeFileAtomic } from '../run-folder/atomic-files.ts';
import { runLayout } from '../run-folder/layout.ts';
import { PlanRejectsSchema, type RejectedRow } from '../run-folder/records.ts';
import { requireRecord } from '../run-folder/records-io.ts';
import { readShardReports } from '../run-folder/shard-records.ts';

const SPLIT_ORDER: Record<Split, number> = { train: 0, val: 1 };

/**
 * errors.csv: every input row that produced no vectors, from each split's plan and shard
 * reports, ordered by split and then by the row's ordinal in that split's CSV. Written before compaction, so
 * the record exists even when compaction fails. Returns the number of rows written.
 */
export async function writeRunErrors(config: RunConfig, shardCounts: Partial<Record<Split, number>>): Promise<number> {
  const layout = runLayout(config);
  const rejected: RejectedRow[] = [];
  for (const [split, count] of Object.entries(shardCounts) as [Split, number][]) {
    const files = layout.split(split);
    const planned = await requireRecord(files.planRejects, PlanRejectsSchema, `planShards of the ${split} split`);
    rejected.push(...planned.rejected);
    for (const report of await readShardReports(files, split, count)) rejected.push(...report.errors);
  }
  rejected.sort((a, b) => SPLIT_ORDER[a.split] - SPLIT_ORDER[b.split] || a.position - b.position);
  const body = rejected
    .map((row) => formatCsvRow([row.imageId, row.classValue, row.split, row.stage, row.reason]))
    .join('');
  await writeFileAtomic(
    layout.errorsCsv,
    formatCsvRow([config.idColumn, config.classColumn, 'split', 'stage', 'reason']) + body,
  );
  return rejected.length;
}
