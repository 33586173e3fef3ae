import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImageInto } from '../../lib/image/decode.ts';
import { occlusionFor } from '../../lib/image/occlusion.ts';
import { tempDir } from '../support/environment.ts';

test('holes are size/4 to size/2 on each side, inside the image, and cover the whole range', () => {
  for (const size of [256, 64, 30]) {
    const heights = new Set<number>();
    for (let k = 0; k < 2000; k++) {
      const hole = occlusionFor(42, `img_${k}.jpg`, size);
      for (const side of [hole.height, hole.width]) {
        assert.ok(side >= Math.floor(size / 4) && side <= Math.floor(size / 2), `size ${size}: side ${side}`);
      }
      assert.ok(hole.top >= 0 && hole.top + hole.height <= size);
      assert.ok(hole.left >= 0 && hole.left + hole.width <= size);
      heights.add(hole.height);
    }
    assert.equal(
      heights.size,
      Math.floor(size / 2) - Math.floor(size / 4) + 1,
      `every height in range occurs (size ${size})`,
    );
  }
});

test('a hole depends only on seed and image id', () => {
  assert.deepEqual(occlusionFor(42, 'a.jpg', 256), occlusionFor(42, 'a.jpg', 256));
  assert.notDeepEqual(occlusionFor(42, 'a.jpg', 256), occlusionFor(42, 'b.jpg', 256));
  assert.notDeepEqual(occlusionFor(42, 'a.jpg', 256), occlusionFor(43, 'a.jpg', 256));
});

test('the decoded image carries a pure red hole exactly where occlusionFor puts it', async () => {
  const file = path.join(tempDir('occlusion'), 'grey.png');
  await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .png()
    .toFile(file);
  const hole = occlusionFor(7, 'grey.png', 64);
  const t = new Float32Array(3 * 64 * 64);
  await decodeImageInto(file, 64, 'none', t, 0, hole);
  let red = 0;
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      const p = y * 64 + x;
      const inside = y >= hole.top && y < hole.top + hole.height && x >= hole.left && x < hole.left + hole.width;
      const rgb = [t[p], t[4096 + p], t[8192 + p]];
      if (inside) {
        assert.deepEqual(rgb, [1, 0, 0]);
        red++;
      } else {
        assert.deepEqual(rgb, [Math.fround(90 / 255), Math.fround(90 / 255), Math.fround(90 / 255)]);
      }
    }
  }
  assert.equal(red, hole.height * hole.width);
});
