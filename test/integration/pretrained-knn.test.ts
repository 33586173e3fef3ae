/**
 * The committed default model's vectors carry meaning on real photos. The random-weights baseline
 * beside it needs a model exported with torch: test/fidelity/random-weights-knn.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { FLOWERS_MISSING, flowersAccuracy, flowersPresent, PRETRAINED_AT_LEAST } from '../support/knn.ts';

let dir: string;
let temporal: TemporalHarness | undefined;

before(async () => {
  if (!flowersPresent) return;
  requireSetup('model', 'temporal');
  dir = tempDir('knn');
  temporal = await startTemporal(dir);
});

after(async () => {
  await temporal?.stop();
});

test('pretrained vectors carry meaning: nearest-neighbour class accuracy on real flower photos', async (t) => {
  if (!flowersPresent) {
    t.skip(FLOWERS_MISSING);
    return;
  }
  const pretrained = await flowersAccuracy(temporal!, dir, DEFAULT_MODEL, 'pretrained');
  t.diagnostic(`leave-one-out 1-NN accuracy: pretrained ${pretrained.toFixed(3)}`);
  assert.ok(pretrained >= PRETRAINED_AT_LEAST, `pretrained accuracy ${pretrained} < ${PRETRAINED_AT_LEAST}`);
});
