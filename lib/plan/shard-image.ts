/** One training image as extraction sees it. `ordinal` is its 0-based row in training.csv. */
export interface ShardImage {
  ordinal: number;
  imageId: string;
  target: number;
}

export function shardName(shard: number): string {
  return `shard-${String(shard).padStart(5, '0')}`;
}
