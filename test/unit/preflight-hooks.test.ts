import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../lib/core/errors.ts';
import { RunConfigSchema } from '../../lib/core/run-config.ts';
import { preflight } from '../../lib/run/preflight.ts';
import { readRunOptions } from '../../lib/run-folder/run-options-record.ts';
import { runLayout } from '../../lib/run-folder/layout.ts';
import { requireSetup, tempDir } from '../support/environment.ts';
import { writeTinyModel } from '../support/onnx-models.ts';

function dataset(dir: string): string {
  const data = path.join(dir, 'data');
  fs.mkdirSync(path.join(data, 'images'), { recursive: true });
  fs.writeFileSync(path.join(data, 'train.csv'), 'id,label\n');
  return data;
}

test('preflight hands the recorded model sha256 to modelRecorded (where a worker starts loading the session), once', async () => {
  requireSetup('model');
  const dir = tempDir('preflight-hooks');
  const config = RunConfigSchema.parse({ data: dataset(dir), out: path.join(dir, 'out') });
  const seen: string[] = [];
  await preflight(config, undefined, { modelRecorded: (sha) => seen.push(sha) });
  assert.deepEqual(seen, [(await readRunOptions(runLayout(config))).modelSha256]);
});

test('modelRecorded comes before the model check: the session loads beside it (a model that fails the check still ends the run)', async () => {
  const dir = tempDir('preflight-hooks-broken');
  const model = path.join(dir, 'broken.onnx');
  fs.writeFileSync(model, 'not a model');
  const config = RunConfigSchema.parse({ data: dataset(dir), out: path.join(dir, 'out'), model });
  const seen: string[] = [];
  await assert.rejects(
    preflight(config, undefined, { modelRecorded: (sha) => seen.push(sha) }),
    (error: unknown) => error instanceof InputError && /cannot be loaded/.test(error.message),
  );
  assert.equal(seen.length, 1);
});

test('preflight refuses a model onnxruntime loads but the pixel graph cannot go in front of, naming why', async () => {
  const dir = tempDir('preflight-fusion');
  const model = writeTinyModel(path.join(dir, 'clash.onnx'), { pooledName: 'tessera.pixels/planes', pool: 32 });
  const config = RunConfigSchema.parse({
    data: dataset(dir),
    out: path.join(dir, 'out'),
    model,
    output: 0,
    imgSize: 256,
  });
  await assert.rejects(
    preflight(config),
    (error: unknown) =>
      error instanceof InputError &&
      /cannot take tessera's pixel input: the model already uses the name "tessera.pixels\/planes"/.test(error.message),
  );
});
