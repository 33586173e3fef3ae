/**
 * Upgrading workers must not break runs that are open: Temporal replays a run's history through
 * the new workflow code whenever a worker picks it up again (restart, crash, new deployment).
 * These histories were recorded from a real run by the current workflow code
 * (test/fixtures/histories/capture.ts): the run's own and its training shard-range child's.
 * Histories of earlier workflow code are not replayed: tessera restarts such runs instead
 * (cli/stale-runs.ts, docs/compatibility.md).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import protoPackage from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { PROJECT_ROOT, WORKFLOWS_PATH } from '../../lib/core/project-paths.ts';

const HISTORIES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'histories');

const { History } = protoPackage.temporal.api.history.v1;
const { EventType } = protoPackage.temporal.api.enums.v1;
type History = ReturnType<typeof History.decode>;

/** Histories are stored as the binary protobuf the client fetched (`History.encode`). */
function history(name: string): History {
  return History.decode(fs.readFileSync(path.join(HISTORIES, name)));
}

/** The workflow id each history was recorded under, which replay must use too. */
const WORKFLOW_IDS = JSON.parse(fs.readFileSync(path.join(HISTORIES, 'workflow-ids.json'), 'utf8')) as Record<
  string,
  string
>;
const replay = (recorded: Parameters<typeof Worker.runReplayHistory>[1], name: string) =>
  Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, recorded, WORKFLOW_IDS[name]);

/** A history without events of `types`, renumbered so that only their absence tells it from the recorded run. */
function withoutEvents(recorded: History, types: readonly number[]) {
  const plain = History.toObject(
    History.create({ events: (recorded.events ?? []).filter((e) => !types.includes(e.eventType!)) }),
    { longs: Number },
  ) as { events: { eventId: number }[] };
  plain.events.forEach((event, k) => (event.eventId = k + 1));
  return History.fromObject(plain);
}

const count = (h: History, type: number) => (h.events ?? []).filter((e) => e.eventType === type).length;

test("a run's history, with its shard-range child started, replays on the current workflow code", async () => {
  const recorded = history('extract-vectors.binpb');
  assert.equal(
    count(recorded, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
    1,
    'the training shards',
  );
  await replay(recorded, 'extract-vectors.binpb');
});

test("a shard-range child's history, its first shard handed out alone, replays on the current workflow code", async () => {
  const recorded = history('extract-shard-range.binpb');
  assert.equal(count(recorded, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED), 2, 'two shards');
  assert.equal(count(recorded, EventType.EVENT_TYPE_TIMER_STARTED), 1, "the second lane's head-start timer");
  await replay(recorded, 'extract-shard-range.binpb');
});

test('the replay check can fail: the child without its head-start timer clashes with the current code', async () => {
  const { EVENT_TYPE_TIMER_STARTED, EVENT_TYPE_TIMER_FIRED, EVENT_TYPE_TIMER_CANCELED } = EventType;
  const withoutTimer = withoutEvents(history('extract-shard-range.binpb'), [
    EVENT_TYPE_TIMER_STARTED,
    EVENT_TYPE_TIMER_FIRED,
    EVENT_TYPE_TIMER_CANCELED,
  ]);
  await assert.rejects(replay(withoutTimer, 'extract-shard-range.binpb'), /Nondeterminism error/);
});

test("a run's history without the workflow-code memo (earlier code) does not replay: tessera restarts such runs instead", async () => {
  const recorded = history('extract-vectors.binpb');
  const { EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: memo } = EventType;
  assert.equal(count(recorded, memo), 1, 'the memo is recorded once, by the first workflow task');
  await assert.rejects(replay(withoutEvents(recorded, [memo]), 'extract-vectors.binpb'), /Nondeterminism error/);
});
