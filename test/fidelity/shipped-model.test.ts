// The default model is committed so that running tessera needs no torch (models/README.md). This
// checks that the committed file is what infra/export_model.py makes from the pinned weights: the
// export is run again and both files must compute the same features.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import * as ort from 'onnxruntime-node';
import { DEFAULT_MODEL, PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { sha256File } from '../../lib/core/hashing.ts';
import { PYTHON, requireSetup, tempDir } from '../support/environment.ts';

/** A fixed pseudo-random input in roughly the ImageNet-normalised range. */
function fixedInput(batch: number, size: number): ort.Tensor {
  const data = new Float32Array(batch * 3 * size * size);
  let state = 12345;
  for (let k = 0; k < data.length; k++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    data[k] = (state / 2 ** 32) * 4 - 2;
  }
  return new ort.Tensor('float32', data, [batch, 3, size, size]);
}

async function features(model: string, input: ort.Tensor): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  try {
    const outputs = await session.run({ [session.inputNames[0]!]: input });
    return Object.fromEntries(Object.entries(outputs).map(([name, tensor]) => [name, tensor.data as Float32Array]));
  } finally {
    await session.release();
  }
}

test('the committed default model computes what a fresh export from the pinned weights computes', async () => {
  requireSetup('model', 'python');
  const dir = tempDir('shipped-model');
  const fresh = path.join(dir, 'efficientnet-lite0.onnx');
  execFileSync(
    PYTHON,
    [
      '-W',
      'ignore',
      path.join(PROJECT_ROOT, 'infra', 'export_model.py'),
      '--backbone',
      'efficientnet-lite0',
      '--out',
      fresh,
    ],
    { stdio: 'pipe' },
  );

  assert.deepEqual(
    JSON.parse(fs.readFileSync(`${fresh}.json`, 'utf8')),
    JSON.parse(fs.readFileSync(`${DEFAULT_MODEL}.json`, 'utf8')),
    'the model description',
  );
  const input = fixedInput(2, 128);
  const [committed, exported] = [await features(DEFAULT_MODEL, input), await features(fresh, input)];
  assert.deepEqual(Object.keys(committed).sort(), ['level_0', 'level_1', 'level_2', 'level_3', 'level_4']);
  for (const [name, values] of Object.entries(committed)) {
    const other = exported[name]!;
    assert.equal(other.length, values.length, name);
    let scale = 0;
    let worst = 0;
    for (let k = 0; k < values.length; k++) {
      scale = Math.max(scale, Math.abs(values[k]!));
      worst = Math.max(worst, Math.abs(values[k]! - other[k]!));
    }
    assert.ok(scale > 0, `${name} is not all zeros`);
    assert.ok(worst <= 1e-5 * scale, `${name}: max difference ${worst} against a scale of ${scale}`);
  }
  // Same torch and onnx versions on x86-64 give the same bytes; other architectures pin other torch.
  if (process.arch === 'x64')
    assert.equal(await sha256File(fresh), await sha256File(DEFAULT_MODEL), 'the export is byte-identical on x86-64');
  fs.rmSync(dir, { recursive: true, force: true });
});
