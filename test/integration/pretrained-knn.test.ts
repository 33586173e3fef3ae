import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { leaveOneOutAccuracy, meanPooledEmbeddings } from '../../lib/eval/nearest-neighbour.ts';
import { DEFAULT_MODEL, RANDOM_LITE0_MODEL } from '../../lib/core/project-paths.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { FLOWERS_DIR, requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

// Measured here (340 photos, 17 classes, leave-one-out 1-NN on mean-pooled level-4 tiles):
// pretrained EfficientNet-Lite0 0.900, the same architecture with random weights 0.312, chance 0.059.
const PRETRAINED_AT_LEAST = 0.75;
const RANDOM_AT_MOST = 0.5;

const flowersPresent = fs.existsSync(path.join(FLOWERS_DIR, 'train.csv'));
let dir: string;
let temporal: TemporalHarness | undefined;

before(async () => {
  if (!flowersPresent) return;
  requireSetup();
  dir = tempDir('knn');
  temporal = await startTemporal(dir);
});

after(async () => {
  await temporal?.stop();
});

async function accuracy(model: string, name: string): Promise<number> {
  const out = path.join(dir, name);
  await temporal!.client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: `knn-${name}-${path.basename(dir)}`,
    // valSamples 0: every photo is extracted, so each one is queried against the 339 others.
    args: [{ data: FLOWERS_DIR, out, model, valSamples: 0 }],
  });
  const embeddings = await meanPooledEmbeddings(path.join(out, 'vectors.parquet'));
  assert.equal(embeddings.length, 340);
  return leaveOneOutAccuracy(embeddings);
}

test('pretrained vectors carry meaning: nearest-neighbour class accuracy on real flower photos', async (t) => {
  if (!flowersPresent) {
    t.skip(`flowers17-mini not found at ${FLOWERS_DIR} (set TESSERA_FLOWERS_DIR): the check did not run`);
    return;
  }
  const pretrained = await accuracy(DEFAULT_MODEL, 'pretrained');
  const random = await accuracy(RANDOM_LITE0_MODEL, 'random');
  t.diagnostic(`leave-one-out 1-NN accuracy: pretrained ${pretrained.toFixed(3)}, random weights ${random.toFixed(3)}`);
  assert.ok(pretrained >= PRETRAINED_AT_LEAST, `pretrained accuracy ${pretrained} < ${PRETRAINED_AT_LEAST}`);
  assert.ok(random <= RANDOM_AT_MOST, `random-weights accuracy ${random} > ${RANDOM_AT_MOST}`);
});
