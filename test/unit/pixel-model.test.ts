import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { rgbToChwFloats } from '../../lib/image/model-input.ts';
import { pixelModel, PIXELS_INPUT, PIXELS_OUTPUT } from '../../lib/inference/pixel-model.ts';

test('the pixel model gives the model input of rgbToChwFloats bit for bit, for every byte value in every channel', async () => {
  const size = 16;
  const images = 3;
  const pixels = new Uint8Array(images * size * size * 3);
  // Every value 0…255 lands in every channel (the image is 16×16 = 256 pixels per channel).
  for (let k = 0; k < pixels.length; k++) pixels[k] = (Math.floor(k / 3) + 85 * (k % 3) + 7 * Math.floor(k / (size * size * 3))) % 256;
  // The session options production uses: no graph optimisation may turn the division into a multiplication.
  const session = await ort.InferenceSession.create(pixelModel(size), { graphOptimizationLevel: 'all', enableMemPattern: false });
  const output = (await session.run({ [PIXELS_INPUT]: new ort.Tensor('uint8', pixels, [images, size, size, 3]) }))[PIXELS_OUTPUT]!;
  assert.deepEqual(output.dims, [images, 3, size, size]);
  const expected = new Float32Array(pixels.length);
  rgbToChwFloats(pixels, images, size, 'none', expected);
  const actual = output.data as Float32Array;
  const first = actual.findIndex((value, k) => !Object.is(value, expected[k]));
  assert.equal(first, -1, `value ${first}: ${actual[first]} vs ${expected[first]}`);
  await session.release();
});
