import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { rgbToChwFloats } from '../../lib/image/model-input.ts';
import { pixelModel, PIXELS_INPUT, PIXELS_OUTPUT } from '../../lib/inference/pixel-model.ts';

for (const normalize of ['none', 'imagenet'] as const) {
  test(`the pixel model (${normalize}) gives the model input of rgbToChwFloats bit for bit, for every byte value in every channel`, async () => {
    const size = 16;
    const images = 3;
    const pixels = new Uint8Array(images * size * size * 3);
    // Every value 0…255 lands in every channel (the image is 16×16 = 256 pixels per channel).
    for (let k = 0; k < pixels.length; k++)
      pixels[k] = (Math.floor(k / 3) + 85 * (k % 3) + 7 * Math.floor(k / (size * size * 3))) % 256;
    // The session options production uses: no graph optimisation may turn the division into a multiplication.
    const session = await ort.InferenceSession.create(pixelModel(size, normalize), {
      graphOptimizationLevel: 'all',
      enableMemPattern: false,
    });
    const output = (await session.run({ [PIXELS_INPUT]: new ort.Tensor('uint8', pixels, [images, size, size, 3]) }))[
      PIXELS_OUTPUT
    ]!;
    assert.deepEqual(output.dims, [images, 3, size, size]);
    const expected = new Float32Array(pixels.length);
    rgbToChwFloats(pixels, images, size, normalize, expected);
    const actual = output.data as Float32Array;
    const first = actual.findIndex((value, k) => !Object.is(value, expected[k]));
    assert.equal(first, -1, `value ${first}: ${actual[first]} vs ${expected[first]}`);
    await session.release();
  });
}

test("ImageNet normalisation is torchvision's float32 arithmetic: (x / 255 − mean) / std, each step rounded to float32", () => {
  const pixel = Uint8Array.of(200, 100, 30);
  const out = new Float32Array(3);
  rgbToChwFloats(pixel, 1, 1, 'imagenet', out);
  const f = Math.fround;
  const expected = [
    [200, 0.485, 0.229],
    [100, 0.456, 0.224],
    [30, 0.406, 0.225],
  ].map(([x, mean, std]) => f(f(f(x! / 255) - f(mean!)) / f(std!)));
  assert.deepEqual([...out], expected);
  // Not the double-precision formula rounded once: at least one channel differs from it.
  const doubles = [
    [200, 0.485, 0.229],
    [100, 0.456, 0.224],
    [30, 0.406, 0.225],
  ].map(([x, mean, std]) => f((f(x! / 255) - mean!) / std!));
  assert.ok(Math.abs(out[0]! - (200 / 255 - 0.485) / 0.229) < 1e-6, 'the value itself');
  assert.notDeepEqual(doubles, expected, 'a check that can tell the two arithmetics apart');
});
