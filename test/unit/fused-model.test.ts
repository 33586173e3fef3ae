import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import type { Normalize } from '../../lib/image/model-input.ts';
import { InferenceEngines } from '../../lib/inference/engine.ts';
import { FUSED_INPUT, fusePixelGraph, FusionError } from '../../lib/inference/fused-model.ts';
import { pixelModel, PIXELS_INPUT, PIXELS_OUTPUT, UINT8 } from '../../lib/inference/pixel-model.ts';
import { writeTinyModel } from '../support/onnx-models.ts';
import { requireSetup, tempDir } from '../support/environment.ts';

// The session options extraction uses (session-thread.ts): graph optimisation on.
const OPTIONS: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', enableMemPattern: false };
const engines = new InferenceEngines();
after(() => engines.closeAll());

function pixels(images: number, size: number, seed: number): Uint8Array {
  const out = new Uint8Array(images * size * size * 3);
  for (let k = 0; k < out.length; k++) out[k] = (k * 31 + seed * 17 + (k >> 7)) % 256;
  return out;
}

/** The two-session path: the pixel model's floats, handed to the model loaded from its file. */
async function separately(
  modelFile: string,
  normalize: Normalize,
  size: number,
  input: Uint8Array,
  images: number,
  output: string | number,
) {
  const pixelSession = await ort.InferenceSession.create(pixelModel(size, normalize), OPTIONS);
  const model = await ort.InferenceSession.create(modelFile, OPTIONS);
  const floats = (await pixelSession.run({ [PIXELS_INPUT]: new ort.Tensor('uint8', input, [images, size, size, 3]) }))[
    PIXELS_OUTPUT
  ]!;
  const name = typeof output === 'number' ? model.outputNames[output]! : output;
  const result = (await model.run({ [model.inputNames[0]!]: floats }, [name]))[name]!;
  await Promise.all([pixelSession.release(), model.release()]);
  return result;
}

async function fused(
  modelFile: string,
  normalize: Normalize,
  size: number,
  input: Uint8Array,
  images: number,
  output: string | number,
) {
  const model = fusePixelGraph(fs.readFileSync(modelFile), normalize, size);
  const session = await ort.InferenceSession.create(model.bytes, OPTIONS);
  const name = typeof output === 'number' ? session.outputNames[output]! : output;
  const result = (
    await session.run({ [FUSED_INPUT]: new ort.Tensor('uint8', input, [images, size, size, 3]) }, [name])
  )[name]!;
  await session.release();
  return result;
}

const sameBytes = (a: ort.Tensor, b: ort.Tensor) => {
  const [x, y] = [a.data as Float32Array, b.data as Float32Array];
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
};

for (const normalize of ['none', 'imagenet'] as const) {
  test(`the default model with the pixel graph in front (${normalize}) gives the two-session features bit for bit, at every level`, async () => {
    requireSetup('model');
    const size = 96;
    const input = pixels(3, size, 1);
    for (const level of [0, 2, 4]) {
      const [a, b] = [
        await separately(DEFAULT_MODEL, normalize, size, input, 3, level),
        await fused(DEFAULT_MODEL, normalize, size, input, 3, level),
      ];
      assert.deepEqual(b.dims, a.dims);
      assert.ok(sameBytes(a, b), `level ${level}`);
    }
  });
}

test("the pixel input keeps the model's own batch and spatial dimensions, named or fixed", async () => {
  const dir = tempDir('fused-dims');
  for (const [dims, expected] of [
    [
      ['batch', 3, 'height', 'width'],
      ['batch', 'height', 'width', 3],
    ],
    [
      ['n', 3, 32, 32],
      ['n', 32, 32, 3],
    ],
    [
      [1, 3, 32, 32],
      [1, 32, 32, 3],
    ],
  ] as const) {
    const file = writeTinyModel(path.join(dir, `m-${dims.join('-')}.onnx`), { dims: [...dims] });
    const session = await ort.InferenceSession.create(fusePixelGraph(fs.readFileSync(file), 'none', 32).bytes);
    const meta = session.inputMetadata[0]!;
    assert.ok(meta.isTensor);
    assert.deepEqual([meta.name, meta.type, meta.shape], [FUSED_INPUT, 'uint8', [...expected]]);
    await session.release();
  }
});

test('a tiny model: fused and two-session features are the same bytes; weights listed as inputs (IR < 4) are not taken for the image input', async () => {
  const dir = tempDir('fused-tiny');
  // Also: an input named as one of the model's nodes (the pixel graph's nodes are all prefixed), and
  // sizes of -1, which mean unknown as they do to onnxruntime.
  for (const options of [
    {},
    { initializersAsInputs: true },
    { dims: ['batch', 3, 32, 32] },
    { inputName: 'AveragePool_pooled' },
    { dims: ['batch', -1, -1, -1] },
  ]) {
    const file = writeTinyModel(path.join(dir, 'tiny.onnx'), options);
    const input = pixels(2, 32, 5);
    const [a, b] = [
      await separately(file, 'imagenet', 32, input, 2, 0),
      await fused(file, 'imagenet', 32, input, 2, 0),
    ];
    assert.deepEqual(b.dims, [2, 4, 8, 8]);
    assert.ok(sameBytes(a, b), JSON.stringify(options));
  }
});

test('a model whose weights are external data loads fused, its weights found beside the model file', async () => {
  const dir = tempDir('fused-external');
  const file = writeTinyModel(path.join(dir, 'external.onnx'), { externalWeights: 'external.weights' });
  const inline = writeTinyModel(path.join(dir, 'inline.onnx'));
  const input = pixels(2, 32, 9);
  const engine = await engines.get({
    modelPath: file,
    executionProvider: 'cpu',
    output: 0,
    imgSize: 32,
    normalize: 'none',
  });
  const result = await engine.run({ pixels: input.slice(), images: 2 });
  const expected = (await separately(inline, 'none', 32, input, 2, 0)).data as Float32Array;
  assert.deepEqual([...result.data], [...expected]);
  assert.equal(engine.model.inputName, 'images');
});

test('models the pixel graph cannot feed are refused with the reason', () => {
  const dir = tempDir('fused-refused');
  const refused = (options: Parameters<typeof writeTinyModel>[1], size: number, pattern: RegExp) => {
    const file = writeTinyModel(path.join(dir, 'm.onnx'), options);
    assert.throws(
      () => fusePixelGraph(fs.readFileSync(file), 'none', size),
      (error: unknown) => error instanceof FusionError && pattern.test(error.message),
    );
  };
  refused({ secondInput: true }, 32, /has 2 inputs; tessera feeds exactly one image tensor/);
  refused({ elemType: UINT8 }, 32, /input images has element type 2, expected float32/);
  refused({ dims: ['batch', 3, 224, 224] }, 256, /takes 224-pixel sides, but imgSize is 256/);
  refused({ dims: ['batch', 1, 'h', 'w'] }, 32, /has 1 channels, expected 3/);
  refused({ dims: ['batch', 3, 'h'] }, 32, /has 3 dimensions, expected 4/);
  refused({ pooledName: 'tessera.pixels/planes' }, 32, /already uses the name "tessera.pixels\/planes"/);
  assert.throws(() => fusePixelGraph(Uint8Array.of(0x0a, 0xff), 'none', 32), /truncated|malformed/);
});
