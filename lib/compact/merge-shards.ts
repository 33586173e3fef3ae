import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBBlobValue, DuckDBConnection } from '@duckdb/node-api';
import type { FileMetaData } from 'hyparquet';
import { failpoint } from '../core/failpoints.ts';
import { concatenateParquet, readParquetFooter } from '../parquet/concatenate.ts';
import { allocateTileRows, FINAL_CODEC, loadZstd, TileParquetWriter } from '../parquet/tile-writer.ts';

/**
 * The shards of a split merged into one vectors file ordered by `i`. Shards hold contiguous ranges
 * of ordinals, each written in ordinal order and in the final encoding, so their row groups are
 * copied byte for byte one after another (parquet/concatenate.ts): no decoding, no sort, memory
 * flat in the dataset's size. A shard written otherwise (by an earlier version, in another
 * encoding) is first re-encoded on its own through DuckDB.
 */
export async function mergeShards(connection: DuckDBConnection, shardFiles: readonly string[], target: string, scratch: string, channels: number, checkCancelled: () => void): Promise<string> {
  const sources: { file: string; footer: FileMetaData }[] = [];
  const reencoded: string[] = [];
  try {
    let previousMax = -1;
    for (const [k, file] of shardFiles.entries()) {
      let source = { file, footer: await readParquetFooter(file) };
      if (!inFinalEncoding(source.footer)) {
        const copy = path.join(scratch, `reencoded-${k}.parquet`);
        reencoded.push(copy);
        await reencode(connection, file, copy, channels, checkCancelled);
        source = { file: copy, footer: await readParquetFooter(copy) };
      }
      previousMax = assertIncreasing(source, previousMax);
      sources.push(source);
    }
    const { sha256 } = await concatenateParquet(sources, target, {
      createdBy: 'tessera',
      afterRowGroup: async () => {
        checkCancelled();
        await failpoint('compact-mid');
      },
    });
    return sha256;
  } finally {
    for (const copy of reencoded) await fs.rm(copy, { force: true });
  }
}

/** Every column chunk in the vectors file's codec, with `i` statistics to check the order by. */
function inFinalEncoding(footer: FileMetaData): boolean {
  return footer.row_groups.every((group) =>
    group.columns.every((column) => column.meta_data?.codec === FINAL_CODEC) &&
    group.columns.some((column) => column.meta_data?.path_in_schema[0] === 'i' && column.meta_data.statistics?.min_value !== undefined),
  );
}

/** `i` rises from row group to row group (within a group, extraction wrote it in order); returns the last maximum. */
function assertIncreasing({ file, footer }: { file: string; footer: FileMetaData }, previousMax: number): number {
  let max = previousMax;
  for (const group of footer.row_groups) {
    const stats = group.columns.find((column) => column.meta_data?.path_in_schema[0] === 'i')?.meta_data?.statistics;
    const [low, high] = [Number(stats?.min_value), Number(stats?.max_value)];
    if (!(low > max) || !(high >= low)) throw new Error(`${file}: i from ${low} follows ${max}; shards must hold increasing i`);
    max = high;
  }
  return max;
}

export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** One shard's rows, read by DuckDB in file order, written again in the final encoding. */
async function reencode(connection: DuckDBConnection, shardFile: string, target: string, channels: number, checkCancelled: () => void): Promise<void> {
  await loadZstd();
  const writer = new TileParquetWriter(target, channels, 16_384, FINAL_CODEC);
  let previous = -1;
  try {
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
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.close();
}
