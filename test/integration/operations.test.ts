/**
 * Operating a run on a cluster, with real processes: one worker process per task queue (CPU and
 * inference, as on separate machines), JSON logs, the Prometheus endpoint, `tessera status`,
 * `tessera cancel` mid-run and the same run resumed, and the run's page in the Temporal UI.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { freePort, startDevServer, type DevServer } from '../../lib/dev/dev-server.ts';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import type { RunSummary } from '../../lib/core/run-summary.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { ManifestSchema, type ManifestShard } from '../../lib/run-folder/records.ts';
import { workflowIdForOutput } from '../../cli/workflow-id.ts';
import { StatusReportSchema } from '../../lib/run/run-status.ts';
import { readProgress } from '../../cli/progress.ts';
import { requireSetup, tempDir } from '../support/environment.ts';
import type { Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, waitForFile, waitUntil, type TesseraProcess } from '../support/processes.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

// 900 training images in shards of 300 (several seconds each). Two shards are scheduled at once
// but the one inference worker runs one: a cancel finds one shard running and one waiting.
const SHARDS = 3;
let dir: string;
let data: string;
let out: string;
let server: DevServer;
let client: Client;
let connection: Connection;
let cpuWorker: TesseraProcess;
let inferenceWorker: TesseraProcess;
let metricsAddress: string;
/** The finished run the later tests look at: the first test's (cancelled, then resumed), or one of their own when run alone. */
let finished: Promise<RunSummary> | undefined;

function finishedRun(): Promise<RunSummary> {
  finished ??= (async () => {
    const run = await tessera(['run', ...runArgs()]);
    assert.equal(run.code, 0, run.output);
    return await client.workflow.getHandle<ExtractVectorsWorkflow>(workflowIdForOutput(out)).result();
  })();
  return finished;
}

const runArgs = () => [
  '--address',
  server.address,
  '--data',
  data,
  '--out',
  out,
  '--shard-size',
  '300',
  '--batch-size',
  '4',
  '--parallel-shards',
  '2',
  '--heartbeat-seconds',
  '5',
];

async function tessera(args: string[]): Promise<{ code: number | null; output: string }> {
  const proc = startTessera(args);
  const code = await proc.exited;
  return { code, output: proc.output() };
}

function jsonLogLines(proc: TesseraProcess): Record<string, unknown>[] {
  return proc
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function manifestShards(): ManifestShard[] {
  return ManifestSchema.parse(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'))).shards;
}

function filesNamed(folder: string, suffix: string): string[] {
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith(suffix));
}

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('operations');
  data = path.join(dir, 'data');
  out = path.join(dir, 'out');
  await generateSampleData({ dir: data, images: 904, classes: 4, seed: 5 }); // 4 validation rows
  server = await startDevServer({ dbFile: path.join(dir, 'temporal', 'state.db') });
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection });
  metricsAddress = `127.0.0.1:${await freePort()}`;
  cpuWorker = startTessera([
    'worker',
    '--address',
    server.address,
    '--allow-root',
    dir,
    '--queues',
    'cpu',
    '--log-format',
    'json',
    '--metrics-address',
    metricsAddress,
  ]);
  inferenceWorker = startTessera([
    'worker',
    '--address',
    server.address,
    '--allow-root',
    dir,
    '--queues',
    'inference',
    '--log-format',
    'json',
  ]);
});

after(async () => {
  await connection?.close();
  await cpuWorker?.killHard();
  await inferenceWorker?.killHard();
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('status shows a running run, cancel stops it without half-written files, and the same command resumes it', async () => {
  const run = startTessera(['run', ...runArgs(), '--quiet']);
  // While shard 0 runs, its heartbeats are the only progress: wait for them, then ask for the status.
  const handle = client.workflow.getHandle(workflowIdForOutput(out));
  await waitUntil(
    async () => ((await readProgress(client, handle))?.imagesSeen ?? 0) >= 8,
    'heartbeats of a running shard',
    { watched: run },
  );
  const status = await tessera(['status', '--address', server.address, '--out', out, '--json']);
  assert.equal(status.code, 0, status.output);
  const running = StatusReportSchema.parse(JSON.parse(status.output));
  assert.equal(running.status, 'RUNNING');
  assert.equal(running.state, 'running');
  assert.equal(running.source, 'server');
  assert.equal(running.workflowId, workflowIdForOutput(out));
  assert.match(running.summary ?? '', /tessera: tile vectors of data → /);
  assert.ok(running.progress, 'progress while running');
  assert.equal(running.progress.stage, 'extract');
  assert.equal(running.progress.shardsTotal, SHARDS);
  assert.equal(running.progress.imagesTotal, 900);
  assert.ok(running.progress.imagesSeen >= 8, `images seen ${running.progress.imagesSeen}`);
  assert.ok(running.progress.running.length <= 1, 'the waiting shard has no heartbeat');
  for (const shard of running.progress.running) assert.equal(shard.split, 'train');
  assert.ok(
    running.progress.imagesPerSecond !== null &&
      running.progress.imagesPerSecond > 0 &&
      running.progress.etaSeconds !== null &&
      running.progress.etaSeconds > 0,
  );
  const text = await tessera(['status', '--address', server.address, '--out', out]);
  assert.match(text.output, /state {5}running\n/);
  assert.match(text.output, /shards {4}[01]\/3 done/);

  // Cancel as soon as shard 0 is finished: shard 1 (several seconds of work) is then in flight.
  await waitForFile(path.join(out, '.tessera', 'shards', 'train', 'shard-00000.json'), run);
  const cancel = await tessera(['cancel', '--address', server.address, '--out', out]);
  assert.equal(cancel.code, 0, cancel.output);
  assert.match(cancel.output, /CANCELLED; finished shards are kept/);
  assert.equal(await run.exited, 3, run.output());
  assert.match(run.output(), /was cancelled; the same command resumes it/);

  // The workflow waited for its activity to stop: nothing is left being written.
  assert.deepEqual([...filesNamed(out, '.tmp')], [], 'no temporary files after the cancel');
  assert.equal(fs.existsSync(path.join(out, 'vectors.parquet')), false);
  const reports = filesNamed(path.join(out, '.tessera', 'shards', 'train'), '.json').length;
  assert.ok(reports >= 1 && reports < SHARDS, `${reports} shards finished before the cancel`);
  const attemptLines = filesNamed(path.join(out, '.tessera', 'attempts', 'train'), '.jsonl')
    .flatMap((name) =>
      fs
        .readFileSync(path.join(out, '.tessera', 'attempts', 'train', name), 'utf8')
        .trim()
        .split('\n'),
    )
    .map((line) => JSON.parse(line) as { event: string });
  assert.equal(
    attemptLines.filter((line) => line.event === 'cancelled').length,
    1,
    `the shard in flight stopped at a heartbeat and recorded it: ${JSON.stringify(attemptLines)}\n${inferenceWorker.output().slice(-3000)}`,
  );
  const { status: closed } = await client.workflow.getHandle(workflowIdForOutput(out)).describe();
  assert.equal(closed.name, 'CANCELLED');

  // The shard-range child closed only after its running activity had stopped: every activity in
  // its history ended (completed, or cancelled and confirmed) before the child's own cancellation.
  const child =
    (await client.workflow.getHandle(`${workflowIdForOutput(out)}--train-shards-0-2`).fetchHistory()).events ?? [];
  const count = (kind: string) => child.filter((event) => event[kind as keyof typeof event]).length;
  assert.ok(count('workflowExecutionCanceledEventAttributes') === 1, 'the child was cancelled');
  assert.equal(
    count('activityTaskScheduledEventAttributes'),
    count('activityTaskCompletedEventAttributes') + count('activityTaskCanceledEventAttributes'),
  );
  assert.ok(count('activityTaskCanceledEventAttributes') >= 1, 'the running shard was cancelled');

  const resumed = await tessera(['run', ...runArgs()]);
  assert.equal(resumed.code, 0, resumed.output);
  const summary = await handle.result();
  finished = Promise.resolve(summary);
  assert.equal(summary.counts.extractedImages, 900);
  assert.equal(summary.counts.rows, 900 * 64);
  const shards = manifestShards();
  assert.equal(shards.length, SHARDS);
  const outcomes = shards.map((s) => s.attempts.map((a) => a.outcome).join(','));
  assert.equal(
    outcomes.filter((o) => o === 'extracted,reused').length,
    reports,
    'shards finished before the cancel were reused, not redone',
  );
  assert.equal(outcomes.filter((o) => o === 'cancelled,extracted').length, 1);
  assert.equal(outcomes.filter((o) => o === 'extracted').length, SHARDS - reports - 1);
});

test('one worker process per task queue: every shard ran on the inference process', async () => {
  await finishedRun();
  const inferenceProcess = `${os.hostname()}:${inferenceWorker.child.pid}`;
  for (const shard of manifestShards()) {
    for (const attempt of shard.attempts)
      assert.equal(attempt.worker, inferenceProcess, `shard ${shard.shard} ran on ${attempt.worker}`);
  }
  assert.match(cpuWorker.output(), /"message":"run stage"/, 'the CPU process ran the workflow');
  assert.doesNotMatch(inferenceWorker.output(), /"message":"run stage"/, 'the inference process ran no workflow');
});

test('JSON logs carry the workflow, run and shard of each line', async () => {
  const summary = await finishedRun();
  // The resumed run's shard-range child: 3 lines, one per shard (reused or extracted).
  const childId = `${workflowIdForOutput(out)}--train-shards-0-2`;
  const { runId: childRunId } = await client.workflow.getHandle(childId).describe();
  const extracted = jsonLogLines(inferenceWorker).filter(
    (line) => line.message === 'shard extracted' && line.workflowRunId === childRunId,
  );
  assert.equal(extracted.length, SHARDS);
  for (const line of extracted) {
    assert.match(String(line.workflowId), new RegExp(`^${workflowIdForOutput(out)}--train-shards-0-2$`));
    assert.match(String(line.workflowRunId), /^[0-9a-f-]{36}$/);
    assert.equal(line.split, 'train');
    assert.equal(typeof line.shard, 'number');
    assert.equal(typeof line.time, 'string');
    assert.equal(line.level, 'INFO');
  }
  assert.deepEqual(new Set(extracted.map((line) => line.shard)).size, SHARDS);
  const stages = jsonLogLines(cpuWorker).filter(
    (line) => line.message === 'run stage' && line.workflowId === summary.workflowId,
  );
  assert.ok(
    stages.some((line) => line.stage === 'compact' && typeof line.runId === 'string'),
    'workflow log lines carry the run id',
  );
});

test('the Prometheus endpoint serves the SDK metrics', async () => {
  await finishedRun(); // the metrics count its activities and workflows
  const response = await fetch(`http://${metricsAddress}/metrics`);
  assert.equal(response.status, 200);
  const body = await response.text();
  assert.match(body, /^# TYPE temporal_\w+ /m);
  assert.match(body, /temporal_activity_execution_latency\w*\{[^}]*task_queue="tessera-cpu"/);
  assert.match(body, /temporal_workflow_completed\w*\{[^}]*workflow_type="extractVectors"/);
});

async function waitForTextInAnyFrame(page: Page, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const shown = async () => {
    for (const frame of page.frames()) {
      const text = await frame
        .locator('body')
        .innerText({ timeout: 1_000 })
        .catch(() => '');
      if (pattern.test(text.replace(/[\u2044\u2215]/g, '/'))) return true; // Markdown typesets a/b with fraction slashes
    }
    return false;
  };
  await waitUntil(shown, `the page showing ${pattern}`, { timeoutMs });
}

test('the Temporal UI shows the run, its summary and its shard ranges', async () => {
  const summary = await finishedRun();
  const artifacts = path.join(PROJECT_ROOT, '.test-artifacts');
  fs.mkdirSync(artifacts, { recursive: true });
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
  const shot = (name: string) => page.screenshot({ path: path.join(artifacts, name), fullPage: true });
  try {
    await page.goto(`${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(summary.workflowId)}`);
    await page.getByText(summary.workflowId).first().waitFor({ timeout: 60_000 });
    await page.getByText('COMPLETED').first().waitFor({ timeout: 30_000 });
    // UI 2.54 shows the static summary, details (the run's options) and current details in the
    // User Metadata tab, each rendered from Markdown in its own frame.
    await page.getByText('User Metadata').first().click();
    await waitForTextInAnyFrame(page, /tessera: tile vectors of data → .*\/out/);
    await waitForTextInAnyFrame(page, /parallelShards\s+2/);
    await waitForTextInAnyFrame(page, /done: shards 3\/3, images 900\/900, rows 57600, errors 0/);
    await shot('temporal-ui-run.png');

    await page.goto(
      `${server.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId STARTS_WITH "${summary.workflowId}"`)}`,
    );
    await page.getByText(`${summary.workflowId}--train-shards-0-2`).first().waitFor({ timeout: 30_000 });
    await shot('temporal-ui-list.png');

    // The shard-range child: its summary, and each shard activity under its own summary.
    const childId = `${summary.workflowId}--train-shards-0-2`;
    const { runId: childRunId } = await client.workflow.getHandle(childId).describe();
    await page.goto(
      `${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(childId)}/${childRunId}/history`,
    );
    await page.getByText('COMPLETED').first().waitFor({ timeout: 30_000 });
    await waitForTextInAnyFrame(page, /train shard 2/);
    await shot('temporal-ui-shard-range.png');
    assert.ok(fs.statSync(path.join(artifacts, 'temporal-ui-run.png')).size > 10_000);
  } catch (error) {
    await shot('temporal-ui-failure.png');
    const texts = await Promise.all(
      page.frames().map((frame) =>
        frame
          .locator('body')
          .innerText({ timeout: 1_000 })
          .catch(() => ''),
      ),
    );
    fs.writeFileSync(path.join(artifacts, 'temporal-ui-failure.txt'), texts.join('\n----- frame -----\n'));
    throw error;
  } finally {
    await browser.close();
  }
});

test('SIGTERM lets a running shard finish within --shutdown-grace, then the worker exits cleanly', async () => {
  const out2 = path.join(dir, 'out-graceful');
  // One shard of the first 300 rows (one of the first test's shards: seconds of work), heartbeating
  // every few seconds so that it is seen running early; most of it then runs after the SIGTERM.
  const rows = fs.readFileSync(path.join(data, 'train.csv'), 'utf8').split('\n');
  fs.writeFileSync(path.join(data, 'graceful.csv'), rows.slice(0, 301).join('\n') + '\n');
  const run = startTessera([
    'run',
    '--address',
    server.address,
    '--data',
    data,
    '--csv',
    'graceful.csv',
    '--out',
    out2,
    '--shard-size',
    '300',
    '--batch-size',
    '4',
    '--heartbeat-seconds',
    '3',
    '--quiet',
  ]);
  const handle = client.workflow.getHandle(workflowIdForOutput(out2));
  await waitUntil(
    async () => ((await readProgress(client, handle))?.imagesSeen ?? 0) >= 8,
    'heartbeats of a running shard',
    { watched: run },
  );
  const attemptsFile = path.join(out2, '.tessera', 'attempts', 'train', 'shard-00000.jsonl');
  const events = () =>
    fs
      .readFileSync(attemptsFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { event: string }).event);
  assert.deepEqual(events(), ['started'], 'the shard is still running when its worker gets SIGTERM');
  process.kill(inferenceWorker.child.pid!, 'SIGTERM'); // default --shutdown-grace 5m
  assert.equal(await inferenceWorker.exited, 0, inferenceWorker.output().slice(-2000));
  assert.deepEqual(events(), ['started', 'extracted']);
  assert.equal(await run.exited, 0, run.output()); // the rest (compaction) runs on the CPU worker
  const result = await handle.result();
  assert.equal(result.counts.shards, 1);
  assert.ok(result.counts.trainingImages > 250, `${result.counts.trainingImages} training images`);
  assert.equal(result.counts.extractedImages, result.counts.trainingImages);
});
