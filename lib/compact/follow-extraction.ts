import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { RunConfig, Split } from '../core/run-config.ts';
import { removeTempFilesIn, uniqueTempPath } from '../run-folder/atomic-files.ts';
import { runLayout } from '../run-folder/layout.ts';
import type { ShardReportRecord } from '../run-folder/records.ts';
import { readShardReport, readShardReports } from '../run-folder/shard-records.ts';
import { FolderChanges } from '../core/folder-changes.ts';
import { planCheck, publishMerged, scratchOf, writeMerged, type CompactSummary } from './compact.ts';

/** How often compaction that follows extraction looks for the next shard's report. */
const FOLLOW_POLL_MS = 100;
const FLUSH_EVERY_BYTES = 16 << 20;
/** The followed files' names in the split's scratch folder (`followed-vectors.parquet.<pid>-<hex>.tmp`). */
const FOLLOWED_PREFIX = 'followed-';

/**
 * A shard's report once extraction has written it for this run's plan. Until then there is none,
 * or one that extraction is about to replace (another plan's, unreadable): both mean "not yet".
 */
async function nextReport(
  file: string,
  shard: number,
  fitsPlan: (report: ShardReportRecord) => Promise<boolean>,
  checkCancelled: () => void,
  changes: FolderChanges,
): Promise<ShardReportRecord> {
  for (;;) {
    checkCancelled();
    const read = await readShardReport(file);
    if ('report' in read && read.report.shard === shard && (await fitsPlan(read.report))) return read.report;
    await changes.next(FOLLOW_POLL_MS);
  }
}

/** What a compaction that followed extraction wrote: its file, not yet published, and the reports it copied by. */
export const FollowedCompactionSchema = z.object({
  split: z.enum(['train', 'val']),
  temp: z.string(),
  sha256: z.string(),
  shards: z.array(z.object({ parquet: z.string().nullable(), parquetSha256: z.string().nullable() })),
  seconds: z.number(),
});
export type FollowedCompaction = z.infer<typeof FollowedCompactionSchema>;

/**
 * Compaction that follows extraction: started while the split's shards are still being extracted,
 * it copies each shard as soon as its report is there for this plan, into a file under .tessera
 * that only `publishFollowed` makes the split's vectors file, once the run knows extraction is
 * done. A report seen now may still be replaced by extraction (a shard on disk from an earlier
 * run that extraction finds stale is redone), which `publishFollowed` catches.
 */
export async function followExtraction(
  config: RunConfig,
  split: Split,
  shardCount: number,
  checkCancelled: () => void = () => {},
): Promise<FollowedCompaction> {
  const started = performance.now();
  const layout = runLayout(config);
  const scratch = scratchOf(layout, split);
  await fs.mkdir(scratch, { recursive: true });
  await removeTempFilesIn(scratch, FOLLOWED_PREFIX); // of a follower that died
  const temp = uniqueTempPath(path.join(scratch, `${FOLLOWED_PREFIX}${path.basename(layout.split(split).vectors)}`));
  // The disk idles while shards are extracted: what is copied goes to it then, not at the end.
  const fitsPlan = await planCheck(config, layout, split);
  // A report renamed into place wakes the follower at once rather than at its next poll: on a small
  // run that wait was 60–100 ms of the ~100–200 ms after the last shard. Extraction makes the
  // folder too; it is made here so that it can be watched from the start.
  await fs.mkdir(layout.split(split).reports, { recursive: true });
  const changes = new FolderChanges(layout.split(split).reports);
  const reportOf = (shard: number) =>
    nextReport(layout.split(split).report(shard), shard, fitsPlan, checkCancelled, changes);
  const { sha256, reports } = await writeMerged(
    config,
    split,
    shardCount,
    temp,
    checkCancelled,
    reportOf,
    FLUSH_EVERY_BYTES,
  ).finally(() => changes.close());
  return {
    split,
    temp,
    sha256,
    shards: reports.map((r) => ({ parquet: r.parquet, parquetSha256: r.parquetSha256 })),
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Once the split's extraction is done: the followed file becomes the split's vectors file if
 * every shard's report is still the one it was copied by (and this plan's). Otherwise (a shard
 * was extracted again after it was copied) the file is removed and null returned: the run then
 * compacts the split afresh.
 */
export async function publishFollowed(config: RunConfig, followed: FollowedCompaction): Promise<CompactSummary | null> {
  const started = performance.now();
  const layout = runLayout(config);
  const { split } = followed;
  // The file comes back through the workflow's history: only a followed file of this run's folder is moved or removed.
  if (
    path.dirname(followed.temp) !== scratchOf(layout, split) ||
    !path.basename(followed.temp).startsWith(FOLLOWED_PREFIX)
  ) {
    throw new Error(`${followed.temp} is not a followed compaction file of ${config.out}`);
  }
  const reports = await readShardReports(layout.split(split), split, followed.shards.length).catch(() => undefined);
  const unchanged =
    reports !== undefined &&
    reports.every(
      (report, k) =>
        report.parquet === followed.shards[k]!.parquet && report.parquetSha256 === followed.shards[k]!.parquetSha256,
    ) &&
    (await Promise.all(reports.map(await planCheck(config, layout, split)))).every(Boolean);
  if (
    !unchanged ||
    !(await fs.stat(followed.temp).then(
      () => true,
      () => false,
    ))
  ) {
    await fs.rm(followed.temp, { force: true });
    return null;
  }
  return publishMerged(config, split, followed.temp, followed.sha256, reports, started);
}
