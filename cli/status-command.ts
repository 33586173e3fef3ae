import path from 'node:path';
import { parseCommandArgs } from './usage.ts';
import { errorMessage } from '../lib/core/errors.ts';
import { readLiveLease } from '../lib/run-folder/lease.ts';
import { NoRunFolderError, readFolderStatus, type RunState, type StatusReport } from '../lib/run/run-status.ts';
import { formatDuration } from './format-duration.ts';
import { runTargetFlags, targetWorkflowId, withClient } from './temporal-target.ts';
import { UsageError } from './run-options.ts';
import type { Client } from '@temporalio/client';

/** The server's side of status (cli/server-status.ts), loaded with the SDK only when a server is asked. */
async function readRunStatus(client: Client, workflowId: string, out: string | null): Promise<StatusReport> {
  return (await import('./server-status.ts')).readRunStatus(client, workflowId, out);
}

/** The server's answer, with what only the folder knows (the command that resumes it, the log). */
function withFolder(server: StatusReport, folder: StatusReport): StatusReport {
  const unfinished = server.state !== 'running' && server.state !== 'completed';
  return { ...server, resume: unfinished ? folder.resume : null, log: folder.log };
}

/**
 * The run of `--out` or `--workflow-id`. A running embedded run is asked through its own server
 * (its address is in the folder's lease); an embedded run that no longer runs is read from the
 * folder's files, as its server is gone with it; a run on a cluster is asked on the cluster, and
 * read from the files when the cluster cannot be reached or does not know it.
 */
export async function runStatus(
  values: Parameters<typeof targetWorkflowId>[0] & { address?: string } & Record<string, unknown>,
): Promise<StatusReport> {
  const workflowId = await targetWorkflowId(values);
  if (values.out === undefined) return withClient(values, (client) => readRunStatus(client, workflowId, null));
  const out = path.resolve(values.out);
  let folder;
  try {
    folder = await readFolderStatus(out);
  } catch (error) {
    if (error instanceof NoRunFolderError) throw new UsageError(error.message);
    throw error;
  }
  const server = values.address ?? readLiveLease(out)?.server?.address;
  if (server === undefined && folder.embedded) return folder.report;
  try {
    return withFolder(
      await withClient({ ...values, address: server }, (client) => readRunStatus(client, workflowId, out)),
      folder.report,
    );
  } catch (error) {
    const why = errorMessage(error);
    return {
      ...folder.report,
      note: [
        `the Temporal server was not asked or did not answer (${why}): this is what the folder's files say`,
        folder.report.note,
      ]
        .filter(Boolean)
        .join('; '),
    };
  }
}

const STATE_LINES: Record<RunState, string> = {
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled (the same run command resumes it; finished shards are kept)',
  interrupted: 'interrupted by a signal (the same run command resumes it; finished shards are kept)',
  stopped: 'stopped: its process is gone without finishing (killed or crashed); the same run command resumes it',
  unfinished: 'not finished (no server says whether it still runs)',
  'not-started': 'not started: the folder holds no run yet',
};

export function formatRunStatus(s: StatusReport): string {
  const lines = [`state     ${STATE_LINES[s.state]}`];
  if (s.out) lines.push(`out       ${s.out}`);
  if (s.workflowId)
    lines.push(`workflow  ${s.workflowId}${s.runId ? ` (run ${s.runId})` : ''}${s.status ? `, ${s.status}` : ''}`);
  if (s.startTime) lines.push(`started   ${s.startTime}${s.closeTime ? `, ended ${s.closeTime}` : ''}`);
  if (s.summary) lines.push(`summary   ${s.summary}`);
  const p = s.progress;
  if (p && !s.result) lines.push(`stage     ${p.stage}`);
  if (p && !s.result && p.shardsTotal > 0) {
    lines.push(
      `shards    ${p.shardsDone}/${p.shardsTotal} done`,
      `images    ${p.imagesSeen}/${p.imagesTotal} (${p.imagesDone} in finished shards)`,
      `rows      ${p.rows} in finished shards`,
      `errors    ${p.errors}`,
      ...(p.imagesPerSecond === null
        ? []
        : [`speed     ${p.imagesPerSecond.toFixed(1)} images/s, ETA ${formatDuration(p.etaSeconds)}`]),
      ...p.running.map((r) => `running   ${r.split} shard ${r.shard}: ${r.imagesDone}/${r.imagesTotal ?? '?'} images`),
    );
  }
  if (s.result) {
    const c = s.result.counts;
    lines.push(
      `images    ${c.extractedImages} extracted of ${c.trainingImages}`,
      `rows      ${c.rows}`,
      `errors    ${c.errors}${c.errors > 0 ? ` (${path.join(s.result.out, 'errors.csv')})` : ''}`,
    );
    for (const file of [s.result.vectors, s.result.validationVectors]) if (file) lines.push(`output    ${file}`);
  }
  if (s.failure) lines.push(`reason    ${s.failure}`);
  if (s.resume)
    lines.push(
      s.state === 'failed' ? `again     once what the reason names is fixed: ${s.resume}` : `resume    ${s.resume}`,
    );
  if (s.log) lines.push(`log       ${s.log}`);
  if (s.note) lines.push(`note      ${s.note}`);
  return lines.join('\n') + '\n';
}

export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('status', args, { ...runTargetFlags, json: { type: 'boolean' } });
  const status = await runStatus(values);
  process.stdout.write(values.json ? JSON.stringify(status, null, 2) + '\n' : formatRunStatus(status));
  return 0;
}
