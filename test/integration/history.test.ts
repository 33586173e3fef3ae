/**
 * Workflow history stays bounded at 1,000,000 images: the real workflows, the real split and
 * shard planning, and a stand-in for extraction, compaction and the manifest (test-only activities
 * that return what the real ones would, without images). Temporal caps one execution at 51,200
 * events; no execution here may come near that.
 *
 * What a history holds grows with the number of shards, not of images: a shard is one activity
 * whatever its size (its input is the config, split and shard number; its result a summary of
 * fixed fields), and the run's children are cut by shard count. So the run here has the 977 shards
 * of 1,000,000 images at the default 1,024 per shard, but of one image each: the same histories,
 * without splitting and planning a million rows, which took 94 s of this test's 150 s on a busy
 * machine (split-streamed.test.ts streams a million-row CSV through the split).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { ShardSummary } from '../../activities/inference-activities.ts';
import { createCpuActivities } from '../../activities/cpu-activities.ts';
import { resolveWorkerRoots } from '../../lib/run-folder/confinement.ts';
import type { CompactSummary } from '../../lib/compact/compact.ts';
import type { FollowedCompaction } from '../../lib/compact/follow-extraction.ts';
import { parseRunConfig, type RunConfig, type Split } from '../../lib/core/run-config.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { runLayout } from '../../lib/run-folder/layout.ts';
import type { RunSummary } from '../../lib/core/run-summary.ts';
import { FOLLOWING_COMPACTION_QUEUE, TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { SHARDS_PER_CHILD } from '../../workflows/extract-shard-range.ts';
import {
  logSdkToFile,
  requireSetup,
  tempDir,
  testServer,
  type TestServer,
  workflowBundle,
} from '../support/environment.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

/** The shards of 1,000,000 images at the default shard size. */
const SHARDS = Math.ceil(1_000_000 / 1024);
let dir: string;
let server: TestServer;
let connection: Connection;
let client: Client;

/** What extractShard returns, from the shard's real plan file, without reading an image. */
async function standInExtractShard(config: RunConfig, split: Split, shard: number): Promise<ShardSummary> {
  const plan = JSON.parse(await fs.promises.readFile(runLayout(config).split(split).plan(shard), 'utf8')) as {
    images: unknown[];
  };
  const images = plan.images.length;
  return {
    split,
    shard,
    images,
    extracted: images,
    rows: images * 64,
    channels: 1280,
    grid: [8, 8],
    parquet: null,
    seconds: 0,
    errorCount: 0,
  };
}

const standInCpu = {
  async writeErrors(): Promise<number> {
    return 0;
  },
  async compact(_config: RunConfig, split: Split, shardCount: number): Promise<CompactSummary> {
    return {
      split,
      rows: 0,
      images: shardCount,
      extracted: 0,
      reused: 0,
      errors: 0,
      tilesPerImage: 64,
      channels: 1280,
      bytes: 0,
      seconds: 0,
    };
  },
  async followExtraction(_config: RunConfig, split: Split, shardCount: number): Promise<FollowedCompaction> {
    return {
      split,
      temp: 'stand-in',
      sha256: '',
      shards: Array.from({ length: shardCount }, () => ({ parquet: null, parquetSha256: null })),
      seconds: 0,
    };
  },
  async publishFollowed(_config: RunConfig, followed: FollowedCompaction): Promise<CompactSummary> {
    return {
      split: followed.split,
      rows: 0,
      images: followed.shards.length,
      extracted: 0,
      reused: 0,
      errors: 0,
      tilesPerImage: 64,
      channels: 1280,
      bytes: 0,
      seconds: 0,
    };
  },
  async writeManifest(): Promise<string> {
    return 'manifest.json (stand-in)';
  },
};

before(async () => {
  requireSetup();
  dir = tempDir('history');
  fs.mkdirSync(path.join(dir, 'data', 'images'), { recursive: true });
  const lines = ['image_id,hotel_id'];
  for (let k = 0; k < SHARDS; k++) lines.push(`img_${k}.jpg,${k % 50}`);
  fs.writeFileSync(path.join(dir, 'data', 'train.csv'), lines.join('\n') + '\n');
  logSdkToFile();
  server = await testServer(dir);
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection, namespace: server.namespace });
});

after(async () => {
  await connection?.close();
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('1,000,000 images (977 shards): the run and each shard-range child stay within a few thousand history events', async () => {
  const native = await NativeConnection.connect({ address: server.address });
  const { namespace } = server;
  const real = createCpuActivities(await resolveWorkerRoots([dir]));
  const cpu = await Worker.create({
    connection: native,
    namespace,
    taskQueue: TASK_QUEUES.cpu,
    workflowBundle: await workflowBundle(),
    activities: {
      preflight: real.preflight,
      prepareSplit: real.prepareSplit,
      planShards: real.planShards,
      ...standInCpu,
    },
    maxConcurrentActivityTaskExecutions: 2,
  });
  const inference = await Worker.create({
    connection: native,
    namespace,
    taskQueue: TASK_QUEUES.inference,
    activities: { extractShard: standInExtractShard },
    maxConcurrentActivityTaskExecutions: 16,
  });
  const following = await Worker.create({
    connection: native,
    namespace,
    taskQueue: FOLLOWING_COMPACTION_QUEUE,
    activities: { followExtraction: standInCpu.followExtraction },
  });
  const config = parseRunConfig({
    data: path.join(dir, 'data'),
    out: path.join(dir, 'out'),
    model: DEFAULT_MODEL,
    valSamples: 0,
    shardSize: 1,
  });
  assert.ok(config.ok);
  const workflowId = 'history-1m';
  let summary: RunSummary | undefined;
  await cpu.runUntil(
    inference.runUntil(
      following.runUntil(async () => {
        summary = await client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
          taskQueue: TASK_QUEUES.cpu,
          workflowId,
          args: [config.config],
        });
      }),
    ),
  );
  await native.close();

  const shards = SHARDS;
  assert.equal(summary?.counts.shards, shards);
  assert.equal(summary?.counts.trainingImages, shards);
  const parentEvents = (await client.workflow.getHandle(workflowId).fetchHistory()).events?.length ?? 0;
  const children = Math.ceil(shards / SHARDS_PER_CHILD);
  // A few events per stage and per child: nothing grows with the number of shards.
  assert.ok(parentEvents < 200, `the run's own history has ${parentEvents} events`);
  let childShards = 0;
  const childEvents: number[] = [];
  for (let first = 0; first < shards; first += SHARDS_PER_CHILD) {
    const last = Math.min(first + SHARDS_PER_CHILD, shards) - 1;
    const history = await client.workflow.getHandle(`${workflowId}--train-shards-${first}-${last}`).fetchHistory();
    const events = history.events?.length ?? 0;
    const count = last - first + 1;
    const completed = history.events?.filter((event) => event.activityTaskCompletedEventAttributes).length ?? 0;
    assert.equal(completed, count, `child ${first}-${last} ran its ${count} shards`);
    assert.ok(
      events < 7 * count + 50 && events < 2_000,
      `child ${first}-${last}: ${events} events for ${count} shards`,
    );
    childShards += completed;
    childEvents.push(events);
  }
  assert.equal(childShards, shards);
  assert.equal(children, 4);
  console.log(`history events: run ${parentEvents}; children ${childEvents.join(', ')}; ${shards} shards`);
});
