import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { leaveOneOutAccuracy, meanPooledEmbeddings } from '../../lib/eval/nearest-neighbour.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { FLOWERS_DIR, type TemporalHarness } from './environment.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

// Measured (340 photos, 17 classes, leave-one-out 1-NN on mean-pooled level-4 tiles): pretrained
// EfficientNet-Lite0 0.900, the same architecture with random weights 0.312, chance 0.059.
export const PRETRAINED_AT_LEAST = 0.75;
export const RANDOM_AT_MOST = 0.5;

export const flowersPresent = fs.existsSync(path.join(FLOWERS_DIR, 'train.csv'));
export const FLOWERS_MISSING = `flowers17-mini not found at ${FLOWERS_DIR} (set TESSERA_FLOWERS_DIR): the check did not run`;

/** Extracts every flower photo with `model` and returns the leave-one-out 1-NN class accuracy. */
export async function flowersAccuracy(temporal: TemporalHarness, dir: string, model: string, name: string) {
  const out = path.join(dir, name);
  await temporal.client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: `knn-${name}-${path.basename(dir)}`,
    // valSamples 0: every photo is extracted, so each one is queried against the 339 others.
    args: [{ data: FLOWERS_DIR, out, model, valSamples: 0 }],
  });
  const embeddings = await meanPooledEmbeddings(path.join(out, 'vectors.parquet'));
  assert.equal(embeddings.length, 340);
  return leaveOneOutAccuracy(embeddings);
}
