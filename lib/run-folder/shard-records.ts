import type { Split } from '../core/run-config.ts';
import { DamagedShardsError } from '../core/errors.ts';
import type { SplitLayout } from './layout.ts';
import { ShardPlanSchema, ShardReportSchema, type ShardPlan, type ShardReportRecord } from './records.ts';
import { readRecord, requireRecord } from './records-io.ts';

/** A shard's plan, as planShards wrote it. */
export function readShardPlan(files: SplitLayout, shard: number): Promise<ShardPlan> {
  return requireRecord(files.plan(shard), ShardPlanSchema, 'planShards');
}

/** The report of a shard, or why there is none that can be trusted (the shard is then redone). */
export async function readShardReport(file: string): Promise<{ report: ShardReportRecord } | { problem: string }> {
  try {
    const report = await readRecord(file, ShardReportSchema);
    return report === undefined ? { problem: 'not extracted yet' } : { report };
  } catch {
    return { problem: `its report ${file} is damaged or of a format this tessera version does not read` };
  }
}

/** The reports of one split's shards; a missing or unreadable one means that shard is redone. */
export async function readShardReports(
  files: SplitLayout,
  split: Split,
  shardCount: number,
): Promise<ShardReportRecord[]> {
  const reports: ShardReportRecord[] = [];
  const missing: number[] = [];
  const problems: string[] = [];
  for (let shard = 0; shard < shardCount; shard++) {
    const read = await readShardReport(files.report(shard));
    if ('report' in read) reports.push(read.report);
    else {
      missing.push(shard);
      problems.push(`shard ${shard}: ${read.problem}`);
    }
  }
  if (missing.length > 0) throw new DamagedShardsError(split, missing, problems);
  return reports;
}
