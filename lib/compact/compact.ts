import fs from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBBlobValue, type DuckDBConnection } from '@duckdb/node-api';
import type { RunConfig, Split } from '../core/run-config.ts';
import { DamagedShardsError, InputError } from '../core/errors.ts';
import { z } from 'zod';
import { publishFile, uniqueTempPath, writeJsonAtomic } from '../run-folder/atomic-files.ts';
import { readShardPlan, readShardReport, type ShardReport } from '../extract/extract-shard.ts';
import { extractionKey, sha256File } from '../extract/lineage.ts';
import { removeLeftoverTempFiles as removeLeftoverOutputTempFiles } from '../run-folder/output-folder.ts';
import { readFingerprint } from '../run-folder/run-options-record.ts';
import { failpoint } from '../core/failpoints.ts';
import { runLayout } from '../run-folder/layout.ts';
import { allocateTileRows, loadZstd, TileParquetWriter } from '../parquet/tile-writer.ts';

export interface CompactSummary {
  split: Split;
  rows: number;
  images: number;
  extracted: number;
  errors: number;
  tilesPerImage: number;
  channels: number;
  bytes: number;
  seconds: number;
}

/** .tessera/compacted-<split>.json: the published vectors file's sha256 and the shards it holds. */
export const CompactionRecordSchema = z.object({
  file: z.string(),
  sha256: z.string(),
  rows: z.number().int(),
  shards: z.array(z.string().nullable()),
});
export type CompactionRecord = z.infer<typeof CompactionRecordSchema>;

/** The parts of an extraction key that the run's options decide (worker builds may differ). */
const RUN_KEY_FIELDS = ['modelSha256', 'output', 'imgSize', 'normalize', 'occlusion', 'executionProvider'] as const;

/**
 * Before any row is read: every report is this plan's (same images, rows, targets, run options:
 * a report written for another plan, say by a second workflow on the folder, does not pass) and
 * every shard file is the one its report recorded (sha256).
 */
async function assertShardsIntact(config: RunConfig, split: Split, reports: ShardReport[]): Promise<void> {
  const shardsDir = runLayout(config).split(split).shards;
  const key = extractionKey(config, split, (await readFingerprint(config)).modelSha256);
  const damaged: number[] = [];
  const problems: string[] = [];
  for (const report of reports) {
    const plan = await readShardPlan(config, split, report.shard);
    const lineage = report.lineage;
    const samePlan =
      RUN_KEY_FIELDS.every((field) => JSON.stringify(lineage.key[field]) === JSON.stringify(key[field])) &&
      lineage.images.length === plan.images.length &&
      plan.images.every((image, k) => {
        const [ordinal, imageId, target] = lineage.images[k]!;
        return ordinal === image.ordinal && imageId === image.imageId && target === image.target;
      });
    const file = report.parquet === null ? null : path.join(shardsDir, report.parquet);
    const actual = file === null ? null : await sha256File(file).catch(() => null);
    let problem: string | undefined;
    if (!samePlan) problem = `${split} shard ${report.shard}'s report was written for other images or options than this run's plan`;
    else if (file !== null && actual === null) problem = `${file} is missing`;
    else if (file !== null && actual !== report.parquetSha256) problem = `${file} does not match its report (damaged, truncated or replaced)`;
    if (problem) {
      damaged.push(report.shard);
      problems.push(problem);
    }
  }
  if (damaged.length > 0) throw new DamagedShardsError(split, damaged, problems);
}

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Shards hold contiguous ranges of ordinals, each written in ordinal order, so reading them one
 * after another in shard order yields `i` in order: no sort, and memory holds one DuckDB chunk
 * at a time whatever the dataset's size. The rows stream into hyparquet-writer, because DuckDB
 * writes BLOBs as variable-length BYTE_ARRAY and the contract is fixed_size_binary(channels × 4).
 */
async function writeOrderedVectors(connection: DuckDBConnection, shardFiles: string[], target: string, channels: number, checkCancelled: () => void): Promise<void> {
  await loadZstd();
  const writer = new TileParquetWriter(target, channels, 16_384, 'ZSTD');
  let previous = -1;
  try {
    for (const shardFile of shardFiles) {
      const result = await connection.stream(`SELECT i, vector, target, file, x, y FROM read_parquet(${sqlString(shardFile)})`);
      for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
        checkCancelled();
        const n = chunk.rowCount;
        const [iv, vv, tv, fv, xv, yv] = [0, 1, 2, 3, 4, 5].map((k) => chunk.getColumnVector(k));
        const rows = allocateTileRows(n);
        for (let r = 0; r < n; r++) {
          const i = iv!.getItem(r) as number;
          if (i <= previous) throw new Error(`${shardFile}: i ${i} follows ${previous}; shards must hold increasing i`);
          previous = i;
          rows.i[r] = i;
          // Copy: the chunk's memory belongs to DuckDB and is reused after this loop.
          rows.vector[r] = (vv!.getItem(r) as DuckDBBlobValue).bytes.slice();
          rows.target[r] = tv!.getItem(r) as number;
          rows.file[r] = fv!.getItem(r) as string;
          rows.x[r] = xv!.getItem(r) as number;
          rows.y[r] = yv!.getItem(r) as number;
        }
        await writer.append(rows);
        if (writer.rowCount > 0) await failpoint('compact-mid');
      }
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.close();
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
 * Merges the shard files into vectors.parquet ordered by `i` (zstd), then verifies the written
 * file with DuckDB before publishing it: row count = extracted images × tiles, `i` unique,
 * `vector` of channels × 4 bytes.
 */
export async function compact(config: RunConfig, split: Split, shardCount: number, checkCancelled: () => void = () => {}): Promise<CompactSummary> {
  const started = performance.now();
  const layout = runLayout(config);
  const files = layout.split(split);
  const reports = await readShardReports(config, split, shardCount);
  await assertShardsIntact(config, split, reports);
  const withRows = reports.filter((r) => r.parquet !== null && r.grid !== null);
  const images = reports.reduce((sum, r) => sum + r.images, 0);
  const extracted = reports.reduce((sum, r) => sum + r.extracted, 0);
  const errors = reports.reduce((sum, r) => sum + r.errors.length, 0);
  if (withRows.length === 0) {
    throw new InputError(`no image of ${files.csv} produced vectors (${errors} errors, listed in errors.csv)`);
  }
  const [h, w] = withRows[0]!.grid!;
  const tilesPerImage = h * w;
  const channels = withRows[0]!.channels!;
  const expectedRows = extracted * tilesPerImage;

  const temp = uniqueTempPath(files.vectors);
  let sha256 = '';
  await fs.mkdir(`${layout.work}/duckdb-tmp`, { recursive: true });
  // One thread keeps each file's rows in file order (and was as fast as two on two cores).
  const instance = await DuckDBInstance.create(':memory:', {
    threads: '1',
    memory_limit: '512MB',
    temp_directory: `${layout.work}/duckdb-tmp`,
  });
  const connection = await instance.connect();
  try {
    await writeOrderedVectors(connection, withRows.map((r) => `${files.shards}/${r.parquet}`), temp, channels, checkCancelled);
    await verifyVectors(connection, temp, { expectedRows, extracted, tilesPerImage, channels });
    sha256 = await sha256File(temp);
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
  const record: CompactionRecord = { file: path.basename(files.vectors), sha256, rows: expectedRows, shards: reports.map((r) => r.parquetSha256) };
  await writeJsonAtomic(files.compaction, record);
  await removeLeftoverTempFiles(files.shards);
  await removeLeftoverOutputTempFiles(layout); // a split killed mid-write, even in a run resumed by attaching
  await removeLeftoverTempFiles(path.dirname(files.vectors), `${path.basename(files.vectors)}.`);
  const { size } = await fs.stat(files.vectors);
  return { split, rows: expectedRows, images, extracted, errors, tilesPerImage, channels, bytes: size, seconds: (performance.now() - started) / 1000 };
}

/** The reports of one split's shards; a missing or unreadable one means that shard is redone. */
export async function readShardReports(config: RunConfig, split: Split, shardCount: number): Promise<ShardReport[]> {
  const files = runLayout(config).split(split);
  const reports: ShardReport[] = [];
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

async function verifyVectors(
  connection: DuckDBConnection,
  file: string,
  expected: { expectedRows: number; extracted: number; tilesPerImage: number; channels: number },
): Promise<void> {
  const { expectedRows, extracted, tilesPerImage, channels } = expected;
  const check = await connection.runAndReadAll(
    `SELECT count(*)::BIGINT, count(DISTINCT i)::BIGINT, min(octet_length(vector)), max(octet_length(vector))
     FROM read_parquet(${sqlString(file)})`,
  );
  const [n, distinct, minBytes, maxBytes] = check.getRows()[0]!.map((v) => Number(v)) as [number, number, number, number];
  if (n !== expectedRows) throw new Error(`vectors.parquet check failed: ${n} rows, expected ${expectedRows} (${extracted} images × ${tilesPerImage} tiles)`);
  if (distinct !== n) throw new Error(`vectors.parquet check failed: ${n - distinct} duplicate values of i`);
  if (minBytes !== channels * 4 || maxBytes !== channels * 4) throw new Error(`vectors.parquet check failed: vectors of ${minBytes}–${maxBytes} bytes, expected ${channels * 4}`);
}
