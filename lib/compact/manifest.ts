import { isUri } from '../core/uri.ts';
import fs from 'node:fs/promises';
import type { RunConfig, Split } from '../core/run-config.ts';
import { sha256File } from '../core/hashing.ts';
import { TESSERA_VERSION } from '../core/version.ts';
import { lineageDigest } from '../extract/lineage.ts';
import { formatCsvRow } from '../pandas/csv.ts';
import { readShardAttempts } from '../run-folder/attempt-log.ts';
import { writeFileAtomic } from '../run-folder/atomic-files.ts';
import { removeShardFiles } from '../run-folder/output-folder.ts';
import { publishedNames, runLayout } from '../run-folder/layout.ts';
import {
  CompactionRecordSchema,
  ManifestSchema,
  SplitRecordSchema,
  type ManifestShard,
} from '../run-folder/records.ts';
import type { RunCounts, RunTimings } from '../core/run-summary.ts';
import { requireRecord, writeRecord } from '../run-folder/records-io.ts';
import { readRunOptions } from '../run-folder/run-options-record.ts';
import { readShardReports } from '../run-folder/shard-records.ts';

export interface RunStats {
  workflowId: string;
  runId: string;
  counts: RunCounts;
  /** Seconds spent in each stage (RunTimingsSchema). */
  timings: RunTimings;
  shardCounts: Partial<Record<Split, number>>;
}

/**
 * manifest.json: what produced this output folder, so a reader can trust or reproduce it: the
 * input CSV's and every output's sha256, each shard's lineage digest and attempts, and
 * lineage.csv, one line per image with the sha256 of the bytes its vectors were made from.
 */
export async function writeManifest(config: RunConfig, stats: RunStats): Promise<string> {
  const layout = runLayout(config);
  // Hashed once, by preflight: a large model is not read again at the end of the run.
  const { modelSha256 } = await readRunOptions(layout);
  const split = await requireRecord(layout.splitRecord, SplitRecordSchema, 'prepareSplit');
  const shards: ManifestShard[] = [];
  const outputs: Record<string, { sha256: string; rows?: number }> = {};
  const reusedFrom = { train: new Map<string, number>(), val: new Map<string, number>() };
  // Images read from object storage: the ETag of each version hashed, so that a re-run asks the store (HEAD), not downloads.
  const withTags = isUri(config.data);
  let lineage = formatCsvRow([
    'split',
    'shard',
    'ordinal',
    config.idColumn,
    'target',
    'sha256',
    ...(withTags ? ['etag'] : []),
  ]);
  for (const [name, count] of Object.entries(stats.shardCounts) as [Split, number][]) {
    const files = layout.split(name);
    for (const report of await readShardReports(files, name, count)) {
      const { attempts } = await readShardAttempts(files, name, report.shard);
      shards.push({
        split: name,
        shard: report.shard,
        images: report.images,
        parquet: report.parquet,
        parquetSha256: report.parquetSha256,
        lineageSha256: lineageDigest(report.lineage),
        key: report.lineage.key,
        reusedFrom: report.reusedFrom,
        attempts,
      });
      for (const { source, images } of report.reusedFrom)
        reusedFrom[name].set(source, (reusedFrom[name].get(source) ?? 0) + images);
      for (const [ordinal, imageId, target, sha256] of report.lineage.images) {
        const row = [name, String(report.shard), String(ordinal), imageId, String(target), sha256 ?? ''];
        lineage += formatCsvRow(withTags ? [...row, report.imageTags?.[imageId] ?? ''] : row);
      }
    }
    const compacted = await requireRecord(files.compaction, CompactionRecordSchema, `compaction of the ${name} split`);
    outputs[compacted.file] = { sha256: compacted.sha256, rows: compacted.rows };
  }
  await writeFileAtomic(layout.lineageCsv, lineage);
  for (const file of [
    layout.trainingCsv,
    layout.validationCsv,
    layout.errorsCsv,
    layout.classesCsv,
    layout.lineageCsv,
  ]) {
    outputs[file.slice(layout.out.length + 1)] = { sha256: await sha256File(file) };
  }
  await writeRecord(layout.manifest, ManifestSchema, {
    tessera: TESSERA_VERSION,
    createdAt: new Date().toISOString(),
    config,
    model: { path: layout.model, sha256: modelSha256 },
    input: { csv: layout.inputCsv, sha256: split.inputSha256, images: layout.images },
    workflow: { id: stats.workflowId, runId: stats.runId },
    counts: stats.counts,
    timings: stats.timings,
    /** Each shard: its file's and its lineage's sha256, and every attempt at it. */
    shards,
    reuse: Object.fromEntries(
      Object.entries(reusedFrom)
        .filter(([, sources]) => sources.size > 0)
        .map(([name, sources]) => [name, [...sources].map(([source, images]) => ({ source, images }))]),
    ),
    /** sha256 of every output file (and the rows of the vectors files). */
    outputs,
    files: publishedNames(config.splits, { shards: config.keepShards }),
    shardsKept: config.keepShards,
  });
  // The outputs this run replaced are not needed any more, nor (unless kept) the shard files that
  // vectors.parquet, verified by compaction, now holds: one copy of the vectors per folder.
  await fs.rm(layout.previousOutput, { recursive: true, force: true });
  if (!config.keepShards)
    for (const name of Object.keys(stats.shardCounts) as Split[]) await removeShardFiles(layout.split(name).shards);
  return layout.manifest;
}
