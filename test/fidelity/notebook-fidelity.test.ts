import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { PROJECT_ROOT, TIMM_B0_MODEL } from '../../lib/core/project-paths.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { PYTHON, requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

const run = promisify(execFile);
const reference = (script: string) => path.join(PROJECT_ROOT, 'bench', 'reference', script);
let dir: string;
let data: string;
let temporal: TemporalHarness;

before(async () => {
  requireSetup('model', 'temporal', 'python');
  dir = tempDir('fidelity');
  data = path.join(dir, 'data');
  // 256×256 JPEG and PNG files (the notebook's images were pre-sized, so it never resizes).
  await generateSampleData({ dir: data, images: 26, classes: 3, size: 256, format: 'mixed' });
  temporal = await startTemporal(dir);
});

after(async () => {
  await temporal?.stop();
});

async function tessera(
  batchSize: number,
  model = TIMM_B0_MODEL,
  output: number | string = 4,
  name = `b${batchSize}`,
): Promise<string> {
  const out = path.join(dir, `tessera-${name}`);
  await temporal.client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: `fidelity-${name}-${path.basename(dir)}`,
    args: [{ data, out, model, batchSize, output }],
  });
  return path.join(out, 'vectors.parquet');
}

async function compare(ours: string, referenceFile: string): Promise<Record<string, number | boolean>> {
  const { stdout } = await run(PYTHON, [
    reference('compare_vectors.py'),
    ours,
    referenceFile,
    '--tolerance',
    '1e-4',
  ]).catch((e: { stdout: string }) => e);
  return JSON.parse(stdout) as Record<string, number | boolean>;
}

test('vectors match the notebook method in PyTorch (same timm weights) at batch sizes 1 and 32', async (t) => {
  const referenceFile = path.join(dir, 'reference.parquet');
  await run(
    PYTHON,
    [
      '-W',
      'ignore',
      reference('notebook_vectors.py'),
      '--data',
      data,
      '--out',
      referenceFile,
      '--backbone',
      'efficientnet_b0',
    ],
    { timeout: 300_000 },
  );
  for (const batchSize of [1, 32]) {
    const report = await compare(await tessera(batchSize), referenceFile);
    t.diagnostic(`batch ${batchSize}: ${JSON.stringify(report)}`);
    assert.equal(report.missing_from_ours, 0, `batch ${batchSize}`);
    assert.equal(report.extra_in_ours, 0, `batch ${batchSize}`);
    assert.equal(report.compared, (26 - 3) * 64);
    assert.ok(
      (report.max_rel_error as number) < 1e-4,
      `batch ${batchSize}: max relative error ${report.max_rel_error}`,
    );
  }
});

test('pyarrow reads the notebook types, dictionary-encoded target and file, float32 vectors', async () => {
  const { stdout } = await run(PYTHON, [
    reference('describe_parquet.py'),
    path.join(dir, 'tessera-b32', 'vectors.parquet'),
  ]);
  const described = JSON.parse(stdout) as {
    types: Record<string, string>;
    encodings: Record<string, string[]>;
    first_vector_length: number;
  };
  assert.deepEqual(described.types, {
    i: 'int32',
    vector: 'fixed_size_binary[1280]',
    target: 'int32',
    file: 'string',
    x: 'int32',
    y: 'int32',
  });
  assert.ok(
    described.encodings.target!.some((e) => e.includes('DICTIONARY')),
    `target: ${described.encodings.target}`,
  );
  assert.ok(
    described.encodings.file!.some((e) => e.includes('DICTIONARY')),
    `file: ${described.encodings.file}`,
  );
  assert.equal(described.first_vector_length, 320);
});

test('any timm backbone and level: resnet18 exported by infra/, level 2 chosen by index and by name', async (t) => {
  const model = path.join(dir, 'resnet18.onnx');
  await run(
    PYTHON,
    ['-W', 'ignore', path.join(PROJECT_ROOT, 'infra', 'export_model.py'), '--backbone', 'resnet18', '--out', model],
    { timeout: 300_000 },
  );
  const referenceFile = path.join(dir, 'reference-resnet18.parquet');
  await run(
    PYTHON,
    [
      '-W',
      'ignore',
      reference('notebook_vectors.py'),
      '--data',
      data,
      '--out',
      referenceFile,
      '--backbone',
      'resnet18',
      '--level',
      '2',
    ],
    { timeout: 300_000 },
  );
  for (const output of [2, 'level_2']) {
    const report = await compare(await tessera(8, model, output, `resnet18-${output}`), referenceFile);
    t.diagnostic(`resnet18 output ${output}: ${JSON.stringify(report)}`);
    // resnet18's level 2 is 128 channels at stride 8: a 32×32 grid at 256×256.
    assert.equal(report.compared, (26 - 3) * 32 * 32);
    assert.ok((report.max_rel_error as number) < 1e-4, `max relative error ${report.max_rel_error}`);
    assert.equal(report.ok, true);
  }
});
