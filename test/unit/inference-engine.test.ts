import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { InferenceEngines } from '../../lib/inference/engine.ts';
import { requireSetup } from '../support/environment.ts';

const engines = new InferenceEngines();
after(() => engines.closeAll());

function pixels(images: number, size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(images * 3 * size * size);
  for (let k = 0; k < bytes.length; k++) bytes[k] = (k * 7 + seed * 131) % 251;
  return bytes;
}

test('batches sent to the session thread at once (as extraction pipelines them) give the same features as one at a time', async () => {
  requireSetup();
  // Slices of 2 images: each batch runs in several session.run calls, with awaits between them.
  const size = 128;
  // Each normalisation has its own pixel graph in front of the model, hence its own engine.
  for (const normalize of ['none', 'imagenet'] as const) {
    const engine = await engines.get({ modelPath: DEFAULT_MODEL, executionProvider: 'cpu', output: 4, imgSize: size, normalize, microBatch: 2 });
    const run = (seed: number) => engine.run({ pixels: pixels(4, size, seed), images: 4 });
    const alone = [(await run(1)).data, (await run(2)).data, (await run(3)).data];
    const together = await Promise.all([run(1), run(2), run(3)]);
    together.forEach((result, k) => assert.ok(Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength).equals(Buffer.from(alone[k]!.buffer, alone[k]!.byteOffset, alone[k]!.byteLength)), `${normalize} batch ${k}`));
    assert.equal(together[0]!.pixels.length, 4 * 3 * size * size, 'the pixel buffer comes back for reuse');
  }
});
