import type { Client, Connection } from '@temporalio/client';
import { readLiveLease } from '../lib/run-folder/lease.ts';
import {
  connectionFlags,
  connectionOptions,
  ConnectionSettingsError,
  describeTarget,
  resolveTemporalTarget,
  type ConnectionFlagValues,
  type TemporalTarget,
} from '../lib/temporal/connection.ts';
import { UsageError } from './run-options.ts';
import { workflowIdForOutput } from './workflow-id.ts';
import { outputLayout } from '../lib/run-folder/layout.ts';
import { WorkflowRecordSchema } from '../lib/run-folder/records.ts';
import { readRecord } from '../lib/run-folder/records-io.ts';

/** How status and cancel name a run: its output folder or its workflow id, on a cluster. */
export const runTargetFlags = {
  ...connectionFlags,
  out: { type: 'string' },
  'workflow-id': { type: 'string' },
} as const;

/**
 * The cluster that runs the run in `out`: --address when given; else, while an embedded `tessera
 * run` holds the folder, its own dev server (recorded in the folder's lease, on a port chosen at
 * start); else TEMPORAL_ADDRESS or the default.
 */
export function resolveRunAddress(flags: ConnectionFlagValues & { out?: string }): string {
  if (flags.address === undefined && flags.out !== undefined) {
    const embedded = readLiveLease(flags.out)?.server?.address;
    if (embedded) return embedded;
  }
  return resolveTarget(flags).address;
}

/** The cluster named by the flags and environment; bad settings are a usage error. */
export function resolveTarget(flags: ConnectionFlagValues, env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  try {
    return resolveTemporalTarget(flags, env);
  } catch (error) {
    if (error instanceof ConnectionSettingsError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * A client connection to `target`; an unreachable cluster is a usage error naming where it looked.
 * The SDK's client loads here, when a command first talks to a cluster: `status` on a folder whose
 * run is over never loads it.
 */
export async function connectClient(target: TemporalTarget): Promise<Connection> {
  const { Connection } = await import('@temporalio/client');
  try {
    return await Connection.connect({ ...connectionOptions(target), connectTimeout: 5_000 });
  } catch (error) {
    if (error instanceof ConnectionSettingsError) throw new UsageError(error.message);
    throw new UsageError(`cannot reach Temporal at ${describeTarget(target)}: ${(error as Error).message}`);
  }
}

/** Runs `use` with a client of the cluster the flags name, closing the connection afterwards. */
export async function withClient<T>(flags: ConnectionFlagValues, use: (client: Client) => Promise<T>): Promise<T> {
  const target = resolveTarget(flags);
  const { Client } = await import('@temporalio/client');
  const connection = await connectClient(target);
  try {
    return await use(new Client({ connection, namespace: target.namespace }));
  } finally {
    await connection.close();
  }
}

/**
 * The run's workflow id: given; else the one working in the output folder (recorded there by its
 * preflight, so a run started from the Temporal CLI or UI under its own id is found); else the id
 * `tessera run` derives from the folder.
 */
export async function targetWorkflowId(flags: { out?: string; 'workflow-id'?: string }): Promise<string> {
  if (flags['workflow-id'] && flags.out) throw new UsageError('give --out or --workflow-id, not both');
  if (flags['workflow-id']) return flags['workflow-id'];
  if (flags.out) {
    const recorded = await readRecord(outputLayout(flags.out).workflowRecord, WorkflowRecordSchema).catch(
      () => undefined,
    );
    return recorded?.workflowId ?? workflowIdForOutput(flags.out);
  }
  throw new UsageError('which run? give --out DIR (its output folder) or --workflow-id ID');
}

/** Where runs named otherwise than after their folder are found: say so. */
export function noRunMessage(workflowId: string): string {
  return (
    `no run with workflow id ${workflowId} on this cluster. A run started from the Temporal CLI or UI under its own id is ` +
    `found through --out once its first activity has run (it records its id in OUT/.tessera/workflow.json); before that, ` +
    `or for runs elsewhere, give --workflow-id ID (\`temporal workflow list --query 'WorkflowType="extractVectors"'\` lists them; ` +
    `a scheduled run is named tessera-schedule-NAME-TIME: see \`tessera schedule describe\`)`
  );
}
