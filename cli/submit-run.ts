import { setTimeout as sleep } from 'node:timers/promises';
import {
  CancelledFailure,
  Client,
  WithStartWorkflowOperation,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { attachUpdate } from '../workflows/attach.ts';
import type { TemporalTarget } from '../lib/temporal/connection.ts';
import { connectClient } from './temporal-target.ts';
import type { ExtractVectorsWorkflow } from './workflow-types.ts';
import type { RunConfig } from '../lib/core/run-config.ts';
import { errorMessage } from '../lib/core/errors.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../lib/temporal/task-queues.ts';
import type { RunSummary } from '../lib/core/run-summary.ts';
import { ProgressBar, readProgress } from './progress.ts';
import { runStaticDetails, runStaticSummary } from './run-metadata.ts';
import { restartStaleRun } from './stale-runs.ts';
import { workflowIdForOutput } from './workflow-id.ts';
import { RunCancelledError, RunFailedError } from './run-errors.ts';

export interface SubmitOptions {
  target: TemporalTarget;
  detach?: boolean;
  quiet?: boolean;
}

export { RunCancelledError, RunFailedError };

/** The innermost failure message, which is the one that names the bad input. */
export function rootCauseMessage(error: unknown): string {
  let current: unknown = error;
  let message = errorMessage(error);
  while (current && typeof current === 'object' && 'cause' in current && current.cause) {
    current = current.cause;
    message = errorMessage(current);
  }
  return message;
}

/** When the run is closed: its failure as this command's (a run that completed is no failure). */
async function throwIfEnded(client: Client, workflowId: string): Promise<void> {
  const handle = client.workflow.getHandle<ExtractVectorsWorkflow>(workflowId);
  const status = await handle.describe().then(
    (description) => description.status.name,
    () => 'UNKNOWN',
  );
  if (status !== 'FAILED' && status !== 'TERMINATED' && status !== 'TIMED_OUT' && status !== 'CANCELLED') return;
  const failure = await handle.result().then(
    () => undefined,
    (error: unknown) => error,
  );
  if (failure instanceof WorkflowFailedError && failure.cause instanceof CancelledFailure) {
    throw new RunCancelledError(
      `workflow ${workflowId} was cancelled; the same command resumes it (finished shards are kept)`,
    );
  }
  if (failure !== undefined) throw new RunFailedError(rootCauseMessage(failure));
}

/**
 * Starts the workflow for this output folder, or attaches to the one already running (after a
 * crash, the same command continues the same run), then follows it to the end. Attaching goes
 * through the run's `attach` update, so the open run checks the command's options and data
 * first: changed options are refused, changed data restarts it on the data as it is now. An open
 * run started by other workflow code is restarted on this version's first (stale-runs.ts).
 */
export async function submitRun(
  config: RunConfig,
  options: SubmitOptions,
): Promise<{ summary?: RunSummary; workflowId: string; seconds: number }> {
  const started = Date.now();
  const connection = await connectClient(options.target);
  try {
    const client = new Client({ connection, namespace: options.target.namespace });
    const workflowId = workflowIdForOutput(config.out);
    const log = (line: string) => options.quiet || process.stderr.write(`${line}\n`);
    // An open run of other workflow code would never answer the attach update: it restarts first.
    const restarted = await restartStaleRun(client, workflowId);
    if (restarted) log(`tessera: ${restarted}`);
    const start = new WithStartWorkflowOperation<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUES.cpu,
      workflowId,
      args: [config],
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: runStaticSummary(config),
      staticDetails: runStaticDetails(config),
    });
    let attached;
    try {
      attached = await client.workflow.executeUpdateWithStart(attachUpdate, {
        args: [config],
        startWorkflowOperation: start,
      });
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError && error.cause instanceof CancelledFailure) {
        throw new RunCancelledError(
          `workflow ${workflowId} is being cancelled; the same command resumes it once it has stopped`,
        );
      }
      // The open run ended while the attach check waited (say, its next shard found the model
      // replaced): its own failure names the cause, where the update's says only that it ended.
      if (error instanceof WorkflowUpdateFailedError) await throwIfEnded(client, workflowId);
      if (error instanceof WorkflowUpdateFailedError || error instanceof WorkflowFailedError)
        throw new RunFailedError(rootCauseMessage(error));
      throw error;
    }
    const handle = await start.workflowHandle();
    log(`tessera: workflow ${workflowId} on ${options.target.address}`);
    if (attached.action === 'restarted') log(`tessera: the open run of this folder starts over: ${attached.reason}`);
    if (options.detach) return { workflowId, seconds: (Date.now() - started) / 1000 };

    const bar = options.quiet ? undefined : new ProgressBar();
    // Progress is read once a second for the bar alone (a quiet run asks nothing), and the wait
    // between two reads ends when the run does: the command is not held up to a second after it.
    const finished = new AbortController();
    const poll =
      bar &&
      (async () => {
        while (!finished.signal.aborted) {
          const progress = await readProgress(client, handle);
          if (progress && !finished.signal.aborted) bar.update(progress);
          await sleep(1_000, undefined, { signal: finished.signal }).catch(() => undefined);
        }
      })();
    try {
      const summary = await handle.result();
      return { summary, workflowId, seconds: (Date.now() - started) / 1000 };
    } catch (error) {
      if (error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure) {
        throw new RunCancelledError(
          `workflow ${workflowId} was cancelled; the same command resumes it (finished shards are kept)`,
        );
      }
      if (error instanceof WorkflowFailedError) throw new RunFailedError(rootCauseMessage(error));
      throw error;
    } finally {
      finished.abort();
      await poll;
      bar?.finish();
    }
  } finally {
    await connection.close();
  }
}
