import fs from 'node:fs/promises';
import path from 'node:path';
import { failpoint } from '../core/failpoints.ts';
import { allocateTileRows, FINAL_CODEC, TileParquetWriter, type TileRows } from '../parquet/tile-writer.ts';
import { publishFile, uniqueTempPath } from '../run-folder/atomic-files.ts';
import type { ShardImage } from '../run-folder/records.ts';
import { mergeTileRows, reusedTileRows, type ReusedShardImages } from './reused-images.ts';
import { featuresToTileVectors, tileIndex } from './tiles.ts';

/** A batch's model output as the shard file takes it: NCHW features of its decoded images. */
export interface BatchFeatures {
  images: readonly ShardImage[];
  features: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/**
 * One shard's Parquet file while it is written: rows go into a temporary file (opened with the
 * first rows), the rows of reused images between the extracted ones in ordinal order, and the
 * file is published under its final name once complete. A shard with no rows has no file.
 */
export class ShardFileWriter {
  private readonly tempPath: string;
  private writer: TileParquetWriter | undefined;
  /** Reused images, in ordinal order; the first `reusedWritten` of them are in the file. */
  private readonly reusedImages: ShardImage[];
  private reusedWritten = 0;
  /** One buffer for every batch's tile vectors: the writer keeps none of them once append resolves. */
  private tileVectors = new Float32Array(0);
  /** Images whose rows are in the file: extracted or reused. */
  images = 0;
  channels: number | null;
  grid: [number, number] | null = null;

  constructor(
    private readonly finalPath: string,
    planned: readonly ShardImage[],
    private readonly reused: ReusedShardImages | undefined,
    private readonly batchSize: number,
  ) {
    this.tempPath = uniqueTempPath(finalPath);
    this.reusedImages = reused ? planned.filter((image) => reused.tiles.has(image.ordinal)) : [];
    this.channels = reused?.channels ?? null;
  }

  get rows(): number {
    return this.writer?.rowCount ?? 0;
  }

  /** A batch's tile rows, after the reused images whose ordinal is below `below` (its last image's). */
  async appendBatch({ images, features, channels, height, width }: BatchFeatures, below: number): Promise<void> {
    // Reused vectors come from a source with this extraction key, hence this width; checked all the same.
    if (this.reused?.channels != null && this.reused.channels !== channels)
      throw new Error(`reused vectors have ${this.reused.channels} channels, the model gives ${channels}`);
    this.channels = channels;
    this.grid = [height, width];
    const batchFloats = this.batchSize * channels * height * width;
    if (this.tileVectors.length < batchFloats) this.tileVectors = new Float32Array(batchFloats);
    const rows = tileRows(images, features, channels, height, width, this.tileVectors);
    await this.append(rows, channels, height * width, below);
    this.images += images.length;
  }

  /**
   * Writes the reused images left, closes the file and publishes it under its final name: its
   * sha256, or null when the shard has no rows (and so no file).
   */
  async publish(shard: number): Promise<string | null> {
    this.grid ??= this.reused ? reusedGrid(this.reused) : null;
    if (this.reusedWritten < this.reusedImages.length)
      await this.append(allocateTileRows(0), this.channels!, this.grid![0] * this.grid![1], Number.POSITIVE_INFINITY);
    if (!this.writer) return null;
    const sha256 = await this.writer.close();
    await failpoint('extract-before-rename', shard);
    await publishFile(this.tempPath, this.finalPath);
    return sha256;
  }

  /** Cancelled or failed: nothing half-written stays in shards/ (a retry writes its own file). */
  async discard(): Promise<void> {
    await this.writer?.abort();
    await fs.rm(this.tempPath, { force: true });
  }

  /**
   * After `publish`: the file's name for the shard's report, or null when it has no rows; then an
   * earlier version of this shard, no longer true, is removed.
   */
  async publishedName(shard: number): Promise<string | null> {
    if (!this.writer) {
      await fs.rm(this.finalPath, { force: true });
      return null;
    }
    await failpoint('extract-after-rename', shard);
    return path.basename(this.finalPath);
  }

  private async append(rows: TileRows, channels: number, tiles: number, below: number): Promise<void> {
    const start = this.reusedWritten;
    while (this.reusedWritten < this.reusedImages.length && this.reusedImages[this.reusedWritten]!.ordinal < below)
      this.reusedWritten++;
    const merged = mergeTileRows(
      rows,
      reusedTileRows(this.reusedImages.slice(start, this.reusedWritten), this.reused?.tiles ?? new Map()),
    );
    this.images += this.reusedWritten - start;
    if (merged.i.length === 0) return;
    // In the vectors file's encoding: compaction copies the shard's row groups as they are.
    this.writer ??= new TileParquetWriter(this.tempPath, channels, tiles, FINAL_CODEC);
    await this.writer.append(merged);
  }
}

/** The grid of reused tiles (when no image of the shard went through the model). */
function reusedGrid(reused: ReusedShardImages): [number, number] | null {
  const first = reused.tiles.values().next();
  if (first.done) return null;
  const { x, y } = first.value;
  return [Math.max(...x) + 1, Math.max(...y) + 1];
}

/** The rows of a batch's features: one per tile, `i` from the image's ordinal (tiles.ts). */
function tileRows(
  images: readonly ShardImage[],
  features: Float32Array,
  c: number,
  h: number,
  w: number,
  into: Float32Array,
): TileRows {
  const n = images.length;
  const vectors = featuresToTileVectors({ data: features, batch: n, channels: c, height: h, width: w }, n, into);
  const bytes = new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength);
  const columns = allocateTileRows(n * h * w);
  for (let img = 0; img < n; img++) {
    const image = images[img]!;
    for (let x = 0; x < h; x++) {
      for (let y = 0; y < w; y++) {
        const r = (img * h + x) * w + y;
        columns.i[r] = tileIndex(image.ordinal, x, y, h, w);
        columns.vector[r] = bytes.subarray(r * c * 4, (r + 1) * c * 4);
        columns.target[r] = image.target;
        columns.file[r] = image.imageId;
        columns.x[r] = x;
        columns.y[r] = y;
      }
    }
  }
  return columns;
}
