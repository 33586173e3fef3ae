import { randomUUID } from 'node:crypto';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import protoPackage from '@temporalio/proto';
import { WORKFLOW_CODE_MEMO, WORKFLOW_CODE_VERSION } from '../workflows/workflow-code.ts';

const { EventType, ResetReapplyExcludeType } = protoPackage.temporal.api.enums.v1;

/**
 * The open run `workflowId`, when workflow code other than this tessera's started it: its memo
 * records another code version, or none although a workflow task has completed (a run no worker
 * has picked up yet has run no code at all, and is left alone). Such a run would fail replay on
 * every workflow task of this version's workers, forever.
 */
async function staleRun(client: Client, workflowId: string) {
  const description = await client.workflow
    .getHandle(workflowId)
    .describe()
    .catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    });
  if (!description || description.status.name !== 'RUNNING') return undefined;
  const recorded = description.memo?.[WORKFLOW_CODE_MEMO];
  if (recorded === WORKFLOW_CODE_VERSION) return undefined;
  // The first task's events come first: started, task scheduled, started, completed.
  const { history } = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, runId: description.runId },
    maximumPageSize: 20,
  });
  const events = history?.events ?? [];
  const firstTaskStarted = events.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)?.eventId;
  const ranCode = events.some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  if (firstTaskStarted === undefined || firstTaskStarted === null || (recorded === undefined && !ranCode))
    return undefined;
  return { runId: description.runId, recorded, firstTaskStarted };
}

/**
 * Restarts the open run `workflowId` when other workflow code started it (staleRun): the run is
 * reset to its first workflow task, which terminates it with a reason that says so and starts it
 * again, same workflow id, input and schedule slot, on this version's code. The new run works from
 * the folder's durable results (finished shards are reused, as by a resumed run); the old run's
 * signals and updates are not applied again. Returns the reason, or undefined when the run is current.
 */
export async function restartStaleRun(client: Client, workflowId: string): Promise<string | undefined> {
  const stale = await staleRun(client, workflowId);
  if (!stale) return undefined;
  const reason =
    `workflow ${workflowId} was started by tessera workflow code ${stale.recorded === undefined ? '(unrecorded: a pre-release version)' : String(stale.recorded)}, ` +
    `which this tessera (workflow code ${WORKFLOW_CODE_VERSION}) cannot replay: restarted from the output folder's finished shards`;
  await client.workflowService.resetWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId, runId: stale.runId },
    reason,
    workflowTaskFinishEventId: stale.firstTaskStarted,
    requestId: randomUUID(),
    resetReapplyExcludeTypes: [
      ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL,
      ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE,
    ],
  });
  return reason;
}
