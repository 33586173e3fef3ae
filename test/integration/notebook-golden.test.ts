/**
 * tessera's vectors against the notebook method's, without Python: the reference vectors of a few
 * fixed images are committed (test/support/notebook-golden.ts), made by infra/make-golden.sh from
 * the default model; `npm run test:fidelity` makes them again with PyTorch and checks that they
 * agree, and compares with PyTorch on other backbones (test/fidelity/notebook-fidelity.test.ts).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { sha256File } from '../../lib/core/hashing.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { NOTEBOOK_DATA, readNotebookFeatures, referenceRows } from '../support/notebook-golden.ts';
import { compareWithReference } from '../support/vectors.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

const golden = readNotebookFeatures();
let dir: string;
let temporal: TemporalHarness;

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('notebook-golden');
  temporal = await startTemporal(dir, [dir, NOTEBOOK_DATA]);
});

after(async () => {
  await temporal?.stop();
});

test('the golden vectors are of the committed default model', async () => {
  assert.equal(golden.modelSha256, await sha256File(DEFAULT_MODEL), 'run bash infra/make-golden.sh after a new model');
});

for (const { level, batchSize } of [
  { level: 4, batchSize: 1 },
  { level: 4, batchSize: 8 },
  { level: 2, batchSize: 8 },
]) {
  test(`level ${level} at batch size ${batchSize}: every tile of the notebook method, within 1e-4`, async (t) => {
    const out = path.join(dir, `level-${level}-batch-${batchSize}`);
    await temporal.client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUES.cpu,
      workflowId: `notebook-golden-${level}-${batchSize}-${path.basename(dir)}`,
      args: [
        {
          data: NOTEBOOK_DATA,
          out,
          model: DEFAULT_MODEL,
          imgSize: golden.imgSize,
          output: level,
          batchSize,
          seed: golden.seed,
          valSamples: golden.valSamples,
        },
      ],
    });
    const reference = referenceRows(golden, level);
    assert.ok(reference.length > 0, `the golden file has level ${level}`);
    const report = await compareWithReference(path.join(out, 'vectors.parquet'), reference);
    t.diagnostic(JSON.stringify(report));
    assert.deepEqual(
      { compared: report.compared, missing: report.missing, extra: report.extra, targets: report.targetMismatches },
      { compared: reference.length, missing: 0, extra: 0, targets: 0 },
    );
    assert.ok(report.maxRelError < 1e-4, `max relative error ${report.maxRelError}`);
  });
}
