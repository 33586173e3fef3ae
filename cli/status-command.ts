import { parseCommandArgs } from './usage.ts';
import type { Client } from '@temporalio/client';
import type { RunSummary } from '../lib/compact/run-summary.ts';
import { formatDuration, readProgress, type ProgressSnapshot } from './progress.ts';
import { noRunMessage, resolveRunAddress, runTargetFlags, targetWorkflowId, withClient } from './temporal-target.ts';
import { UsageError } from './run-options.ts';
import type { ExtractVectorsWorkflow } from './workflow-types.ts';
import { rootCauseMessage } from './submit-run.ts';

export interface RunStatus {
  workflowId: string;
  runId: string;
  status: string;
  startTime: string;
  closeTime: string | null;
  summary: string | null;
  progress: ProgressSnapshot | null;
  result: RunSummary | null;
  failure: string | null;
}

/** What a run is doing now (its progress query) or how it ended (its result or failure). */
export async function readRunStatus(client: Client, workflowId: string): Promise<RunStatus> {
  const handle = client.workflow.getHandle<ExtractVectorsWorkflow>(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (error) {
    if ((error as Error).name === 'WorkflowNotFoundError') throw new UsageError(noRunMessage(workflowId));
    throw error;
  }
  const status = description.status.name;
  let result: RunSummary | null = null;
  let failure: string | null = null;
  if (status === 'COMPLETED') result = await handle.result();
  else if (status !== 'RUNNING') failure = await handle.result().then(() => null, (error: unknown) => rootCauseMessage(error));
  return {
    workflowId,
    runId: description.runId,
    status,
    startTime: description.startTime.toISOString(),
    closeTime: description.closeTime?.toISOString() ?? null,
    summary: (await description.staticSummary()) ?? null,
    progress: status === 'RUNNING' ? ((await readProgress(client, handle)) ?? null) : null,
    result,
    failure,
  };
}

export function formatRunStatus(s: RunStatus): string {
  const lines = [`workflow  ${s.workflowId} (run ${s.runId})`, `status    ${s.status}, started ${s.startTime}${s.closeTime ? `, closed ${s.closeTime}` : ''}`];
  if (s.summary) lines.push(`summary   ${s.summary}`);
  const p = s.progress;
  if (p) {
    lines.push(
      `stage     ${p.stage}`,
      `shards    ${p.shardsDone}/${p.shardsTotal} done`,
      `images    ${p.imagesSeen}/${p.imagesTotal} (${p.imagesDone} in finished shards)`,
      `rows      ${p.rows} in finished shards`,
      `errors    ${p.errors}`,
      `speed     ${p.imagesPerSecond.toFixed(1)} images/s, ETA ${formatDuration(p.etaSeconds)}`,
      ...p.running.map((r) => `running   ${r.split} shard ${r.shard}: ${r.imagesDone}/${r.imagesTotal ?? '?'} images`),
    );
  } else if (s.status === 'RUNNING') {
    lines.push('progress  not available: no worker has answered the progress query (are workers running?)');
  }
  if (s.result) {
    const c = s.result.counts;
    lines.push(`images    ${c.extractedImages} extracted of ${c.trainingImages}`, `rows      ${c.rows}`, `errors    ${c.errors}`, `output    ${s.result.out}`);
  }
  if (s.failure) lines.push(`reason    ${s.failure}`);
  return lines.join('\n') + '\n';
}

export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('status', args, { ...runTargetFlags, json: { type: 'boolean' } });
  const workflowId = targetWorkflowId(values);
  const status = await withClient({ ...values, address: resolveRunAddress(values) }, (client) => readRunStatus(client, workflowId));
  process.stdout.write(values.json ? JSON.stringify(status, null, 2) + '\n' : formatRunStatus(status));
  return 0;
}
