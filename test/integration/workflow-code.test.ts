/**
 * An open run started by other workflow code (no workflow-code memo, or another version in it)
 * is restarted by the `tessera run` that finds it, not left to fail replay forever: terminated with
 * a reason that says so, started again on the current code, and finished from the folder's shards.
 * Real dev servers, real workers, real files and the committed model.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import protoPackage from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { submitRun } from '../../cli/submit-run.ts';
import { workflowIdForOutput } from '../../cli/workflow-id.ts';
import { DEFAULT_MODEL, PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { RunConfigSchema, type RunConfig } from '../../lib/core/run-config.ts';
import { outputLayout } from '../../lib/run-folder/layout.ts';
import { ManifestSchema } from '../../lib/run-folder/records.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { quietBundlerLogger } from '../../workers/create-workers.ts';
import { WORKFLOW_CODE_MEMO, WORKFLOW_CODE_VERSION } from '../../workflows/workflow-code.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { waitUntil } from '../support/processes.ts';
import { preparePhotos, writePhotoDataset } from '../support/photos.ts';

const { EventType } = protoPackage.temporal.api.enums.v1;
const EARLIER_CODE = path.join(PROJECT_ROOT, 'test', 'fixtures', 'workflows', 'earlier-workflow-code.ts');
const IDS = [1, 2, 3, 4, 5, 81, 82, 83, 84, 85].map((n) => `image_${String(n).padStart(4, '0')}.jpg`);

let dir: string;
let config: RunConfig;
let temporal: TemporalHarness;

before(async () => {
  requireSetup('model', 'temporal');
  await preparePhotos(IDS);
  dir = tempDir('workflow-code');
  const data = path.join(dir, 'data');
  writePhotoDataset(data, IDS);
  const out = path.join(dir, 'out');
  config = RunConfigSchema.parse({ data, out, model: DEFAULT_MODEL, shardSize: 4, batchSize: 4, keepShards: true });
  // The folder's shards, extracted by a run on a server of its own: the runs below find them done.
  const first = await startTemporal(path.join(dir, 'first'), [dir]);
  try {
    await submitRun(config, { target: first.target, quiet: true });
  } finally {
    await first.stop();
  }
});

after(async () => {
  await temporal?.stop();
});

/**
 * On a server of its own whose tessera workers wait: starts the folder's run on the earlier code
 * and waits until that code has run (its first task completed). Then the workers start.
 */
async function startOnEarlierCode(name: string, memo: Record<string, unknown> | undefined): Promise<string> {
  await temporal?.stop();
  temporal = await startTemporal(path.join(dir, name), [dir], { holdWorkers: true });
  const connection = await NativeConnection.connect({ address: temporal.server.address });
  const earlier = await Worker.create({
    connection,
    namespace: temporal.target.namespace,
    taskQueue: TASK_QUEUES.cpu,
    workflowBundle: await bundleWorkflowCode({ workflowsPath: EARLIER_CODE, logger: quietBundlerLogger }),
  });
  const workflowId = workflowIdForOutput(config.out);
  let runId = '';
  await earlier.runUntil(async () => {
    const handle = await temporal.client.workflow.start(WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUES.cpu,
      workflowId,
      args: [config],
      ...(memo ? { memo } : {}),
    });
    runId = handle.firstExecutionRunId;
    await waitUntil(async () => {
      const history = await temporal.client.workflow.getHandle(workflowId, runId).fetchHistory();
      return (history.events ?? []).some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    }, 'the earlier code has run');
  });
  await connection.close();
  temporal.releaseWorkers();
  return runId;
}

/** `tessera run` on the folder: must finish, not wait forever on a run that cannot replay. */
async function runAgain() {
  fs.rmSync(outputLayout(config.out).manifest); // unfinished again: the run has its shards to find
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('tessera run hung on a run of other workflow code')), 120_000);
  });
  try {
    return await Promise.race([submitRun(config, { target: temporal.target, quiet: true }), hung]);
  } finally {
    clearTimeout(timer);
  }
}

async function assertRestarted(runId: string, recorded: string): Promise<void> {
  const workflowId = workflowIdForOutput(config.out);
  const old = temporal.client.workflow.getHandle(workflowId, runId);
  assert.equal((await old.describe()).status.name, 'TERMINATED');
  const events = (await old.fetchHistory()).events ?? [];
  const reason = events.at(-1)?.workflowExecutionTerminatedEventAttributes?.reason ?? '';
  assert.match(
    reason,
    new RegExp(`started by tessera workflow code ${recorded}.*workflow code ${WORKFLOW_CODE_VERSION}`),
  );
  assert.match(reason, /restarted/);
  const current = await temporal.client.workflow.getHandle(workflowId).describe();
  assert.notEqual(current.runId, runId);
  assert.equal(current.memo?.[WORKFLOW_CODE_MEMO], WORKFLOW_CODE_VERSION, 'the new run records its code');
  const manifest = ManifestSchema.parse(JSON.parse(fs.readFileSync(outputLayout(config.out).manifest, 'utf8')));
  assert.deepEqual(
    manifest.shards.map((shard) => shard.attempts.at(-1)!.outcome),
    ['reused', 'reused'],
    "the folder's finished shards are reused",
  );
}

test('a run started by earlier workflow code (no memo) is restarted on the current code and finishes from its shards', async () => {
  const runId = await startOnEarlierCode('unrecorded', undefined);
  const { summary } = await runAgain();
  assert.equal(summary?.counts.extractedImages, 8);
  await assertRestarted(runId, String.raw`\(unrecorded`);
});

test('a run that records another workflow code version is restarted too', async () => {
  const runId = await startOnEarlierCode('other-version', { [WORKFLOW_CODE_MEMO]: WORKFLOW_CODE_VERSION - 1 });
  const { summary } = await runAgain();
  assert.equal(summary?.counts.extractedImages, 8);
  await assertRestarted(runId, String(WORKFLOW_CODE_VERSION - 1));
});
