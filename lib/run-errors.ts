import type { RunConfig, Split } from './config.ts';
import { formatCsvRow } from './csv.ts';
import { readJsonIfExists, writeFileAtomic } from './atomic-files.ts';
import { readShardReports } from './compact.ts';
import type { RejectedRow } from './prepare-split.ts';
import { runLayout } from './run-layout.ts';

const SPLIT_ORDER: Record<string, number> = { none: 0, train: 1, val: 2 };

/**
 * errors.csv: every input row that produced no vectors, from the split report and every shard
 * report; split-stage rejects first, then by split and ordinal. Written before compaction, so
 * the record exists even when compaction fails. Returns the number of rows written.
 */
export async function writeRunErrors(config: RunConfig, shardCounts: Partial<Record<Split, number>>): Promise<number> {
  const layout = runLayout(config);
  const rejected = ((await readJsonIfExists(layout.splitReport)) as { rejected: RejectedRow[] } | undefined)?.rejected ?? [];
  for (const [split, count] of Object.entries(shardCounts) as [Split, number][]) {
    for (const report of await readShardReports(config, split, count)) rejected.push(...report.errors);
  }
  const key = (row: RejectedRow) => SPLIT_ORDER[row.split ?? 'none']!;
  rejected.sort((a, b) => key(a) - key(b) || a.position - b.position);
  const body = rejected.map((row) => formatCsvRow([row.imageId, row.classValue, row.split ?? '', row.stage, row.reason])).join('');
  await writeFileAtomic(layout.errorsCsv, formatCsvRow([config.idColumn, config.classColumn, 'split', 'stage', 'reason']) + body);
  return rejected.length;
}
