/** One training image as extraction sees it. `ordinal` is its 0-based row in training.csv. */
export interface ShardImage {
  ordinal: number;
  imageId: string;
  target: number;
}

export interface ShardRange {
  shard: number;
  /** Ordinals [first, end) of training.csv. */
  first: number;
  end: number;
}

/** Contiguous ordinal ranges, so shard files concatenated in shard order are already ordered by `i`. */
export function planShardRanges(imageCount: number, shardSize: number): ShardRange[] {
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new RangeError(`shardSize must be >= 1, got ${shardSize}`);
  const ranges: ShardRange[] = [];
  for (let first = 0, shard = 0; first < imageCount; first += shardSize, shard++) {
    ranges.push({ shard, first, end: Math.min(first + shardSize, imageCount) });
  }
  return ranges;
}

export function shardName(shard: number): string {
  return `shard-${String(shard).padStart(5, '0')}`;
}
