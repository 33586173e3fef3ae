/**
 * Workers confined to their roots, against a real dev server and a real worker that serves one
 * folder: workflow inputs that point outside it (the CSV, the image folder, the dataset, the
 * output folder of another run with force) or at a secret that is not a CSV fail at once, non-
 * retryable, naming the field; no file outside is touched and no secret reaches the history.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, type TemporalFailure } from '@temporalio/common';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { TESSERA_BIN } from '../support/processes.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

const run = promisify(execFile);
const SECRET = 'SECRET-TOKEN-1234';
let dir: string;
let root: string;
let data: string;
let outside: string;
let temporal: TemporalHarness;

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('confinement');
  root = path.join(dir, 'root');
  data = path.join(root, 'data');
  outside = path.join(dir, 'outside');
  await generateSampleData({ dir: data, images: 8, classes: 2 });
  await generateSampleData({ dir: path.join(outside, 'data'), images: 8, classes: 2, seed: 2 });
  fs.writeFileSync(path.join(data, 'secret.txt'), `${SECRET} first line\nsecond line\n`);
  fs.writeFileSync(path.join(outside, 'secret.csv'), `${SECRET} outside\n`);
  fs.symlinkSync(path.join(outside, 'secret.csv'), path.join(data, 'linked.csv'));
  // Another run's finished output folder, outside the root.
  const other = path.join(outside, 'other-run');
  fs.mkdirSync(path.join(other, '.tessera'), { recursive: true });
  fs.mkdirSync(path.join(other, 'shards'));
  for (const [name, text] of Object.entries({
    'vectors.parquet': 'PAR1 vectors',
    'training.csv': ',image_id,hotel_id\n',
    'manifest.json': '{}',
    'shards/shard-00000.parquet': 'PAR1 shard',
    '.tessera/run.json': '{"config":{},"modelSha256":"x"}',
    '.tessera/folder.json': '{}',
  })) {
    fs.writeFileSync(path.join(other, name), text);
  }
  // The only root: the test's temp folder holds the server's state and the outside folders too.
  temporal = await startTemporal(dir, [root]);
});

after(async () => {
  await temporal?.stop();
});

/** Every file under `folder` with its sha256. */
function snapshot(folder: string): Record<string, string> {
  const files = fs
    .readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => fs.statSync(path.join(folder, name)).isFile());
  return Object.fromEntries(
    files.sort().map((name) => [
      name,
      createHash('sha256')
        .update(fs.readFileSync(path.join(folder, name)))
        .digest('hex'),
    ]),
  );
}

/** Runs the workflow to its failure; returns the failure's messages and the run's whole history as text. */
async function failure(
  id: string,
  input: Record<string, unknown>,
): Promise<{ messages: string; root: ApplicationFailure; history: string }> {
  const handle = await temporal.client.workflow.start<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: `confinement-${id}`,
    args: [{ data, out: path.join(root, `out-${id}`), model: DEFAULT_MODEL, ...input }],
  });
  const error = await handle.result().then(
    () => assert.fail('the run completed'),
    (error: unknown) => error,
  );
  assert.ok(error instanceof WorkflowFailedError, String(error));
  const chain: TemporalFailure[] = [];
  for (
    let cause = error.cause as TemporalFailure | undefined;
    cause;
    cause = cause.cause as TemporalFailure | undefined
  )
    chain.push(cause);
  const application = chain.at(-1);
  assert.ok(
    application instanceof ApplicationFailure,
    `ends in an application failure: ${chain.map((c) => c.message).join(' ← ')}`,
  );
  const events = (await handle.fetchHistory()).events ?? [];
  const attempts = events.flatMap((event) =>
    event.activityTaskStartedEventAttributes ? [event.activityTaskStartedEventAttributes.attempt ?? 1] : [],
  );
  assert.ok(
    attempts.every((attempt) => attempt === 1),
    `every activity ran once, none retried: attempts ${attempts.join(', ')}`,
  );
  assert.equal(
    events.filter((event) => event.activityTaskFailedEventAttributes).length,
    1,
    'one activity failed, at its first attempt',
  );
  return { messages: chain.map((c) => c.message).join('\n'), root: application, history: JSON.stringify(events) };
}

function assertRefused(result: { messages: string; root: ApplicationFailure }, field: RegExp): void {
  assert.equal(result.root.type, 'InputError');
  assert.equal(result.root.nonRetryable, true);
  assert.match(result.root.message, field);
}

test('a run inside the root completes', async () => {
  const summary = await temporal.client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: 'confinement-allowed',
    args: [{ data, out: path.join(root, 'out-allowed'), model: DEFAULT_MODEL, batchSize: 4 }],
  });
  assert.equal(summary.counts.extractedImages, 8 - 2);
});

test('csv named outside data, or linked outside the roots, is refused naming csv; the secret stays unread', async () => {
  for (const [id, csv, reason] of [
    ['csv-dotdot', '../../outside/secret.csv', /^csv .* leads outside the dataset folder/],
    [
      'csv-symlink',
      'linked.csv',
      /^csv linked\.csv in .* leads to .*secret\.csv, outside the folders this worker may use/,
    ],
    ['csv-absolute', path.join(outside, 'secret.csv'), /^csv .* is an absolute path/],
  ] as const) {
    const result = await failure(id, { csv });
    assertRefused(result, reason);
    if (id === 'csv-symlink') assert.match(result.root.message, new RegExp(`serves ${fs.realpathSync(root)}`));
    assert.ok(!result.history.includes(SECRET), `${id}: the secret is not in the history`);
  }
});

test('images outside data is refused naming images', async () => {
  assertRefused(await failure('images-root', { images: '/' }), /^images \/ is an absolute path/);
  assertRefused(
    await failure('images-dotdot', { images: '../../outside/data/images' }),
    /^images .* leads outside the dataset folder/,
  );
});

test('data outside the roots is refused naming data, the roots and how to allow it', async () => {
  const result = await failure('data-outside', { data: path.join(outside, 'data') });
  assertRefused(result, /^data .*outside.* is outside the folders this worker may use/);
  assert.match(result.root.message, /--allow-root/);
});

test('an input with several bad fields names them all at once: a relative path, a path outside the roots, a bad number', async () => {
  const handle = await temporal.client.workflow.start(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: 'confinement-every-field',
    args: [{ data: 'rooms', out: path.join(outside, 'x'), batchSize: -3 }],
  });
  const error = await handle.result().then(
    () => assert.fail('the run completed'),
    (error: unknown) => error,
  );
  assert.ok(error instanceof WorkflowFailedError, String(error));
  const message = String(error.cause?.message);
  assert.match(message, /^invalid run config: /);
  assert.match(message, /data: a relative path means nothing to a worker on another machine/);
  assert.match(message, /batchSize: /);
  assert.match(message, /out .*\/outside\/x is outside the folders this worker may use/);
  assert.ok(!fs.existsSync(path.join(outside, 'x')), 'nothing written');
});

test("out outside the roots, with force, is refused and the other run's files stay byte-identical", async () => {
  const other = path.join(outside, 'other-run');
  const before = snapshot(other);
  assert.ok(Object.keys(before).length >= 6);
  assertRefused(
    await failure('out-outside', { out: other, force: true }),
    /^out .*other-run is outside the folders this worker may use/,
  );
  assert.deepEqual(snapshot(other), before);
});

test('a non-CSV file inside data as csv fails naming the input CSV, without echoing its first line', async () => {
  const result = await failure('not-a-csv', { csv: 'secret.txt' });
  assertRefused(
    result,
    /^input CSV .*secret\.txt has no column "image_id" or "hotel_id" \(its first line is not a CSV header/,
  );
  assert.ok(!result.messages.includes(SECRET));
  assert.ok(!result.history.includes(SECRET), "the secret is nowhere in the run's history");
});

test('`tessera worker` without a root, or with one that does not exist, exits 2 saying how to give one', async () => {
  const env = { ...process.env, TESSERA_ALLOW_ROOTS: '' };
  const worker = (args: string[]) =>
    run(process.execPath, [TESSERA_BIN, 'worker', ...temporal.cliFlags, ...args], {
      env,
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
  const none = await worker([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no folder to serve: give --allow-root DIR \(repeatable\) or TESSERA_ALLOW_ROOTS=/);
  const missing = await worker(['--allow-root', path.join(dir, 'no-such-folder')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no-such-folder .*does not exist or is not a folder/);
});

test('the embedded run follows the links its own command leads to: an image folder on another disk, a subset folder of links', async () => {
  // The usual ways to carve a dataset out of a large image store, none of them inside the data folder.
  const store = tempDir('confinement-store');
  await generateSampleData({ dir: store, images: 8, classes: 2, seed: 3 });
  const linkedFolder = path.join(dir, 'linked-folder');
  fs.mkdirSync(linkedFolder);
  fs.copyFileSync(path.join(store, 'train.csv'), path.join(linkedFolder, 'train.csv'));
  fs.symlinkSync(path.join(store, 'images'), path.join(linkedFolder, 'images'));
  const subset = path.join(dir, 'subset');
  fs.mkdirSync(path.join(subset, 'images'), { recursive: true });
  const rows = fs.readFileSync(path.join(store, 'train.csv'), 'utf8').trim().split('\n');
  fs.writeFileSync(path.join(subset, 'train.csv'), `${rows.slice(0, 5).join('\n')}\n`);
  for (const row of rows.slice(1, 5)) {
    const id = row.split(',')[0]!;
    fs.symlinkSync(path.join(store, 'images', id), path.join(subset, 'images', id));
  }
  for (const [data, images] of [
    [linkedFolder, 8],
    [subset, 4],
  ] as const) {
    const out = path.join(dir, `out-${path.basename(data)}`);
    await run(process.execPath, [TESSERA_BIN, 'run', '--quiet', '--data', data, '--out', out, '--val-samples', '0'], {
      timeout: 300_000,
    });
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as {
      counts: { extractedImages: number; errors: number };
    };
    assert.equal(manifest.counts.extractedImages, images, data);
    assert.equal(manifest.counts.errors, 0, data);
  }
});
