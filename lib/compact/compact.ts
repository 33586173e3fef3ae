import fs from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { RunConfig, Split } from '../core/run-config.ts';
import { DamagedShardsError, InputError } from '../core/errors.ts';
import { extractionKey } from '../extract/lineage.ts';
import { publishFile, uniqueTempPath } from '../run-folder/atomic-files.ts';
import { runLayout, type RunLayout } from '../run-folder/layout.ts';
import { removeLeftoverTempFiles as removeLeftoverOutputTempFiles } from '../run-folder/output-folder.ts';
import { CompactionRecordSchema, type ShardReportRecord } from '../run-folder/records.ts';
import { writeRecord } from '../run-folder/records-io.ts';
import { readRunOptions } from '../run-folder/run-options-record.ts';
import { readShardPlan, readShardReports } from '../run-folder/shard-records.ts';
import { mergeShards } from './merge-shards.ts';
import { sqlString } from '../core/sql-string.ts';

export interface CompactSummary {
  split: Split;
  rows: number;
  images: number;
  extracted: number;
  /** Of the extracted images, those whose vectors were copied from earlier outputs (absent in histories of earlier versions). */
  reused?: number;
  errors: number;
  tilesPerImage: number;
  channels: number;
  bytes: number;
  seconds: number;
}

/** The parts of an extraction key that the run's options decide (worker builds may differ). */
const RUN_KEY_FIELDS = ['modelSha256', 'output', 'imgSize', 'normalize', 'preprocessing', 'occlusion', 'executionProvider'] as const;

/**
 * Before any row is read: every report is this plan's (same images, rows, targets, run options:
 * a report written for another plan, say by a second workflow on the folder, does not pass).
 * That every shard file is the one its report recorded (sha256) is checked by the merge, in the
 * same pass that copies it.
 */
async function assertShardsIntact(config: RunConfig, layout: RunLayout, split: Split, reports: ShardReportRecord[]): Promise<void> {
  const files = layout.split(split);
  const key = extractionKey(config, split, (await readRunOptions(layout)).modelSha256);
  const damaged: number[] = [];
  const problems: string[] = [];
  for (const report of reports) {
    const plan = await readShardPlan(files, report.shard);
    const lineage = report.lineage;
    const samePlan =
      RUN_KEY_FIELDS.every((field) => JSON.stringify(lineage.key[field]) === JSON.stringify(key[field])) &&
      lineage.images.length === plan.images.length &&
      plan.images.every((image, k) => {
        const [ordinal, imageId, target] = lineage.images[k]!;
        return ordinal === image.ordinal && imageId === image.imageId && target === image.target;
      });
    if (!samePlan) {
      damaged.push(report.shard);
      problems.push(`${split} shard ${report.shard}'s report was written for other images or options than this run's plan`);
    }
  }
  if (damaged.length > 0) throw new DamagedShardsError(split, damaged, problems);
}

/**
 * Temporary files of attempts that crashed before their rename (`<prefix>*.tmp` in `dir`): shard
 * attempts once every shard is final, compaction attempts once vectors.parquet is.
 */
async function removeLeftoverTempFiles(dir: string, prefix = ''): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith(prefix) && name.endsWith('.tmp')) await fs.rm(path.join(dir, name), { force: true });
  }
}

/**
 * Merges the shard files into vectors.parquet ordered by `i` (merge-shards.ts), then verifies the
 * written file with DuckDB before publishing it: row count = extracted images × tiles, `i`
 * unique, `vector` of channels × 4 bytes.
 */
export async function compact(config: RunConfig, split: Split, shardCount: number, checkCancelled: () => void = () => {}): Promise<CompactSummary> {
  const started = performance.now();
  const layout = runLayout(config);
  const files = layout.split(split);
  const reports = await readShardReports(files, split, shardCount);
  await assertShardsIntact(config, layout, split, reports);
  const withRows = reports.filter((r) => r.parquet !== null && r.grid !== null);
  const images = reports.reduce((sum, r) => sum + r.images, 0);
  const extracted = reports.reduce((sum, r) => sum + r.extracted, 0);
  const errors = reports.reduce((sum, r) => sum + r.errors.length, 0);
  const reused = reports.reduce((sum, r) => sum + r.reusedFrom.reduce((n, source) => n + source.images, 0), 0);
  if (withRows.length === 0) {
    throw new InputError(`no image of ${files.csv} produced vectors (${errors} errors, listed in errors.csv)`);
  }
  const [h, w] = withRows[0]!.grid!;
  const tilesPerImage = h * w;
  const channels = withRows[0]!.channels!;
  const expectedRows = extracted * tilesPerImage;

  const temp = uniqueTempPath(files.vectors);
  let sha256 = '';
  await fs.mkdir(layout.duckdbTemp, { recursive: true });
  // One thread keeps each file's rows in file order (and was as fast as two on two cores).
  const instance = await DuckDBInstance.create(':memory:', {
    threads: '1',
    memory_limit: '512MB',
    temp_directory: layout.duckdbTemp,
  });
  const connection = await instance.connect();
  try {
    const shards = withRows.map((r) => ({ shard: r.shard, file: path.join(files.shards, r.parquet!), sha256: r.parquetSha256 }));
    sha256 = await mergeShards(connection, split, shards, temp, layout.duckdbTemp, channels, tilesPerImage, checkCancelled);
    await verifyVectors(connection, temp, { expectedRows, extracted, tilesPerImage, channels });
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  // The manifest describes the vectors file it was written with: it goes before the file changes.
  await fs.rm(layout.manifest, { force: true });
  await fs.rm(layout.lineageCsv, { force: true });
  await fs.rm(files.compaction, { force: true });
  await publishFile(temp, files.vectors);
  await writeRecord(files.compaction, CompactionRecordSchema, { file: path.basename(files.vectors), sha256, rows: expectedRows, shards: reports.map((r) => r.parquetSha256) });
  await removeLeftoverTempFiles(files.shards);
  await removeLeftoverOutputTempFiles(layout); // a split killed mid-write, even in a run resumed by attaching
  await removeLeftoverTempFiles(path.dirname(files.vectors), `${path.basename(files.vectors)}.`);
  const { size } = await fs.stat(files.vectors);
  return { split, rows: expectedRows, images, extracted, reused, errors, tilesPerImage, channels, bytes: size, seconds: (performance.now() - started) / 1000 };
}

async function verifyVectors(
  connection: DuckDBConnection,
  file: string,
  expected: { expectedRows: number; extracted: number; tilesPerImage: number; channels: number },
): Promise<void> {
  const { expectedRows, extracted, tilesPerImage, channels } = expected;
  // count(DISTINCT i) reads the i column only; a fixed_size_binary column holds values of its
  // declared width and nothing else, so the vector column's width is checked in the schema.
  const check = await connection.runAndReadAll(
    `SELECT count(*)::BIGINT, count(DISTINCT i)::BIGINT,
            (SELECT any_value(type_length)::BIGINT FROM parquet_schema(${sqlString(file)}) WHERE name = 'vector' AND type = 'FIXED_LEN_BYTE_ARRAY')
     FROM read_parquet(${sqlString(file)})`,
  );
  const [n, distinct, width] = check.getRows()[0]!.map((v) => Number(v)) as [number, number, number];
  if (n !== expectedRows) throw new Error(`vectors.parquet check failed: ${n} rows, expected ${expectedRows} (${extracted} images × ${tilesPerImage} tiles)`);
  if (distinct !== n) throw new Error(`vectors.parquet check failed: ${n - distinct} duplicate values of i`);
  if (width !== channels * 4) throw new Error(`vectors.parquet check failed: vector is not fixed_size_binary(${channels * 4}) (width ${width})`);
}
