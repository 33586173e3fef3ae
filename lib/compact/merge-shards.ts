import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBBlobValue, DuckDBConnection } from '@duckdb/node-api';
import type { FileMetaData } from 'hyparquet';
import type { Split } from '../core/run-config.ts';
import { DamagedShardsError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import { sha256File } from '../core/hashing.ts';
import { concatenateParquet, readParquetFooter, type ConcatenateSource } from '../parquet/concatenate.ts';
import { sqlString } from '../core/sql-string.ts';
import { allocateTileRows, FINAL_CODEC, loadZstd, TileParquetWriter } from '../parquet/tile-writer.ts';

export interface ShardFile {
  shard: number;
  file: string;
  /** The sha256 its report recorded: the file must still be that one. */
  sha256: string | null;
  /** Its report's shape, for a shard of an earlier version's encoding that is written again. */
  channels: number;
  tilesPerImage: number;
}

/**
 * The shards of a split merged into one vectors file ordered by `i`. Shards hold contiguous ranges
 * of ordinals, each written in ordinal order and in the final encoding, so their row groups are
 * copied byte for byte one after another (parquet/concatenate.ts): no decoding, no sort, memory
 * flat in the dataset's size. The same pass hashes every shard whole: a shard that is not the file
 * its report recorded (damaged, truncated, replaced) fails the merge as a damaged shard, which the
 * workflow extracts again. A shard written in another encoding (by an earlier version) is checked,
 * then re-encoded on its own through DuckDB first. `shards` may arrive over time (an async
 * iterable): each is copied as it comes.
 */
export async function mergeShards(
  connection: DuckDBConnection,
  split: Split,
  shards: Iterable<ShardFile> | AsyncIterable<ShardFile>,
  target: string,
  scratch: string,
  checkCancelled: () => void,
  /** Whether every shard is extracted (the copy of a compaction that follows extraction is then past it); the failpoint 'compact-mid' waits for that. */
  extractionDone: () => boolean = () => true,
  /** Flush to disk in the background every this many bytes (a copy beside extraction, while the disk idles). */
  flushEveryBytes?: number,
): Promise<string> {
  const sources: ConcatenateSource[] = [];
  const copied: ShardFile[] = []; // the shards hashed by the copying pass, in order
  const reencoded: string[] = [];
  const damaged = new Map<number, string>();
  /**
   * The shards checked one by one and handed to the copy as they come. After a damaged one the
   * rest are still checked, so that one repair round redoes every damaged shard, but none is
   * copied, and the copy fails with all of them named.
   */
  async function* checked(): AsyncGenerator<ConcatenateSource> {
    let previousMax = -1;
    for await (const shard of shards) {
      const footer = await readParquetFooter(shard.file).catch((error: NodeJS.ErrnoException) => {
        damaged.set(
          shard.shard,
          error.code === 'ENOENT'
            ? `${shard.file} is missing`
            : `${shard.file} is not a readable Parquet file (${error.message})`,
        );
        return undefined;
      });
      if (!footer || damaged.size > 0) continue;
      let source = { file: shard.file, footer };
      if (inFinalEncoding(footer)) copied.push(shard);
      else {
        if ((await sha256File(shard.file)) !== shard.sha256) {
          damaged.set(shard.shard, mismatch(shard.file));
          continue;
        }
        const copy = path.join(scratch, `reencoded-${split}-${shard.shard}.parquet`);
        reencoded.push(copy);
        await reencode(connection, shard.file, copy, shard.channels, shard.tilesPerImage, checkCancelled);
        source = { file: copy, footer: await readParquetFooter(copy) };
      }
      previousMax = assertIncreasing(source, previousMax);
      sources.push(source);
      yield source;
    }
    if (damaged.size > 0) throw new DamagedShardsError(split, [...damaged.keys()], [...damaged.values()]);
  }
  try {
    const { sha256, sourceSha256 } = await concatenateParquet(checked(), target, {
      createdBy: 'tessera',
      flushEveryBytes,
      afterRowGroup: async () => {
        checkCancelled();
        if (extractionDone()) await failpoint('compact-mid');
      },
    });
    const hashed = new Map(sources.map((source, k) => [source.file, sourceSha256[k]!]));
    for (const shard of copied)
      if (hashed.get(shard.file) !== shard.sha256) damaged.set(shard.shard, mismatch(shard.file));
    if (damaged.size > 0) throw new DamagedShardsError(split, [...damaged.keys()], [...damaged.values()]);
    return sha256;
  } finally {
    for (const copy of reencoded) await fs.rm(copy, { force: true });
  }
}

const mismatch = (file: string) => `${file} does not match its report (damaged, truncated or replaced)`;

/** Every column chunk in the vectors file's codec, with `i` statistics to check the order by. */
function inFinalEncoding(footer: FileMetaData): boolean {
  return footer.row_groups.every(
    (group) =>
      group.columns.every((column) => column.meta_data?.codec === FINAL_CODEC) &&
      group.columns.some(
        (column) => column.meta_data?.path_in_schema[0] === 'i' && column.meta_data.statistics?.min_value !== undefined,
      ),
  );
}

/** `i` rises from row group to row group (within a group, extraction wrote it in order); returns the last maximum. */
function assertIncreasing({ file, footer }: { file: string; footer: FileMetaData }, previousMax: number): number {
  let max = previousMax;
  for (const group of footer.row_groups) {
    const stats = group.columns.find((column) => column.meta_data?.path_in_schema[0] === 'i')?.meta_data?.statistics;
    const [low, high] = [Number(stats?.min_value), Number(stats?.max_value)];
    if (!(low > max) || !(high >= low))
      throw new Error(`${file}: i from ${low} follows ${max}; shards must hold increasing i`);
    max = high;
  }
  return max;
}

/** One shard's rows, read by DuckDB in file order, written again in the final encoding. */
async function reencode(
  connection: DuckDBConnection,
  shardFile: string,
  target: string,
  channels: number,
  tilesPerImage: number,
  checkCancelled: () => void,
): Promise<void> {
  await loadZstd();
  const writer = new TileParquetWriter(target, channels, tilesPerImage, FINAL_CODEC);
  let previous = -1;
  try {
    const result = await connection.stream(
      `SELECT i, vector, target, file, x, y FROM read_parquet(${sqlString(shardFile)})`,
    );
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
