/**
 * Where tile (x, y) of image `ordinal` lands. `x` runs over the feature map's height (grid row),
 * `y` over its width (grid column), as in the notebook; `i` is global and deterministic, so a
 * re-extracted shard produces the same rows and a failed image leaves a gap, never a shift.
 */
export function tileIndex(ordinal: number, x: number, y: number, gridHeight: number, gridWidth: number): number {
  return ordinal * gridHeight * gridWidth + x * gridWidth + y;
}

export interface FeatureBatch {
  /** Output tensor data, NCHW float32. */
  data: Float32Array;
  batch: number;
  channels: number;
  height: number;
  width: number;
}

/**
 * Transposes NCHW features into one contiguous little-endian float32 vector per tile, ordered
 * image by image, then row-major over the grid (tile t = x * width + y). Written into `into` when
 * it is large enough (a buffer reused batch after batch), else into a new array.
 */
export function featuresToTileVectors(features: FeatureBatch, images: number, into?: Float32Array): Float32Array {
  const { data, channels, height, width } = features;
  const plane = height * width;
  const length = images * plane * channels;
  const vectors = into && into.length >= length ? into.subarray(0, length) : new Float32Array(length);
  for (let b = 0; b < images; b++) {
    const imageBase = b * channels * plane;
    for (let t = 0; t < plane; t++) {
      const rowBase = (b * plane + t) * channels;
      for (let c = 0; c < channels; c++) vectors[rowBase + c] = data[imageBase + c * plane + t]!;
    }
  }
  return vectors;
}
