/**
 * Crashes with real processes and SIGKILL: workers killed at exact points (failpoints), the whole
 * embedded `tessera run` killed and run again, the dev server killed and restarted on its state
 * file, and two inference workers at once. Each run must end with the rows of an uninterrupted
 * run, `i` unique, no leftover temporary files, and every shard extracted exactly once except
 * where an attempt was interrupted.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../lib/dev/dev-server.ts';
import type { Failpoint } from '../../lib/core/failpoints.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { ManifestSchema, type ManifestShard } from '../../lib/run-folder/records.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { requireSetup, tempDir } from '../support/environment.ts';
import { startTessera, waitForFile, waitUntil, type TesseraProcess } from '../support/processes.ts';
import { assertSameVectors } from '../support/vectors.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

const IMAGES = 124; // 120 training images: 15 shards of 8
const SHARDS = 15;
let dir: string;
let data: string;
let server: DevServer;
let connection: Connection;
let client: Client;
let reference: string;
const started: TesseraProcess[] = [];

/** Small shards and batches so there are many of each; a 3 s heartbeat timeout moves work off a dead worker quickly. */
const runOptions = { shardSize: 8, batchSize: 2, parallelShards: 2, heartbeatSeconds: 3 };
const configFor = (out: string) => ({ data, out, model: DEFAULT_MODEL, ...runOptions });

function worker(options: { failpoint?: Failpoint; queues?: string; address?: string } = {}): TesseraProcess {
  const markers = path.join(dir, 'markers');
  fs.mkdirSync(markers, { recursive: true });
  const args = [
    'worker',
    '--address',
    options.address ?? server.address,
    '--queues',
    options.queues ?? 'cpu,inference',
    '--allow-root',
    dir,
  ];
  const proc = startTessera(args, { failpoint: options.failpoint, failpointDir: markers, failpointShard: 1 });
  started.push(proc);
  return proc;
}

function manifestShards(out: string): ManifestShard[] {
  return ManifestSchema.parse(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'))).shards;
}

function outcomes(shard: ManifestShard): string[] {
  return shard.attempts.map((a) => a.outcome);
}

function leftoverTempFiles(out: string): string[] {
  const found: string[] = [];
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory() && entry.name !== 'temporal') walk(full);
      else if (entry.name.endsWith('.tmp')) found.push(full);
    }
  };
  walk(out);
  return found;
}

async function assertLikeReference(out: string): Promise<void> {
  await assertSameVectors(path.join(out, 'vectors.parquet'), path.join(reference, 'vectors.parquet'));
  assert.deepEqual(leftoverTempFiles(out), [], 'no temporary file is left behind');
  assert.equal(
    fs.readFileSync(path.join(out, 'errors.csv'), 'utf8'),
    fs.readFileSync(path.join(reference, 'errors.csv'), 'utf8'),
  );
}

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('crash');
  data = path.join(dir, 'data');
  await generateSampleData({ dir: data, images: IMAGES, classes: 4 });
  server = await startDevServer({ dbFile: path.join(dir, 'temporal', 'state.db') });
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection });
  reference = path.join(dir, 'reference');
  const steady = worker();
  await client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: 'crash-reference',
    args: [configFor(reference)],
  });
  await steady.killHard();
  const shards = manifestShards(reference);
  assert.equal(shards.length, SHARDS);
  for (const shard of shards) assert.deepEqual(outcomes(shard), ['extracted']);
});

after(async () => {
  for (const proc of started) await proc.killHard();
  await connection?.close();
  await server?.stop();
});

const workerKills: { failpoint: Failpoint; when: string }[] = [
  { failpoint: 'extract-first-batch', when: 'during the first batch of a shard' },
  { failpoint: 'extract-mid-shard', when: 'in the middle of a shard' },
  { failpoint: 'extract-before-rename', when: 'with the shard file written but not yet renamed' },
  { failpoint: 'extract-after-rename', when: 'right after the rename, before the shard report' },
  { failpoint: 'compact-mid', when: 'in the middle of compaction' },
];

for (const { failpoint, when } of workerKills) {
  test(`a worker SIGKILLed ${when}: a new worker finishes the run with the same rows`, async () => {
    const out = path.join(dir, failpoint);
    const doomed = worker({ failpoint });
    const handle = await client.workflow.start<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUES.cpu,
      workflowId: `crash-${failpoint}`,
      args: [configFor(out)],
    });
    await waitForFile(path.join(dir, 'markers', failpoint), doomed);
    await doomed.killHard();
    const successor = worker();
    await handle.result();
    await successor.killHard();

    await assertLikeReference(out);
    const shards = manifestShards(out);
    for (const shard of shards) {
      assert.equal(
        outcomes(shard).filter((o) => o === 'extracted').length,
        1,
        `shard ${shard.shard} extracted once: ${outcomes(shard).join(', ')}`,
      );
    }
    const interrupted = shards.filter((s) => outcomes(s).includes('interrupted'));
    if (failpoint === 'compact-mid') {
      assert.equal(interrupted.length, 0, 'no shard is redone when compaction is interrupted');
    } else {
      // The shard at the failpoint, and the one beside it when one of the two was in its tail (a
      // worker takes its next shard then: workers/next-shard-slots.ts); never more.
      const which = interrupted.map((s) => s.shard).join(', ');
      assert.ok(interrupted.length >= 1 && interrupted.length <= 2, `the shards in flight were interrupted: ${which}`);
      for (const shard of interrupted)
        assert.deepEqual(outcomes(shard), ['interrupted', 'extracted'], `shard ${shard.shard}`);
      assert.ok(
        interrupted.some((s) => s.shard >= 1),
        `the failpoint's shard (1 or later) is among them: ${which}`,
      );
    }
  });
}

test('the whole embedded `tessera run` SIGKILLed mid-run: the same command resumes, finished shards are not extracted again', async () => {
  const out = path.join(dir, 'embedded');
  const markers = path.join(dir, 'markers-embedded');
  fs.mkdirSync(markers, { recursive: true });
  const args = [
    'run',
    '--quiet',
    '--data',
    data,
    '--out',
    out,
    '--model',
    DEFAULT_MODEL,
    '--shard-size',
    '8',
    '--batch-size',
    '2',
    '--parallel-shards',
    '2',
    '--heartbeat-seconds',
    '3',
  ];
  const first = startTessera(args, { failpoint: 'extract-mid-shard', failpointDir: markers, failpointShard: 4 });
  started.push(first);
  await waitForFile(path.join(markers, 'extract-mid-shard'), first);
  await first.killHard(); // the dev server and the in-process worker with it (one process group)
  const finishedBeforeKill = fs
    .readdirSync(path.join(out, '.tessera', 'shards', 'train'))
    .map((name) => Number(/(\d+)/.exec(name)![1]));
  assert.ok(finishedBeforeKill.length >= 3, `shards finished before the kill: ${finishedBeforeKill.join(', ')}`);

  const again = startTessera(args);
  started.push(again);
  assert.equal(await again.exited, 0, again.output());
  await assertLikeReference(out);
  const shards = manifestShards(out);
  for (const shard of finishedBeforeKill) {
    assert.deepEqual(outcomes(shards[shard]!), ['extracted'], `shard ${shard}, finished before the kill, ran once`);
  }
  const interrupted = shards.filter((s) => outcomes(s).includes('interrupted'));
  const atFailpoint = interrupted.find((s) => s.shard === 4);
  assert.ok(
    atFailpoint,
    `shard 4, held at the failpoint, was interrupted (${interrupted.map((s) => s.shard).join(', ')})`,
  );
  // Beside it, at most the shard taken in its tail (or the one whose tail it started in).
  assert.ok(interrupted.length <= 2, `at most two shards in flight: ${interrupted.map((s) => s.shard).join(', ')}`);
  for (const shard of interrupted)
    assert.deepEqual(outcomes(shard), ['interrupted', 'extracted'], `shard ${shard.shard}`);
  assert.equal(new Set(atFailpoint.attempts.map((a) => a.worker)).size, 2, 'the second attempt ran in the new process');
});

test('the dev server SIGKILLed mid-run and restarted on its state file: the worker reconnects and the run completes', async () => {
  const out = path.join(dir, 'server-restart');
  const own = await startDevServer({ dbFile: path.join(dir, 'temporal-restart', 'state.db') });
  const [host, port] = own.address.split(':') as [string, string];
  const steady = worker({ address: own.address });
  const ownConnection = await Connection.connect({ address: own.address });
  await new Client({ connection: ownConnection }).workflow.start<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: 'crash-server-restart',
    args: [configFor(out)],
  });
  await ownConnection.close();
  const reports = path.join(out, '.tessera', 'shards', 'train');
  await waitUntil(() => fs.existsSync(reports) && fs.readdirSync(reports).length >= 2, 'two shards done', {
    watched: steady,
    timeoutMs: 120_000,
  });
  own.process.kill('SIGKILL');
  await new Promise((resolve) => own.process.once('exit', resolve));
  const doneAtKill = fs.readdirSync(reports).length;
  assert.ok(doneAtKill < SHARDS, 'the server died mid-run');

  const restarted = await startDevServer({
    dbFile: path.join(dir, 'temporal-restart', 'state.db'),
    ip: host,
    port: Number(port),
  });
  const restartedConnection = await Connection.connect({ address: restarted.address });
  try {
    await new Client({ connection: restartedConnection }).workflow.getHandle('crash-server-restart').result();
  } finally {
    await restartedConnection.close();
    await steady.killHard();
    await restarted.stop();
  }
  await assertLikeReference(out);
});

test('two inference workers at once: every shard extracted once, by both workers, no duplicate rows', async () => {
  const out = path.join(dir, 'two-workers');
  worker();
  worker({ queues: 'inference' });
  await client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: 'crash-two-workers',
    args: [configFor(out)],
  });
  await assertLikeReference(out);
  const shards = manifestShards(out);
  for (const shard of shards) assert.deepEqual(outcomes(shard), ['extracted'], `shard ${shard.shard}`);
  const workers = new Set(shards.flatMap((s) => s.attempts.map((a) => a.worker)));
  assert.equal(workers.size, 2, `shards were spread over both workers: ${[...workers].join(', ')}`);
});

test('a shard file damaged while compaction was down: the successor extracts that shard again at once, the rows are unchanged', async () => {
  const out = path.join(dir, 'damaged-before-compaction');
  for (const proc of started) await proc.killHard(); // earlier tests' workers would take the compaction
  fs.rmSync(path.join(dir, 'markers', 'compact-mid'), { force: true });
  const doomed = worker({ failpoint: 'compact-mid' });
  const handle = await client.workflow.start<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: 'crash-damaged-shard',
    args: [configFor(out)],
  });
  await waitForFile(path.join(dir, 'markers', 'compact-mid'), doomed);
  // The failpoint waits for every shard's report, which each shard's activity writes just before
  // it reports back: killed in between, the last shard to finish is taken again (and reused).
  // Compaction is what goes down here, so the kill waits until Temporal has the extraction done.
  const extraction = client.workflow.getHandle(`crash-damaged-shard--train-shards-0-${SHARDS - 1}`);
  await waitUntil(async () => (await extraction.describe()).status.name === 'COMPLETED', 'the extraction', {
    watched: doomed,
  });
  await doomed.killHard();
  const shardFile = path.join(out, 'shards', 'shard-00003.parquet');
  const bytes = fs.readFileSync(shardFile);
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
  fs.writeFileSync(shardFile, bytes);

  const successor = worker();
  await handle.result();
  await successor.killHard();
  await assertLikeReference(out);
  const shards = manifestShards(out);
  assert.deepEqual(outcomes(shards[3]!), ['extracted', 'extracted'], 'the damaged shard was extracted again');
  for (const shard of shards.filter((s) => s.shard !== 3))
    assert.deepEqual(outcomes(shard), ['extracted'], `shard ${shard.shard}`);
});
