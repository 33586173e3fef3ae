import assert from 'node:assert/strict';
import { test } from 'node:test';
import { featuresToTileVectors, tileIndex } from '../../lib/extract/tiles.ts';

test('i = ordinal × tiles + x × width + y, with x the grid row', () => {
  assert.equal(tileIndex(0, 0, 0, 8, 8), 0);
  assert.equal(tileIndex(0, 0, 1, 8, 8), 1, 'y is the column');
  assert.equal(tileIndex(0, 1, 0, 8, 8), 8, 'x is the row');
  assert.equal(tileIndex(3, 7, 7, 8, 8), 3 * 64 + 63);
  assert.equal(tileIndex(2, 1, 2, 2, 3), 2 * 6 + 1 * 3 + 2, 'non-square grids');
});

test('each tile vector holds its channels in order at that grid cell', () => {
  // 2 images, 3 channels, 2×2 grid; value encodes (b, c, x, y) so any mix-up shows.
  const [batch, channels, height, width] = [2, 3, 2, 2];
  const data = new Float32Array(batch * channels * height * width);
  for (let b = 0; b < batch; b++)
    for (let c = 0; c < channels; c++)
      for (let x = 0; x < height; x++)
        for (let y = 0; y < width; y++)
          data[((b * channels + c) * height + x) * width + y] = b * 1000 + c * 100 + x * 10 + y;
  const vectors = featuresToTileVectors({ data, batch, channels, height, width }, batch);
  const tile = (b: number, x: number, y: number) =>
    Array.from(
      vectors.subarray(((b * height + x) * width + y) * channels, ((b * height + x) * width + y + 1) * channels),
    );
  assert.deepEqual(tile(0, 0, 0), [0, 100, 200]);
  assert.deepEqual(tile(0, 1, 0), [10, 110, 210]);
  assert.deepEqual(tile(1, 0, 1), [1001, 1101, 1201]);
  assert.deepEqual(tile(1, 1, 1), [1011, 1111, 1211]);
});

test('only the first `images` entries of a padded batch are read', () => {
  const data = new Float32Array(4 * 2 * 1 * 1).map((_, k) => k);
  assert.equal(featuresToTileVectors({ data, batch: 4, channels: 2, height: 1, width: 1 }, 3).length, 3 * 2);
});
