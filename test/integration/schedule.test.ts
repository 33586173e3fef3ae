/**
 * `tessera schedule` on a real dev server: create (every 24 h, overlap skip, 1 h catch-up window),
 * trigger now, a second trigger skipped while the first run is running, the run's own output
 * folder named by its scheduled time, then pause and delete. The workers start held, so the first
 * run is certainly still open at the second trigger (a small run can finish within the second a
 * CLI process needs to start).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { compactUtcTime } from '../../lib/run/output-template.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { startTessera, waitUntil } from '../support/processes.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

let dir: string;
let data: string;
let temporal: TemporalHarness;

async function tessera(...args: string[]): Promise<{ code: number | null; output: string }> {
  const proc = startTessera([...args, ...temporal.cliFlags]);
  const code = await proc.exited;
  return { code, output: proc.output() };
}

/** `schedule list` reads Temporal's visibility store, which may lag a moment behind a change. */
async function listEventually(pattern: RegExp, present: boolean): Promise<string> {
  let output = '';
  const shows = async () => pattern.test((output = (await tessera('schedule', 'list')).output)) === present;
  await waitUntil(shows, `schedule list ${present ? 'showing' : 'no longer showing'} ${pattern}`, {
    timeoutMs: 15_000,
  }).catch(() => assert.fail(`schedule list ${present ? 'never showed' : 'still shows'} ${pattern}:\n${output}`));
  return output;
}

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('schedule');
  data = path.join(dir, 'data');
  await generateSampleData({ dir: data, images: 44, classes: 4, seed: 9 });
  temporal = await startTemporal(dir, undefined, { holdWorkers: true });
});

after(async () => {
  await temporal?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a schedule runs into a folder named by its scheduled time, skips overlaps, and can be paused and deleted', async () => {
  const template = path.join(dir, 'runs', 'nightly-{scheduledTime}');
  const created = await tessera(
    'schedule',
    'create',
    '--id',
    'nightly',
    '--every',
    '24h',
    '--data',
    data,
    '--out',
    template,
    '--shard-size',
    '16',
  );
  assert.equal(created.code, 0, created.output);
  assert.match(created.output, /schedule nightly created: every 24h, outputs .*nightly-\{scheduledTime\}/);

  await listEventually(/^nightly\tactive\tnext \d{4}-/m, true);

  const handle = temporal.client.schedule.getHandle('nightly');
  assert.equal((await tessera('schedule', 'trigger', '--id', 'nightly')).code, 0);
  let description = await handle.describe();
  await waitUntil(
    async () => (description = await handle.describe()).info.recentActions.length > 0,
    'the triggered run',
    { timeoutMs: 30_000 },
  );
  const [action] = description.info.recentActions;
  assert.ok(action, 'the trigger started a run');
  assert.match(action.action.workflow.workflowId, /^tessera-schedule-nightly-/);
  // The first run is open (started, no worker has taken it yet): a second trigger is skipped.
  assert.equal((await tessera('schedule', 'trigger', '--id', 'nightly')).code, 0);
  temporal.releaseWorkers();

  const result = await temporal.client.workflow
    .getHandle<ExtractVectorsWorkflow>(action.action.workflow.workflowId)
    .result();
  const expectedOut = path.join(dir, 'runs', `nightly-${compactUtcTime(action.scheduledAt)}`);
  assert.equal(result.out, expectedOut);
  assert.match(path.basename(result.out), /^nightly-\d{8}T\d{6}Z$/);
  assert.equal(result.counts.extractedImages, 40);
  assert.ok(fs.statSync(path.join(expectedOut, 'vectors.parquet')).size > 0);
  const manifest = JSON.parse(fs.readFileSync(path.join(expectedOut, 'manifest.json'), 'utf8')) as {
    workflow: { id: string };
    config: { out: string };
  };
  assert.equal(manifest.workflow.id, action.action.workflow.workflowId);
  assert.equal(manifest.config.out, expectedOut);

  description = await handle.describe();
  assert.equal(description.info.numActionsSkippedOverlap, 1, 'the second trigger was skipped: a run was still going');
  assert.equal(description.info.recentActions.length, 1);

  // A slot long past (as a catch-up after an outage would run it): the folder is named by the
  // slot, so the time comes from the schedule, not from when the run started.
  await handle.backfill({
    start: new Date('2020-01-01T00:00:00Z'),
    end: new Date('2020-01-01T00:00:01Z'),
    overlap: ScheduleOverlapPolicy.ALLOW_ALL,
  });
  const backfilled = path.join(dir, 'runs', 'nightly-20200101T000000Z');
  await waitUntil(() => fs.existsSync(path.join(backfilled, 'manifest.json')), 'the backfilled run');
  assert.ok(fs.existsSync(path.join(backfilled, 'vectors.parquet')), 'the 2020-01-01 slot ran into its own folder');
  assert.deepEqual(
    fs.readdirSync(path.join(dir, 'runs')).sort(),
    [path.basename(expectedOut), path.basename(backfilled)].sort(),
  );

  const described = await tessera('schedule', 'describe', '--id', 'nightly');
  assert.equal(described.code, 0, described.output);
  assert.match(described.output, /spec {6}every 24h/);
  assert.match(described.output, /policies {2}overlap SKIP, catch-up window 3600 s/);
  assert.match(described.output, /outputs {3}.*nightly-\{scheduledTime\}/);
  assert.match(described.output, /actions {3}2 taken, 1 skipped \(overlap\)/);

  assert.equal((await tessera('schedule', 'pause', '--id', 'nightly', '--note', 'dataset frozen')).code, 0);
  assert.match(
    (await tessera('schedule', 'describe', '--id', 'nightly')).output,
    /schedule {2}nightly \(paused: dataset frozen\)/,
  );
  await listEventually(/^nightly\tpaused/m, true);

  assert.equal((await tessera('schedule', 'delete', '--id', 'nightly')).code, 0);
  await listEventually(/nightly/, false);
  const gone = await tessera('schedule', 'describe', '--id', 'nightly');
  assert.equal(gone.code, 2);
  assert.match(gone.output, /no schedule with id nightly/);
});

test('schedule create refuses a schedule without a spec, and run refuses the scheduled-time template', async () => {
  const noSpec = await tessera('schedule', 'create', '--id', 'x', '--data', data, '--out', path.join(dir, 'x'));
  assert.equal(noSpec.code, 2);
  assert.match(noSpec.output, /exactly one of --cron EXPR or --every DURATION/);
  const badEvery = await tessera(
    'schedule',
    'create',
    '--id',
    'x',
    '--every',
    'daily',
    '--data',
    data,
    '--out',
    path.join(dir, 'x'),
  );
  assert.equal(badEvery.code, 2);
  assert.match(badEvery.output, /--every must be a duration such as 30m, 24h or 7d, got "daily"/);
  const templated = await tessera('run', '--data', data, '--out', path.join(dir, 'x-{scheduledTime}'));
  assert.equal(templated.code, 2);
  assert.match(templated.output, /\{scheduledTime\} is filled in only for scheduled runs/);
});

test('a schedule runs incrementally: a later run copies the vectors of unchanged images from the newest finished run, describe shows what each run reused, and --keep-runs removes older outputs', async () => {
  temporal.releaseWorkers(); // released by the first test, unless it failed before
  const grown = path.join(dir, 'grown');
  await generateSampleData({ dir: grown, images: 48, classes: 4, seed: 9 });
  const lines = fs.readFileSync(path.join(grown, 'train.csv'), 'utf8').trim().split('\n');
  const incData = path.join(dir, 'incremental-data');
  fs.cpSync(grown, incData, { recursive: true });
  fs.writeFileSync(path.join(incData, 'train.csv'), lines.slice(0, -4).join('\n') + '\n'); // 4 images arrive later

  const template = path.join(dir, 'incremental', 'run-{scheduledTime}');
  const created = await tessera(
    'schedule',
    'create',
    '--id',
    'inc',
    '--every',
    '24h',
    '--data',
    incData,
    '--out',
    template,
    '--shard-size',
    '16',
    '--keep-runs',
    '2',
  );
  assert.equal(created.code, 0, created.output);
  assert.match(created.output, /incremental \(each run reuses the newest finished run's vectors\)/);
  const handle = temporal.client.schedule.getHandle('inc');
  const runOnce = async (n: number) => {
    assert.equal((await tessera('schedule', 'trigger', '--id', 'inc')).code, 0);
    let actions = (await handle.describe()).info.recentActions;
    await waitUntil(
      async () => (actions = (await handle.describe()).info.recentActions).length >= n,
      `scheduled run ${n}`,
      { timeoutMs: 30_000 },
    );
    return temporal.client.workflow
      .getHandle<ExtractVectorsWorkflow>(actions[n - 1]!.action.workflow.workflowId)
      .result();
  };

  // Each run gets its own second, so its own folder: the next trigger waits until the clock has
  // left the second the last run was scheduled in.
  const nextSecond = async () => {
    const last = (await handle.describe()).info.recentActions.at(-1)!.scheduledAt.getTime();
    await waitUntil(() => Math.floor(Date.now() / 1000) > Math.floor(last / 1000), 'the next second', {
      timeoutMs: 5_000,
    });
  };

  const first = await runOnce(1);
  assert.equal(first.counts.reusedImages, 0, 'nothing to reuse yet');
  fs.copyFileSync(path.join(grown, 'train.csv'), path.join(incData, 'train.csv'));
  await nextSecond();
  const second = await runOnce(2);
  const throughModel = second.counts.extractedImages - second.counts.reusedImages;
  assert.ok(second.counts.reusedImages >= 30, `most images reused (${second.counts.reusedImages})`);
  assert.ok(
    throughModel >= 1 && throughModel <= 12,
    `the new images, and those that changed split, went through the model (${throughModel})`,
  );
  assert.deepEqual(second.reuse?.sources, [first.out]);

  const described = await tessera('schedule', 'describe', '--id', 'inc');
  assert.match(described.output, /outputs {3}.*run-\{scheduledTime\} \(incremental\), newest 2 kept/);
  assert.match(
    described.output,
    new RegExp(`completed: 0 images reused, ${first.counts.extractedImages} extracted, 0 errors → ${first.out}`),
  );
  assert.match(
    described.output,
    new RegExp(
      `completed: ${second.counts.reusedImages} images reused, ${throughModel} extracted, 0 errors → ${second.out}`,
    ),
  );

  await nextSecond();
  const third = await runOnce(3);
  assert.equal(third.counts.reusedImages, third.counts.extractedImages, 'nothing changed: every image reused');
  assert.deepEqual(
    fs.readFileSync(path.join(third.out, 'vectors.parquet')),
    fs.readFileSync(path.join(second.out, 'vectors.parquet')),
  );
  assert.deepEqual(third.removedRuns, [first.out]);
  assert.deepEqual(
    fs.readdirSync(path.join(dir, 'incremental')).sort(),
    [path.basename(second.out), path.basename(third.out)].sort(),
  );
  assert.equal((await tessera('schedule', 'delete', '--id', 'inc')).code, 0);
});
