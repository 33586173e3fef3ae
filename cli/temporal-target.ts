import { Client, Connection } from '@temporalio/client';
import { readLiveLease } from '../lib/run-lease.ts';
import { UsageError } from './run-options.ts';
import { workflowIdForOutput } from './workflow-id.ts';

/** `--address` / `--namespace` as the Temporal CLI reads them: flag, else TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE. */
export const connectionFlags = {
  address: { type: 'string' },
  namespace: { type: 'string' },
} as const;

/** How status and cancel name a run: its output folder or its workflow id, on a cluster. */
export const runTargetFlags = {
  ...connectionFlags,
  out: { type: 'string' },
  'workflow-id': { type: 'string' },
} as const;

export function resolveAddress(flag: string | undefined): string {
  return flag ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
}

/**
 * The cluster that runs the run in `out`: --address when given; else, while an embedded `tessera
 * run` holds the folder, its own dev server (recorded in the folder's lease, on a port chosen at
 * start); else TEMPORAL_ADDRESS or the default.
 */
export function resolveRunAddress(flags: { address?: string; out?: string }): string {
  if (flags.address === undefined && flags.out !== undefined) {
    const embedded = readLiveLease(flags.out)?.server?.address;
    if (embedded) return embedded;
  }
  return resolveAddress(flags.address);
}

/** Runs `use` with a client of the cluster at `address`, closing the connection afterwards. */
export async function withClient<T>(flags: { address?: string; namespace?: string }, use: (client: Client) => Promise<T>): Promise<T> {
  const address = resolveAddress(flags.address);
  let connection: Connection;
  try {
    connection = await Connection.connect({ address, connectTimeout: 5_000 });
  } catch (error) {
    throw new UsageError(`cannot reach Temporal at ${address} (--address or TEMPORAL_ADDRESS): ${(error as Error).message}`);
  }
  try {
    return await use(new Client({ connection, namespace: flags.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default' }));
  } finally {
    await connection.close();
  }
}

/** The run's workflow id: given, or derived from its output folder as `tessera run` derives it. */
export function targetWorkflowId(flags: { out?: string; 'workflow-id'?: string }): string {
  if (flags['workflow-id'] && flags.out) throw new UsageError('give --out or --workflow-id, not both');
  if (flags['workflow-id']) return flags['workflow-id'];
  if (flags.out) return workflowIdForOutput(flags.out);
  throw new UsageError('which run? give --out DIR (its output folder) or --workflow-id ID');
}

/** Runs started by a schedule are named after the schedule, not their folder: say so. */
export function noRunMessage(workflowId: string): string {
  return `no run with workflow id ${workflowId} on this cluster (a scheduled run is named tessera-schedule-NAME-TIME: see \`tessera schedule describe\` and use --workflow-id)`;
}
