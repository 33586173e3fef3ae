import fs from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBBlobValue, type DuckDBConnection } from '@duckdb/node-api';
import type { RunConfig, Split } from './config.ts';
import { InputError } from './errors.ts';
import { publishFile, readJsonIfExists, uniqueTempPath } from './atomic-files.ts';
import type { ShardReport } from './extract-shard.ts';
import { failpoint } from './failpoints.ts';
import { runLayout } from './run-layout.ts';
import { allocateTileRows, loadZstd, TileParquetWriter } from './tile-parquet-writer.ts';

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
        writer.append(rows);
        if (writer.rowCount > 0) await failpoint('compact-mid');
      }
    }
  } catch (error) {
    writer.abort();
    throw error;
  }
  writer.close();
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
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  await publishFile(temp, files.vectors);
  await removeLeftoverTempFiles(files.shards);
  await removeLeftoverTempFiles(path.dirname(files.vectors), `${path.basename(files.vectors)}.`);
  const { size } = await fs.stat(files.vectors);
  return { split, rows: expectedRows, images, extracted, errors, tilesPerImage, channels, bytes: size, seconds: (performance.now() - started) / 1000 };
}

/** The reports of one split's shards, all of which must have been extracted. */
export async function readShardReports(config: RunConfig, split: Split, shardCount: number): Promise<ShardReport[]> {
  const files = runLayout(config).split(split);
  const reports: ShardReport[] = [];
  for (let shard = 0; shard < shardCount; shard++) {
    const report = (await readJsonIfExists(files.report(shard))) as ShardReport | undefined;
    if (!report) throw new Error(`${split} shard ${shard} has no report: it was not extracted`);
    reports.push(report);
  }
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
