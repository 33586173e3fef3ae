/**
 * Compaction that follows extraction: the run starts each split's compaction beside its extraction,
 * and the compaction copies every shard as soon as the shard's report is there for this plan. Real
 * Temporal, real onnxruntime, real DuckDB; the follow mode itself is driven shard by shard here by
 * putting a finished run's reports back one at a time.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { compact } from '../../lib/compact/compact.ts';
import { followExtraction, publishFollowed } from '../../lib/compact/follow-extraction.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { parseRunConfig, type RunConfig, type RunConfigInput } from '../../lib/core/run-config.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { runLayout } from '../../lib/run-folder/layout.ts';
import type { RunSummary } from '../../lib/core/run-summary.ts';
import { FOLLOWING_COMPACTION_QUEUE, TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { waitUntil } from '../support/processes.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

let dir: string;
let data: string;
let temporal: TemporalHarness;

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('follows');
  data = path.join(dir, 'data');
  await generateSampleData({ dir: data, images: 30, classes: 3, size: 256 });
  temporal = await startTemporal(dir);
});

after(async () => {
  await temporal?.stop();
});

const inputFor = (name: string): RunConfigInput => ({
  data,
  out: path.join(dir, name),
  model: DEFAULT_MODEL,
  splits: ['train', 'val'],
  valSamples: 2,
  shardSize: 4,
  batchSize: 4,
  parallelShards: 1,
  keepShards: true,
});

function configOf(input: RunConfigInput): RunConfig {
  const parsed = parseRunConfig(input);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.config;
}

async function run(name: string): Promise<{ summary: RunSummary; workflowId: string }> {
  const workflowId = `follows-${name}-${path.basename(dir)}`;
  const summary = await temporal.client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId,
    args: [inputFor(name)],
  });
  return { summary, workflowId };
}

/**
 * followExtraction with its every look at the reports counted (checkCancelled runs before each
 * read of a report). `stillWaiting()` holds when it has looked three more times since the call
 * (so it has seen whatever the test just wrote) and has not returned: a condition, not a pause.
 */
function countedFollower(config: RunConfig, checkCancelled: () => void = () => {}) {
  let looks = 0;
  let settled = false;
  const following = followExtraction(config, 'train', 6, () => {
    looks++;
    checkCancelled();
  });
  following.then(
    () => (settled = true),
    () => (settled = true),
  );
  const stillWaiting = async (what: string) => {
    const from = looks;
    await waitUntil(() => settled || looks >= from + 3, what, { timeoutMs: 30_000 });
    return !settled;
  };
  return { following, stillWaiting };
}

test("a run starts each split's compaction beside its extraction and uses it: one compaction per split, started before its shards", async () => {
  const { summary, workflowId } = await run('run');
  assert.equal(summary.counts.extractedImages, 24);
  assert.equal(summary.counts.validationExtractedImages, 6);
  const events = (await temporal.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = (type: string) =>
    events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type);
  const compactions = scheduled('followExtraction');
  assert.equal(compactions.length, 2, 'one following compaction per split');
  assert.equal(scheduled('publishFollowed').length, 2, 'each published once extraction was done');
  assert.equal(scheduled('compact').length, 0, 'none compacted afresh');
  for (const event of compactions)
    assert.equal(
      event.activityTaskScheduledEventAttributes?.taskQueue?.name,
      FOLLOWING_COMPACTION_QUEUE,
      "on the followers' own queue, not taking the cpu queue's slots",
    );
  const children = events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
  assert.equal(children.length, 2, 'one shard range per split');
  // train's compaction is scheduled before train's shards start, val's before val's.
  assert.ok(Number(compactions[0]!.eventId) < Number(children[0]!.eventId));
  assert.ok(Number(compactions[1]!.eventId) < Number(children[1]!.eventId));
  assert.ok(
    Number(compactions[1]!.eventId) > Number(children[0]!.eventId),
    "val's compaction waits for val's extraction to start",
  );
  // The same bytes as a compaction run after extraction on the same shards.
  const config = configOf(inputFor('run'));
  for (const split of ['train', 'val'] as const) {
    const vectors = runLayout(config).split(split).vectors;
    const followed = fs.readFileSync(vectors);
    await compact(config, split, split === 'train' ? 6 : 2);
    assert.ok(
      followed.equals(fs.readFileSync(vectors)),
      `${split}: followed and afterwards compactions wrote the same file`,
    );
  }
});

const scratchTemps = (config: RunConfig) => {
  const scratch = path.join(config.out, '.tessera', 'duckdb-tmp', 'train');
  return fs.existsSync(scratch) ? fs.readdirSync(scratch).filter((name) => name.endsWith('.tmp')) : [];
};

test(
  "following: each shard is taken once its report is there for this plan; another plan's report is waited past",
  { timeout: 120_000 },
  async () => {
    await run('driven');
    const config = configOf(inputFor('driven'));
    const files = runLayout(config).split('train');
    const original = fs.readFileSync(files.vectors);
    const aside = path.join(dir, 'driven-reports');
    fs.renameSync(files.reports, aside);
    fs.mkdirSync(files.reports);
    fs.rmSync(files.vectors);

    const { following, stillWaiting } = countedFollower(config);
    // shard 0's report, but written for other images (and pointing at shard 1's rows): not this
    // plan's, so not taken; taken, it would put shard 1's rows first and fail the order check.
    type Report = { parquet: string; parquetSha256: string; lineage: { images: [number, string, number][] } };
    const report = JSON.parse(fs.readFileSync(path.join(aside, 'shard-00000.json'), 'utf8')) as Report;
    const shardOne = JSON.parse(fs.readFileSync(path.join(aside, 'shard-00001.json'), 'utf8')) as Report;
    report.lineage.images[0]![1] = 'another-image.jpg';
    fs.writeFileSync(
      files.report(0),
      JSON.stringify({ ...report, parquet: shardOne.parquet, parquetSha256: shardOne.parquetSha256 }),
    );
    assert.ok(await stillWaiting("looks at the other plan's report"), 'still waiting with no report of this plan');
    for (let shard = 0; shard < 6; shard++) {
      fs.copyFileSync(path.join(aside, `shard-0000${shard}.json`), files.report(shard));
      if (shard < 5) assert.ok(await stillWaiting(`looks after shard ${shard}`), `still waiting after shard ${shard}`);
    }
    const followed = await following;
    assert.equal(fs.existsSync(files.vectors), false, 'nothing published before the run says extraction is done');
    assert.deepEqual(scratchTemps(config), [path.basename(followed.temp)]);
    const summary = await publishFollowed(config, followed);
    assert.equal(summary?.extracted, 24);
    assert.ok(original.equals(fs.readFileSync(files.vectors)), 'the same vectors file as the run wrote');
    assert.deepEqual(scratchTemps(config), []);
  },
);

test(
  'following: a shard extracted again after it was copied is caught when publishing: nothing published, no file left',
  { timeout: 120_000 },
  async () => {
    await run('redone');
    const config = configOf(inputFor('redone'));
    const files = runLayout(config).split('train');
    const before = fs.readFileSync(files.vectors);
    const followed = await followExtraction(config, 'train', 6);
    // Shard 1 extracted again after the copy (its image changed, say): another file, another report.
    const report = JSON.parse(fs.readFileSync(files.report(1), 'utf8')) as { parquet: string; parquetSha256: string };
    const redone = `${report.parquet.replace('.parquet', '')}-again.parquet`;
    fs.copyFileSync(path.join(files.shards, report.parquet), path.join(files.shards, redone));
    fs.writeFileSync(files.report(1), JSON.stringify({ ...report, parquet: redone }));
    // The file comes back through the workflow's history: a path outside the split's scratch folder is refused, not moved.
    const outside = path.join(dir, 'not-followed.tmp');
    fs.writeFileSync(outside, 'a user file');
    await assert.rejects(
      publishFollowed(config, { ...followed, temp: outside }),
      /is not a followed compaction file of/,
    );
    assert.equal(fs.readFileSync(outside, 'utf8'), 'a user file');
    assert.equal(await publishFollowed(config, followed), null);
    assert.deepEqual(scratchTemps(config), [], 'the followed file is removed');
    assert.ok(before.equals(fs.readFileSync(files.vectors)), 'the vectors file is not replaced');
  },
);

test('following: cancelled while it waits, it stops and removes its temporary file', { timeout: 120_000 }, async () => {
  await run('cancelled');
  const config = configOf(inputFor('cancelled'));
  const files = runLayout(config).split('train');
  fs.rmSync(files.reports, { recursive: true });
  fs.mkdirSync(files.reports);
  let cancelled = false;
  const { following, stillWaiting } = countedFollower(config, () => {
    if (cancelled) throw new Error('cancelled by the test');
  });
  assert.ok(await stillWaiting('looks at the empty reports folder'));
  assert.equal(scratchTemps(config).length, 1, 'the file it writes into while it follows');
  cancelled = true;
  await assert.rejects(following, /cancelled by the test/);
  assert.deepEqual(scratchTemps(config), []);
});
