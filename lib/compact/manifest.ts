import type { RunConfig, Split } from '../core/run-config.ts';
import { formatCsvRow } from '../pandas/csv.ts';
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../run-folder/atomic-files.ts';
import { CompactionRecordSchema, readShardReports } from './compact.ts';
import { lineageDigest, sha256File } from '../extract/lineage.ts';
import { SplitRecordSchema } from '../split/prepare-split.ts';
import { readFingerprint } from '../run-folder/run-options-record.ts';
import { runLayout } from '../run-folder/layout.ts';
import { readShardAttempts, type ShardAttempt } from '../extract/attempt-log.ts';
import type { RunCounts } from './run-summary.ts';
import { TESSERA_VERSION } from '../core/version.ts';

export interface RunStats {
  workflowId: string;
  runId: string;
  counts: RunCounts;
  /** Seconds spent in each stage (shard times summed). */
  timings: Record<string, number>;
  shardCounts: Partial<Record<Split, number>>;
}

interface ManifestShard {
  split: Split;
  shard: number;
  images: number;
  parquet: string | null;
  parquetSha256: string | null;
  /** sha256 of the shard's lineage: extraction key and every image's row, id, target and bytes. */
  lineageSha256: string;
  /** Every attempt at the shard: started when, by which worker, extracted, reused or interrupted. */
  attempts: ShardAttempt[];
}

async function parsedRecord<T>(file: string, schema: { parse(value: unknown): T }): Promise<T> {
  const raw = await readJsonIfExists(file);
  if (raw === undefined) throw new Error(`${file} is missing: the step that writes it did not finish`);
  return schema.parse(raw);
}

/**
 * manifest.json: what produced this output folder, so a reader can trust or reproduce it: the
 * input CSV's and every output's sha256, each shard's lineage digest and attempts, and
 * lineage.csv, one line per image with the sha256 of the bytes its vectors were made from.
 */
export async function writeManifest(config: RunConfig, stats: RunStats): Promise<string> {
  const layout = runLayout(config);
  // Hashed once, by preflight: a large model is not read again at the end of the run.
  const { modelSha256 } = await readFingerprint(config);
  // A run split by an earlier tessera version (open across the upgrade) has no record of its CSV's bytes.
  const split = SplitRecordSchema.safeParse(await readJsonIfExists(layout.splitRecord));
  const shards: ManifestShard[] = [];
  const outputs: Record<string, { sha256: string; rows?: number }> = {};
  let lineage = formatCsvRow(['split', 'shard', 'ordinal', config.idColumn, 'target', 'sha256']);
  for (const [name, count] of Object.entries(stats.shardCounts) as [Split, number][]) {
    for (const report of await readShardReports(config, name, count)) {
      const { attempts } = await readShardAttempts(config, name, report.shard);
      shards.push({ split: name, shard: report.shard, images: report.images, parquet: report.parquet, parquetSha256: report.parquetSha256, lineageSha256: lineageDigest(report.lineage), attempts });
      for (const [ordinal, imageId, target, sha256] of report.lineage.images) {
        lineage += formatCsvRow([name, String(report.shard), String(ordinal), imageId, String(target), sha256 ?? '']);
      }
    }
    const compacted = await parsedRecord(layout.split(name).compaction, CompactionRecordSchema);
    outputs[compacted.file] = { sha256: compacted.sha256, rows: compacted.rows };
  }
  await writeFileAtomic(layout.lineageCsv, lineage);
  for (const file of [layout.trainingCsv, layout.validationCsv, layout.errorsCsv, layout.classesCsv, layout.lineageCsv]) {
    outputs[file.slice(layout.out.length + 1)] = { sha256: await sha256File(file) };
  }
  await writeJsonAtomic(layout.manifest, {
    tessera: TESSERA_VERSION,
    createdAt: new Date().toISOString(),
    config,
    model: { path: layout.model, sha256: modelSha256 },
    input: { csv: layout.inputCsv, sha256: split.success ? split.data.inputSha256 : null, images: layout.images },
    workflow: { id: stats.workflowId, runId: stats.runId },
    counts: stats.counts,
    timings: stats.timings,
    /** Each shard: its file's and its lineage's sha256, and every attempt at it. */
    shards,
    /** sha256 of every output file (and the rows of the vectors files). */
    outputs,
    files: {
      training: 'training.csv',
      validation: 'validation.csv',
      errors: 'errors.csv',
      classes: 'classes.csv',
      lineage: 'lineage.csv',
      ...(config.splits.includes('train') ? { vectors: 'vectors.parquet', shards: 'shards/' } : {}),
      ...(config.splits.includes('val') ? { validationVectors: 'validation-vectors.parquet', validationShards: 'shards-validation/' } : {}),
    },
  });
  return layout.manifest;
}
