import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import type { RunSummary } from '../../lib/core/run-summary.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { duckdbRows, referenceFeatures } from '../support/vectors.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

let dir: string;
let data: string;
let temporal: TemporalHarness;

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('validation');
  data = path.join(dir, 'data');
  await generateSampleData({ dir: data, images: 24, classes: 4, size: 256 });
  temporal = await startTemporal(dir);
});

after(async () => {
  await temporal?.stop();
});

async function runBoth(name: string): Promise<RunSummary> {
  return await temporal.client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: `validation-${name}-${path.basename(dir)}`,
    args: [
      { data, out: path.join(dir, name), model: DEFAULT_MODEL, splits: ['train', 'val'], valSamples: 2, batchSize: 5 },
    ],
  });
}

const vectorsOf = async (file: string) =>
  (await duckdbRows(`SELECT i, file, x, y, target, vector FROM read_parquet('${file}') ORDER BY i`)).map(
    ([i, f, x, y, target, blob]) => [
      i,
      f,
      x,
      y,
      target,
      Buffer.from((blob as { bytes: Uint8Array }).bytes).toString('base64'),
    ],
  );

test('splits ["train", "val"] writes validation-vectors.parquet with the same schema, i by validation.csv ordinal', async () => {
  const summary = await runBoth('first');
  assert.equal(summary.counts.validationImages, 8);
  assert.equal(summary.counts.validationExtractedImages, 8);
  assert.equal(summary.counts.validationRows, 8 * 64);
  assert.equal(summary.counts.extractedImages, 16);
  const file = path.join(dir, 'first', 'validation-vectors.parquet');
  assert.equal(summary.validationVectors, file);
  const schemaOf = (f: string) => duckdbRows(`SELECT name, type, type_length FROM parquet_schema('${f}')`);
  assert.deepEqual(await schemaOf(file), await schemaOf(path.join(dir, 'first', 'vectors.parquet')));
  const validation = fs
    .readFileSync(path.join(dir, 'first', 'validation.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','));
  const rows = await vectorsOf(file);
  assert.equal(rows.length, 8 * 64);
  rows.forEach(([i, f], r) => {
    assert.equal(i, r, 'i contiguous from 0');
    assert.equal(f, validation[Math.floor(r / 64)]![1], 'file of ordinal i / 64 in validation.csv');
  });
});

test('validation vectors are occluded (they differ from the plain image) and stable across runs', async () => {
  const first = await vectorsOf(path.join(dir, 'first', 'validation-vectors.parquet'));
  await runBoth('second');
  const second = await vectorsOf(path.join(dir, 'second', 'validation-vectors.parquet'));
  assert.deepEqual(second, first, 'a re-run punches the same holes');

  const [, file] = first[0]!;
  const plain = await referenceFeatures(DEFAULT_MODEL, path.join(data, 'images', String(file)), 256, 'level_4');
  const occluded = first.filter(([, f]) => f === file);
  let changed = 0;
  for (const [, , x, y, , base64] of occluded) {
    const got = new Float32Array(new Uint8Array(Buffer.from(String(base64), 'base64')).buffer);
    const want = Array.from(
      { length: plain.channels },
      (_, c) => plain.data[(c * plain.height + Number(x)) * plain.width + Number(y)]!,
    );
    if (want.some((w, c) => Math.abs(w - got[c]!) > 1e-3 * Math.max(1, Math.abs(w)))) changed++;
  }
  assert.ok(changed >= 4, `only ${changed} of 64 tiles changed: the hole must alter the tiles it covers`);
});
