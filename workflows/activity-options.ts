import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { CpuActivities } from '../activities/cpu-activities.ts';
import type { InferenceActivities } from '../activities/inference-activities.ts';
import type { SearchActivities } from '../activities/search-activities.ts';
import type { RunConfig } from '../lib/core/run-config.ts';
import { FOLLOWING_COMPACTION_QUEUE, TASK_QUEUES } from '../lib/temporal/task-queues.ts';

/**
 * Failures worth retrying back off; input errors do not come back here: the activities raise them
 * as non-retryable failures (activities/fail-fast.ts, the one place that decides it).
 */
const retry = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 10,
};

/**
 * Every activity heartbeats while it works, so a worker that dies (SIGKILL, lost machine) gives
 * its activity to another worker after `heartbeatSeconds`, not after the start-to-close limit.
 * A cancelled run waits for its activities to stop and remove their temporary files, so that
 * when the run reports "cancelled" no process is still writing into the output folder.
 */
export function activitiesFor(config: RunConfig) {
  const common = {
    heartbeatTimeout: `${config.heartbeatSeconds} seconds`,
    retry,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  } as const;
  return {
    cpu: proxyActivities<CpuActivities>({ ...common, taskQueue: TASK_QUEUES.cpu, startToCloseTimeout: '30 minutes' }),
    // Compaction streams every shard once; at ~50 MB/s, 1M images (~85 GB) need about half an hour.
    compactOnCpu: proxyActivities<CpuActivities>({
      ...common,
      taskQueue: TASK_QUEUES.cpu,
      startToCloseTimeout: '6 hours',
    }),
    // The index and its evaluation stream the vectors once each: minutes per million tiles.
    search: proxyActivities<SearchActivities>({
      ...common,
      taskQueue: TASK_QUEUES.cpu,
      startToCloseTimeout: '6 hours',
    }),
    inference: proxyActivities<InferenceActivities>({
      ...common,
      taskQueue: TASK_QUEUES.inference,
      startToCloseTimeout: '2 hours',
    }),
    // A compaction that follows extraction lasts as long as the split's extraction, hours or days
    // on a CPU: heartbeats, not this limit, tell a dead worker.
    followingCompaction: proxyActivities<CpuActivities>({
      ...common,
      taskQueue: FOLLOWING_COMPACTION_QUEUE,
      startToCloseTimeout: '30 days',
    }),
  };
}

/** For an input that did not parse: no config, so fixed options (a short activity, a few tries). */
export const inputCheck = proxyActivities<Pick<CpuActivities, 'describeInputProblems'>>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});
