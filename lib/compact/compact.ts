import fs from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { RunConfig, Split } from '../core/run-config.ts';
import { DamagedShardsError, InputError } from '../core/errors.ts';
import { extractionKey } from '../extract/lineage.ts';
import { publishFile, removeTempFilesIn, uniqueTempPath } from '../run-folder/atomic-files.ts';
import { runLayout, type RunLayout } from '../run-folder/layout.ts';
import { removeTopLevelTempFiles } from '../run-folder/output-folder.ts';
import { CompactionRecordSchema, type ShardReportRecord } from '../run-folder/records.ts';
import { writeRecord } from '../run-folder/records-io.ts';
import { readRunOptions } from '../run-folder/run-options-record.ts';
import { readShardPlan, readShardReports } from '../run-folder/shard-records.ts';
import { mergeShards, type ShardFile } from './merge-shards.ts';
import { sqlString } from '../core/sql-string.ts';

export interface CompactSummary {
  split: Split;
  rows: number;
  images: number;
  extracted: number;
  /** Of the extracted images, those whose vectors were copied from earlier outputs. */
  reused: number;
  errors: number;
  tilesPerImage: number;
  channels: number;
  bytes: number;
  seconds: number;
}

/** The parts of an extraction key that the run's options decide (worker builds may differ). */
const RUN_KEY_FIELDS = [
  'modelSha256',
  'output',
  'imgSize',
  'normalize',
  'preprocessing',
  'occlusion',
  'executionProvider',
] as const;

/** Whether a report was written for this run's plan of its shard (same images, rows, targets, run options); the run's key is read once. */
export async function planCheck(
  config: RunConfig,
  layout: RunLayout,
  split: Split,
): Promise<(report: ShardReportRecord) => Promise<boolean>> {
  const key = extractionKey(config, split, (await readRunOptions(layout)).modelSha256);
  return async (report) => {
    const plan = await readShardPlan(layout.split(split), report.shard);
    const lineage = report.lineage;
    return (
      RUN_KEY_FIELDS.every((field) => JSON.stringify(lineage.key[field]) === JSON.stringify(key[field])) &&
      lineage.images.length === plan.images.length &&
      plan.images.every((image, k) => {
        const [ordinal, imageId, target] = lineage.images[k]!;
        return ordinal === image.ordinal && imageId === image.imageId && target === image.target;
      })
    );
  };
}

/**
 * Before any row is read: every report is this plan's (a report written for another plan, say by
 * a second workflow on the folder, does not pass). That every shard file is the one its report
 * recorded (sha256) is checked by the merge, in the same pass that copies it.
 */
async function assertShardsIntact(
  config: RunConfig,
  layout: RunLayout,
  split: Split,
  reports: ShardReportRecord[],
): Promise<void> {
  const fitsPlan = await planCheck(config, layout, split);
  const damaged: number[] = [];
  const problems: string[] = [];
  for (const report of reports) {
    if (!(await fitsPlan(report))) {
      damaged.push(report.shard);
      problems.push(
        `${split} shard ${report.shard}'s report was written for other images or options than this run's plan`,
      );
    }
  }
  if (damaged.length > 0) throw new DamagedShardsError(split, damaged, problems);
}

const noVectors = (csv: string, reports: ShardReportRecord[]) =>
  new InputError(
    `no image of ${csv} produced vectors (${reports.reduce((sum, r) => sum + r.errors.length, 0)} errors, listed in errors.csv)`,
  );

/** The scratch folder of one split's compaction: the two splits' compactions may run at once. */
export const scratchOf = (layout: RunLayout, split: Split) => path.join(layout.duckdbTemp, split);

/**
 * A split's shards merged into `temp` (merge-shards.ts), in shard order, with the reports they
 * were copied by. `reportOf` gives each shard's report when it is there: each shard is copied as
 * it comes (follow-extraction.ts awaits reports while extraction writes them).
 */
export async function writeMerged(
  config: RunConfig,
  split: Split,
  shardCount: number,
  temp: string,
  checkCancelled: () => void,
  reportOf: (shard: number) => Promise<ShardReportRecord>,
  flushEveryBytes?: number,
): Promise<{ sha256: string; reports: ShardReportRecord[] }> {
  const layout = runLayout(config);
  const files = layout.split(split);
  const reports: ShardReportRecord[] = [];
  async function* shardFiles(): AsyncGenerator<ShardFile> {
    for (let shard = 0; shard < shardCount; shard++) {
      const report = await reportOf(shard);
      reports.push(report);
      if (report.parquet === null || report.grid === null) continue;
      yield {
        shard,
        file: path.join(files.shards, report.parquet),
        sha256: report.parquetSha256,
      };
    }
    if (!reports.some((r) => r.parquet !== null && r.grid !== null)) throw noVectors(files.csv, reports);
  }
  try {
    const sha256 = await mergeShards(
      split,
      shardFiles(),
      temp,
      checkCancelled,
      () => reports.length === shardCount,
      flushEveryBytes,
    );
    return { sha256, reports };
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

async function withDuckDB<T>(scratch: string, work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  // One thread keeps each file's rows in file order (and was as fast as two on two cores).
  const instance = await DuckDBInstance.create(':memory:', {
    threads: '1',
    memory_limit: '512MB',
    temp_directory: scratch,
  });
  const connection = await instance.connect();
  try {
    return await work(connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * The merged file checked with DuckDB (row count = extracted images × tiles, `i` unique, `vector`
 * of channels × 4 bytes), then published as the split's vectors file with its compaction record.
 */
export async function publishMerged(
  config: RunConfig,
  split: Split,
  temp: string,
  sha256: string,
  reports: ShardReportRecord[],
  started: number,
): Promise<CompactSummary> {
  const layout = runLayout(config);
  const files = layout.split(split);
  const shape = shapeOf(reports);
  const scratch = scratchOf(layout, split);
  try {
    // DuckDB's spill folder; a compaction that no follower preceded has not made it yet.
    await fs.mkdir(scratch, { recursive: true });
    await withDuckDB(scratch, (connection) => verifyVectors(connection, temp, shape));
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  // The manifest describes the vectors file it was written with: it goes before the file changes.
  await fs.rm(layout.manifest, { force: true });
  await fs.rm(layout.lineageCsv, { force: true });
  await fs.rm(files.compaction, { force: true });
  await publishFile(temp, files.vectors);
  await writeRecord(files.compaction, CompactionRecordSchema, {
    file: path.basename(files.vectors),
    sha256,
    rows: shape.expectedRows,
    shards: reports.map((r) => r.parquetSha256),
  });
  // Temporary files of attempts that crashed before their rename: shard attempts' now that every
  // shard is final, compaction attempts' now that vectors.parquet is.
  await removeTempFilesIn(files.shards);
  // A split killed mid-write, even in a run resumed by attaching. (A compaction following the other
  // split's extraction writes under .tessera, not here: no top-level file is in use now.)
  await removeTopLevelTempFiles(layout);
  await removeTempFilesIn(path.dirname(files.vectors), `${path.basename(files.vectors)}.`);
  await removeTempFilesIn(scratchOf(layout, split)); // a following compaction's, not published
  const { size } = await fs.stat(files.vectors);
  return {
    split,
    rows: shape.expectedRows,
    images: reports.reduce((sum, r) => sum + r.images, 0),
    extracted: shape.extracted,
    reused: reports.reduce((sum, r) => sum + r.reusedFrom.reduce((n, source) => n + source.images, 0), 0),
    errors: reports.reduce((sum, r) => sum + r.errors.length, 0),
    tilesPerImage: shape.tilesPerImage,
    channels: shape.channels,
    bytes: size,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Merges the shard files into vectors.parquet ordered by `i` (merge-shards.ts), then verifies the
 * written file with DuckDB before publishing it.
 */
export async function compact(
  config: RunConfig,
  split: Split,
  shardCount: number,
  checkCancelled: () => void = () => {},
): Promise<CompactSummary> {
  const started = performance.now();
  const layout = runLayout(config);
  const files = layout.split(split);
  const known = await readShardReports(files, split, shardCount);
  await assertShardsIntact(config, layout, split, known);
  if (!known.some((r) => r.parquet !== null && r.grid !== null)) throw noVectors(files.csv, known);
  const temp = uniqueTempPath(files.vectors);
  const { sha256, reports } = await writeMerged(
    config,
    split,
    shardCount,
    temp,
    checkCancelled,
    async (shard) => known[shard]!,
  );
  return publishMerged(config, split, temp, sha256, reports, started);
}

/** The vectors' shape, from the reports of the shards that have rows (all of one model and grid). */
function shapeOf(reports: ShardReportRecord[]) {
  const withRows = reports.filter((r) => r.parquet !== null && r.grid !== null);
  const [h, w] = withRows[0]!.grid!;
  const extracted = reports.reduce((sum, r) => sum + r.extracted, 0);
  return { tilesPerImage: h * w, channels: withRows[0]!.channels!, expectedRows: extracted * h * w, extracted };
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
  if (n !== expectedRows)
    throw new Error(
      `vectors.parquet check failed: ${n} rows, expected ${expectedRows} (${extracted} images × ${tilesPerImage} tiles)`,
    );
  if (distinct !== n) throw new Error(`vectors.parquet check failed: ${n - distinct} duplicate values of i`);
  if (width !== channels * 4)
    throw new Error(`vectors.parquet check failed: vector is not fixed_size_binary(${channels * 4}) (width ${width})`);
}
