import type { Client } from '@temporalio/client';
import type { RunState, StatusProgress, StatusReport } from '../lib/run/run-status.ts';
import { readProgress, type ProgressSnapshot } from './progress.ts';
import { UsageError } from './run-options.ts';
import { rootCauseMessage } from './submit-run.ts';
import { noRunMessage } from './temporal-target.ts';
import type { ExtractVectorsWorkflow } from './workflow-types.ts';

const TEMPORAL_STATES: Record<string, RunState> = {
  RUNNING: 'running',
  CONTINUED_AS_NEW: 'running',
  COMPLETED: 'completed',
  CANCELLED: 'cancelled',
  FAILED: 'failed',
  TERMINATED: 'failed',
  TIMED_OUT: 'failed',
};

function statusProgress(p: ProgressSnapshot): StatusProgress {
  return {
    stage: p.stage,
    shardsDone: p.shardsDone,
    shardsTotal: p.shardsTotal,
    imagesTotal: p.imagesTotal,
    imagesDone: p.imagesDone,
    imagesSeen: p.imagesSeen,
    rows: p.rows,
    errors: p.errors,
    imagesPerSecond: p.imagesPerSecond,
    etaSeconds: p.etaSeconds,
    running: p.running.map((r) => ({
      split: r.split ?? 'train',
      shard: r.shard ?? 0,
      imagesDone: r.imagesDone,
      imagesTotal: r.imagesTotal ?? null,
    })),
  };
}

/** What a run is doing now (its progress query) or how it ended (its result or failure), from its server. */
export async function readRunStatus(client: Client, workflowId: string, out: string | null): Promise<StatusReport> {
  const handle = client.workflow.getHandle<ExtractVectorsWorkflow>(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (error) {
    if ((error as Error).name === 'WorkflowNotFoundError') throw new UsageError(noRunMessage(workflowId));
    throw error;
  }
  const status = description.status.name;
  const state = TEMPORAL_STATES[status] ?? 'unfinished';
  const progress = state === 'running' ? await readProgress(client, handle) : undefined;
  return {
    format: 1,
    source: 'server',
    out,
    state,
    workflowId,
    runId: description.runId,
    status,
    startTime: description.startTime.toISOString(),
    closeTime: description.closeTime?.toISOString() ?? null,
    summary: (await description.staticSummary()) ?? null,
    progress: progress ? statusProgress(progress) : null,
    result: status === 'COMPLETED' ? await handle.result() : null,
    failure:
      state === 'running' || status === 'COMPLETED'
        ? null
        : await handle.result().then(
            () => null,
            (error: unknown) => rootCauseMessage(error),
          ),
    resume: null,
    log: null,
    note:
      state === 'running' && !progress
        ? 'progress not available: no worker has answered the progress query (are workers running?)'
        : null,
  };
}
