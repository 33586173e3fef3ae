import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { sha256File } from '../../lib/core/hashing.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { InferenceEngines, ModelLoadError } from '../../lib/inference/engine.ts';
import { requireSetup } from '../support/environment.ts';
import { tempDir } from '../support/temp-dir.ts';

const engines = new InferenceEngines();
after(() => engines.closeAll());

function pixels(images: number, size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(images * 3 * size * size);
  for (let k = 0; k < bytes.length; k++) bytes[k] = (k * 7 + seed * 131) % 251;
  return bytes;
}

test('batches sent to the session thread at once (as extraction pipelines them) give the same features as one at a time', async () => {
  requireSetup('model');
  // Slices of 2 images: each batch runs in several session.run calls, with awaits between them.
  const size = 128;
  // Each normalisation has its own pixel graph in front of the model, hence its own engine.
  for (const normalize of ['none', 'imagenet'] as const) {
    const engine = await engines.get({
      modelPath: DEFAULT_MODEL,
      executionProvider: 'cpu',
      output: 4,
      imgSize: size,
      normalize,
      microBatch: 2,
    });
    const run = (seed: number) => engine.run({ pixels: pixels(4, size, seed), images: 4 });
    const alone = [(await run(1)).data, (await run(2)).data, (await run(3)).data];
    const together = await Promise.all([run(1), run(2), run(3)]);
    together.forEach((result, k) =>
      assert.ok(
        Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength).equals(
          Buffer.from(alone[k]!.buffer, alone[k]!.byteOffset, alone[k]!.byteLength),
        ),
        `${normalize} batch ${k}`,
      ),
    );
    assert.equal(together[0]!.pixels.length, 4 * 3 * size * size, 'the pixel buffer comes back for reuse');
  }
});

test("the session runs a waiting batch of an earlier place first: a shard started in another one's tail waits until that one has none ready", async () => {
  requireSetup('model');
  const size = 128;
  const engine = await engines.get({
    modelPath: DEFAULT_MODEL,
    executionProvider: 'cpu',
    output: 4,
    imgSize: size,
    normalize: 'none',
    microBatch: 2,
  });
  const [first, second] = [0, 1];
  const order: string[] = [];
  const run = (name: string, turn: number) =>
    engine.run({ pixels: pixels(4, size, name.length), images: 4 }, turn).then(() => order.push(name));
  // The session is busy with the first request while the rest wait: the later shard's batches,
  // though sent first, run after every batch of the earlier one that is waiting.
  await Promise.all([
    run('running', second),
    run('later a', second),
    run('later b', second),
    run('earlier a', first),
    run('earlier b', first),
  ]);
  // Usually the session has taken 'running' before the rest arrive; on a busy machine its thread may
  // wake only after all five are waiting, and then 'running' (a later place) rightly waits too.
  const waiting = order.filter((name) => name !== 'running');
  assert.deepEqual(waiting, ['earlier a', 'earlier b', 'later a', 'later b']);
  assert.ok([0, 2].includes(order.indexOf('running')), `ran first or after the earlier place: ${order.join(', ')}`);
});

test('a session loads only the model bytes it is keyed by: a file replaced after it was hashed is refused', async () => {
  const model = path.join(tempDir('engine-sha'), 'model.onnx');
  fs.copyFileSync(DEFAULT_MODEL, model);
  const hashed = await sha256File(model);
  const spec = {
    modelPath: model,
    executionProvider: 'cpu',
    output: 4,
    imgSize: 64,
    normalize: 'none',
    microBatch: 2,
  } as const;
  // Another file under the same name between the hash and the load (a re-export, a swapped copy).
  const other = Buffer.from(fs.readFileSync(model));
  other.writeUInt8(other.readUInt8(other.length - 1) ^ 1, other.length - 1);
  fs.writeFileSync(model, other);
  await assert.rejects(engines.get({ ...spec, modelSha256: hashed }), (error: Error) => {
    assert.ok(error instanceof ModelLoadError, String(error));
    assert.match(
      error.message,
      new RegExp(
        `cannot load model ${model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*changed after it was hashed \\(sha256 ${hashed.slice(0, 12)}… expected`,
      ),
    );
    return true;
  });
  // The same bytes back: the session loads under that key (a failed load is not cached).
  fs.copyFileSync(DEFAULT_MODEL, model);
  const engine = await engines.get({ ...spec, modelSha256: hashed });
  assert.equal((await engine.run({ pixels: pixels(1, 64, 1), images: 1 })).dims.length, 4);
});

test('closed engines refuse a session asked for afterwards: a late warm-up leaves no thread running', async () => {
  const closing = new InferenceEngines();
  await closing.closeAll();
  await assert.rejects(
    closing.get({ modelPath: DEFAULT_MODEL, executionProvider: 'cpu', output: 4, imgSize: 64, normalize: 'none' }),
    /inference engines are closed/,
  );
});
