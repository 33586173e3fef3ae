import fs from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import type { RunConfig } from './config.ts';
import { formatCsvRow } from './csv.ts';
import { InputError } from './errors.ts';
import { publishFile, readJsonIfExists, writeFileAtomic } from './atomic-files.ts';
import type { ShardReport } from './extract-shard.ts';
import type { RejectedRow } from './prepare-split.ts';
import { runLayout } from './run-layout.ts';

export interface CompactSummary {
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

/** Every input row that produced no vectors, split-stage rejects first, then by training ordinal. */
export async function writeErrorsCsv(file: string, classColumn: string, idColumn: string, rows: RejectedRow[]): Promise<void> {
  const sorted = [...rows].sort((a, b) => (a.stage === b.stage ? a.position - b.position : a.stage === 'split' ? -1 : 1));
  const body = sorted.map((row) => formatCsvRow([row.imageId, row.classValue, row.stage, row.reason])).join('');
  await writeFileAtomic(file, formatCsvRow([idColumn, classColumn, 'stage', 'reason']) + body);
}

/**
 * Merges the shard files into vectors.parquet ordered by `i` (zstd) with DuckDB, then verifies
 * the written file before publishing it: row count = extracted images × tiles, and `i` unique.
 */
export async function compact(config: RunConfig, shardCount: number): Promise<CompactSummary> {
  const started = performance.now();
  const layout = runLayout(config);
  const reports: ShardReport[] = [];
  for (let shard = 0; shard < shardCount; shard++) {
    const report = (await readJsonIfExists(layout.shardReport(shard))) as ShardReport | undefined;
    if (!report) throw new Error(`shard ${shard} has no report: it was not extracted`);
    reports.push(report);
  }
  const split = ((await readJsonIfExists(layout.splitReport)) as { rejected: RejectedRow[] } | undefined)?.rejected ?? [];
  const rejected = [...split, ...reports.flatMap((r) => r.errors)];
  await writeErrorsCsv(layout.errorsCsv, config.classColumn, config.idColumn, rejected);

  const withRows = reports.filter((r) => r.parquet !== null && r.grid !== null);
  const images = reports.reduce((sum, r) => sum + r.images, 0);
  const extracted = reports.reduce((sum, r) => sum + r.extracted, 0);
  if (withRows.length === 0) {
    throw new InputError(`no image produced vectors (${rejected.length} errors, see ${layout.errorsCsv})`);
  }
  const [h, w] = withRows[0]!.grid!;
  const tilesPerImage = h * w;
  const channels = withRows[0]!.channels!;
  const expectedRows = extracted * tilesPerImage;

  const files = withRows.map((r) => sqlString(`${layout.shards}/${r.parquet}`)).join(', ');
  const temp = `${layout.vectors}.tmp`;
  const instance = await DuckDBInstance.create(':memory:', {
    threads: '1',
    memory_limit: '1GB',
    temp_directory: `${layout.work}/duckdb-tmp`,
  });
  const connection = await instance.connect();
  try {
    await connection.run(
      `COPY (SELECT i, vector, target, file, x, y FROM read_parquet([${files}]) ORDER BY i)
       TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536)`,
    );
    const check = await connection.runAndReadAll(
      `SELECT count(*)::BIGINT AS n, count(DISTINCT i)::BIGINT AS distinct_i FROM read_parquet(${sqlString(temp)})`,
    );
    const [n, distinct] = check.getRows()[0]!.map((v) => Number(v)) as [number, number];
    if (n !== expectedRows) throw new Error(`vectors.parquet check failed: ${n} rows, expected ${expectedRows} (${extracted} images × ${tilesPerImage} tiles)`);
    if (distinct !== n) throw new Error(`vectors.parquet check failed: ${n - distinct} duplicate values of i`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  await publishFile(temp, layout.vectors);
  const { size } = await fs.stat(layout.vectors);
  return {
    rows: expectedRows,
    images,
    extracted,
    errors: rejected.length,
    tilesPerImage,
    channels,
    bytes: size,
    seconds: (performance.now() - started) / 1000,
  };
}
