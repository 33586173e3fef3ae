/**
 * The baseline that gives test/integration/pretrained-knn.test.ts its meaning: the same
 * architecture with random weights (models/efficientnet-lite0-random.onnx, exported with torch by
 * infra/ensure-model.sh) places the flower photos far worse.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RANDOM_LITE0_MODEL } from '../../lib/core/project-paths.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { FLOWERS_MISSING, flowersAccuracy, flowersPresent, RANDOM_AT_MOST } from '../support/knn.ts';

let dir: string;
let temporal: TemporalHarness | undefined;

before(async () => {
  if (!flowersPresent) return;
  requireSetup('model', 'temporal', 'python');
  dir = tempDir('knn-random');
  temporal = await startTemporal(dir);
});

after(async () => {
  await temporal?.stop();
});

test('random weights carry far less meaning: nearest-neighbour class accuracy on the same photos', async (t) => {
  if (!flowersPresent) {
    t.skip(FLOWERS_MISSING);
    return;
  }
  const random = await flowersAccuracy(temporal!, dir, RANDOM_LITE0_MODEL, 'random');
  t.diagnostic(`leave-one-out 1-NN accuracy: random weights ${random.toFixed(3)}`);
  assert.ok(random <= RANDOM_AT_MOST, `random-weights accuracy ${random} > ${RANDOM_AT_MOST}`);
});
