import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { DEFAULT_MODEL, temporalBinary } from '../../lib/core/project-paths.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { TESSERA_BIN, waitUntil } from '../support/processes.ts';
import { duckdbRows } from '../support/vectors.ts';
import { StatusReportSchema } from '../../lib/run/run-status.ts';

const run = promisify(execFile);
let dir: string;
let temporal: TemporalHarness;

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('temporal-cli');
  await generateSampleData({ dir: path.join(dir, 'data'), images: 12, classes: 3 });
  temporal = await startTemporal(dir);
});

after(async () => {
  await temporal?.stop();
});

test('`temporal workflow start` with a JSON input file runs the same workflow (README command)', async () => {
  const out = path.join(dir, 'out');
  const inputFile = path.join(dir, 'run.json');
  fs.writeFileSync(
    inputFile,
    JSON.stringify({ data: path.join(dir, 'data'), out, model: DEFAULT_MODEL, batchSize: 4 }),
  );
  // Exactly the README's command, with this test's address (and namespace) and paths.
  await run(temporalBinary(), [
    'workflow',
    'start',
    ...temporal.cliFlags,
    '--task-queue',
    'tessera-cpu',
    '--type',
    'extractVectors',
    '--workflow-id',
    'tessera-from-temporal-cli',
    '--input-file',
    inputFile,
  ]);
  const { stdout } = await run(
    temporalBinary(),
    ['workflow', 'result', ...temporal.cliFlags, '--workflow-id', 'tessera-from-temporal-cli', '--output', 'json'],
    { timeout: 120_000 },
  );
  assert.match(stdout, /"status":\s*"COMPLETED"/);
  const [[rows, files]] = (await duckdbRows(
    `SELECT count(*)::INT, count(DISTINCT file)::INT FROM read_parquet('${path.join(out, 'vectors.parquet')}')`,
  )) as [[number, number]];
  assert.equal(files, 12 - 3, 'one validation image per class, the rest extracted');
  assert.equal(rows, files * 64);

  // `tessera status --out` finds the run although it was started under its own id: the folder names it.
  const status = await run(process.execPath, [TESSERA_BIN, 'status', '--out', out, ...temporal.cliFlags, '--json']);
  const report = StatusReportSchema.parse(JSON.parse(status.stdout));
  assert.equal(report.workflowId, 'tessera-from-temporal-cli');
  assert.equal(report.source, 'server');
  assert.equal(report.state, 'completed');
  assert.equal(report.result?.counts.extractedImages, 9);
  // The cluster out of reach: the folder's own files still answer, and say why they answer.
  const offline = StatusReportSchema.parse(
    JSON.parse(
      (await run(process.execPath, [TESSERA_BIN, 'status', '--out', out, '--address', '127.0.0.1:1', '--json'])).stdout,
    ),
  );
  assert.equal(offline.source, 'folder');
  assert.equal(offline.state, 'completed');
  assert.equal(offline.workflowId, 'tessera-from-temporal-cli');
  assert.equal(offline.result?.counts.rows, rows);
  assert.match(offline.note ?? '', /cannot reach Temporal at 127\.0\.0\.1:1.*this is what the folder's files say/);
  // A run the folder does not know: the message says how runs under their own ids are found.
  const unknown = await run(process.execPath, [
    TESSERA_BIN,
    'status',
    '--workflow-id',
    'tessera-nobody',
    ...temporal.cliFlags,
  ]).catch((error: { code: number; stderr: string }) => error);
  assert.ok('code' in unknown && unknown.code === 2);
  assert.match(
    unknown.stderr,
    /no run with workflow id tessera-nobody on this cluster\. A run started from the Temporal CLI or UI under its own id is found through --out once/,
  );
});

test('a bad --input fails the workflow at once with every bad field named', async () => {
  await run(temporalBinary(), [
    'workflow',
    'start',
    ...temporal.cliFlags,
    '--task-queue',
    'tessera-cpu',
    '--type',
    'extractVectors',
    '--workflow-id',
    'tessera-bad-input',
    '--input',
    JSON.stringify({ data: dir, batchSize: -1, nope: true }),
  ]);
  const result = await run(
    temporalBinary(),
    ['workflow', 'result', ...temporal.cliFlags, '--workflow-id', 'tessera-bad-input', '--output', 'json'],
    { timeout: 60_000 },
  ).catch((error: { stdout: string; stderr: string }) => error);
  const text = `${result.stdout}\n${result.stderr}`;
  assert.match(text, /FAILED/);
  assert.match(text, /out:/);
  assert.match(text, /batchSize:/);
  assert.match(text, /nope/);
});

test('`temporal workflow cancel` stops a running run cleanly, and the same input then completes', async () => {
  const data = path.join(dir, 'data-cancel');
  await generateSampleData({ dir: data, images: 304, classes: 4, seed: 3 });
  const out = path.join(dir, 'out-cancel');
  const inputFile = path.join(dir, 'cancel.json');
  // One shard of 300 images: several seconds of work, so the cancel lands in the middle of it.
  fs.writeFileSync(inputFile, JSON.stringify({ data, out, model: DEFAULT_MODEL, batchSize: 4, shardSize: 300 }));
  const start = (id: string) =>
    run(temporalBinary(), [
      'workflow',
      'start',
      ...temporal.cliFlags,
      '--task-queue',
      'tessera-cpu',
      '--type',
      'extractVectors',
      '--workflow-id',
      id,
      '--input-file',
      inputFile,
    ]);
  await start('tessera-cancel-me');
  const attempts = path.join(out, '.tessera', 'attempts', 'train', 'shard-00000.jsonl');
  await waitUntil(() => fs.existsSync(attempts), 'the shard attempt', { timeoutMs: 60_000 });
  // The model is loaded and batches are being written: the shard's temporary file is there.
  const shards = path.join(out, 'shards');
  const halfWritten = () => fs.existsSync(shards) && fs.readdirSync(shards).some((name) => name.endsWith('.tmp'));
  await waitUntil(halfWritten, "the shard's first batch", { timeoutMs: 60_000 });
  await run(temporalBinary(), ['workflow', 'cancel', ...temporal.cliFlags, '--workflow-id', 'tessera-cancel-me']);
  const cancelled = await run(
    temporalBinary(),
    ['workflow', 'result', ...temporal.cliFlags, '--workflow-id', 'tessera-cancel-me', '--output', 'json'],
    { timeout: 60_000 },
  ).catch((error: { stdout: string }) => error);
  assert.match(cancelled.stdout, /CANCELED|CANCELLED/);
  const events = fs
    .readFileSync(attempts, 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { event: string }).event);
  assert.deepEqual(events, ['started', 'cancelled']);
  assert.deepEqual(
    fs.readdirSync(path.join(out, 'shards')).filter((name) => name.endsWith('.tmp')),
    [],
    'the half-written shard was removed',
  );
  const status = StatusReportSchema.parse(
    JSON.parse(
      (await run(process.execPath, [TESSERA_BIN, 'status', '--out', out, ...temporal.cliFlags, '--json'])).stdout,
    ),
  );
  assert.equal(status.workflowId, 'tessera-cancel-me');
  assert.equal(status.state, 'cancelled');

  await start('tessera-cancel-me-again');
  const { stdout } = await run(
    temporalBinary(),
    ['workflow', 'result', ...temporal.cliFlags, '--workflow-id', 'tessera-cancel-me-again', '--output', 'json'],
    { timeout: 120_000 },
  );
  assert.match(stdout, /"status":\s*"COMPLETED"/);
  assert.match(stdout, /"extractedImages":\s*300/);
});
