import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { DEFAULT_MODEL_FILE, parseRunConfig, type RunConfig } from '../lib/core/run-config.ts';
import { DEFAULT_MODEL } from '../lib/core/project-paths.ts';
import type { TemporalTarget } from '../lib/temporal/connection.ts';
import { connectClient } from './temporal-target.ts';
import { workflowIdForOutput } from './workflow-id.ts';

/**
 * The config of the folder's run when one is open on the embedded server: an earlier command on
 * this folder started it, so the folders it names are this folder's too. Its pending activities
 * must be served by this command's workers until the attach check answers (naming each changed
 * option, or restarting the run); confined to this command's folders alone, they would fail the
 * open run with "outside the folders this worker may use" first.
 */
export async function openRunConfig(target: TemporalTarget, out: string): Promise<RunConfig | undefined> {
  const connection = await connectClient(target);
  try {
    const client = new Client({ connection, namespace: target.namespace });
    const handle = client.workflow.getHandle(workflowIdForOutput(out));
    const description = await handle.describe().catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    });
    if (description?.status.name !== 'RUNNING') return undefined;
    const history = await handle.fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (!input) return undefined;
    const parsed = parseRunConfig(defaultPayloadConverter.fromPayload(input));
    return parsed.ok ? parsed.config : undefined;
  } finally {
    await connection.close();
  }
}

/** The folders and model file an open run's activities read, for the embedded workers' roots. */
export function openRunFolders(config: RunConfig | undefined): { roots: string[]; modelFiles: string[] } {
  if (!config) return { roots: [], modelFiles: [] };
  const model = config.model === DEFAULT_MODEL_FILE ? DEFAULT_MODEL : config.model;
  return { roots: [config.data, ...config.reuse], modelFiles: [model] };
}
