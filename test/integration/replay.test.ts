/**
 * Upgrading workers must not break runs that are open: Temporal replays a run's history through
 * the new workflow code whenever a worker picks it up again (restart, crash, new deployment). These
 * histories were recorded from real runs: one by the code before shard-range child workflows
 * (commit c4a2c63, every shard an activity of the run's workflow), one by the current layout; and
 * two shard-range children, from before and after the first shard was handed out alone.
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

/**
 * A history with its patch markers removed, renumbered so that only the missing patch, not a gap
 * in event ids, tells it from the recorded run: it reads as a run that never took the new path.
 */
function removePatchMarkers(recorded: History) {
  const patchEvents = new Set([
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
  ]);
  const plain = History.toObject(
    History.create({ events: (recorded.events ?? []).filter((e) => !patchEvents.has(e.eventType!)) }),
    { longs: Number },
  ) as { events: { eventId: number }[] };
  plain.events.forEach((event, k) => (event.eventId = k + 1));
  return History.fromObject(plain);
}

const types = (h: History) => new Set((h.events ?? []).map((e) => e.eventType));

test('a run recorded before shard-range children replays on the current workflow code', async () => {
  const recorded = history('extract-vectors-inline-shards-c4a2c63.binpb');
  assert.ok(
    !types(recorded).has(EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
    'the old run had no children',
  );
  assert.ok(
    (recorded.events ?? []).filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED).length >= 7,
    'it scheduled its shards itself',
  );
  await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, recorded, 'run-before-children');
});

test('a run with shard-range children replays on the current workflow code', async () => {
  const recorded = history('extract-vectors-shard-range-children.binpb');
  assert.ok(types(recorded).has(EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED));
  await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, recorded, 'run-with-children');
});

test('the replay check can fail: a run with children, stripped of its patch marker, clashes with the inline path', async () => {
  // Without its patch marker the workflow code must take the inline path and clash with the recorded children.
  const withoutMarker = removePatchMarkers(history('extract-vectors-shard-range-children.binpb'));
  await assert.rejects(
    Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, withoutMarker, 'run-with-children'),
    /Nondeterminism error: .*(StartChildWorkflowExecution|ChildWorkflow)/,
  );
});

// Shard-range children's histories, recorded from two-shard runs: 1,360 photos, and 8 images in shards of 4.
test('shard-range children recorded before and after the first shard was handed out alone replay on the current code; stripped of the patch, the new ones clash', async () => {
  const before = history('extract-shard-range-d31b02e.binpb');
  assert.ok(!types(before).has(EventType.EVENT_TYPE_TIMER_STARTED), 'both shards were scheduled at once');
  await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, before, 'range-before-first-alone');

  const {
    EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: scheduled,
    EVENT_TYPE_ACTIVITY_TASK_COMPLETED: completed,
    EVENT_TYPE_TIMER_FIRED: fired,
    EVENT_TYPE_TIMER_CANCELED: cancelled,
  } = EventType;
  const steps = (h: History) =>
    (h.events ?? [])
      .map((e) => e.eventType)
      .filter((t) => t === scheduled || t === completed || t === fired || t === cancelled);
  const recorded = {
    // Shard 0 still running when the timer fired: shard 1 was scheduled then.
    'extract-shard-range-first-shard-alone.binpb': [scheduled, fired, scheduled, completed, completed],
    // Shard 0 done before the timer fired: shard 1 scheduled then, the timer cancelled.
    'extract-shard-range-first-shard-done-first.binpb': [scheduled, completed, scheduled, cancelled, completed],
  };
  for (const [name, expected] of Object.entries(recorded)) {
    const after = history(name);
    assert.deepEqual(steps(after), expected, name);
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, after, name);
    await assert.rejects(
      Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, removePatchMarkers(after), name),
      /Nondeterminism error/,
      `${name} without its marker`,
    );
  }
});
