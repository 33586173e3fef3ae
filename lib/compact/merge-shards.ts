import type { FileMetaData } from 'hyparquet';
import type { Split } from '../core/run-config.ts';
import { DamagedShardsError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import { concatenateParquet, readParquetFooter, type ConcatenateSource } from '../parquet/concatenate.ts';
import { FINAL_CODEC } from '../parquet/tile-writer.ts';

export interface ShardFile {
  shard: number;
  file: string;
  /** The sha256 its report recorded: the file must still be that one. */
  sha256: string | null;
}

/**
 * The shards of a split merged into one vectors file ordered by `i`. Shards hold contiguous ranges
 * of ordinals, each written in ordinal order and in the final encoding, so their row groups are
 * copied byte for byte one after another (parquet/concatenate.ts): no decoding, no sort, memory
 * flat in the dataset's size. The same pass hashes every shard whole: a shard that is not the file
 * its report recorded (damaged, truncated, replaced) fails the merge as a damaged shard, which the
 * workflow extracts again, as it does a shard in another encoding than this version writes.
 * `shards` may arrive over time (an async iterable): each is copied as it comes.
 */
export async function mergeShards(
  split: Split,
  shards: Iterable<ShardFile> | AsyncIterable<ShardFile>,
  target: string,
  checkCancelled: () => void,
  /** Whether every shard is extracted (the copy of a compaction that follows extraction is then past it); the failpoint 'compact-mid' waits for that. */
  extractionDone: () => boolean = () => true,
  /** Flush to disk in the background every this many bytes (a copy beside extraction, while the disk idles). */
  flushEveryBytes?: number,
): Promise<string> {
  const sources: ConcatenateSource[] = [];
  const copied: ShardFile[] = []; // the shards hashed by the copying pass, in order
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
      if (!inFinalEncoding(footer)) {
        damaged.set(shard.shard, `${shard.file} is not in the encoding this tessera version writes`);
        continue;
      }
      const source = { file: shard.file, footer };
      copied.push(shard);
      previousMax = assertIncreasing(source, previousMax);
      sources.push(source);
      yield source;
    }
    if (damaged.size > 0) throw new DamagedShardsError(split, [...damaged.keys()], [...damaged.values()]);
  }
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
