import { parseCommandArgs } from './usage.ts';
import { noRunMessage, resolveRunAddress, runTargetFlags, targetWorkflowId, withClient } from './temporal-target.ts';
import { UsageError } from './run-options.ts';
import { readLiveLease } from '../lib/run-folder/lease.ts';
import { readFolderStatus } from '../lib/run/run-status.ts';

/**
 * Asks the run to cancel and, unless --no-wait, waits until it has: its activities stop at their
 * next heartbeat and remove their temporary files, so afterwards nothing writes into the output
 * folder and the same `tessera run` resumes from the finished shards.
 */
export async function cancelCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('cancel', args, { ...runTargetFlags, 'no-wait': { type: 'boolean' } });
  const workflowId = await targetWorkflowId(values);
  // An embedded run's server lives only as long as its command: with no live lease, nothing runs there.
  if (values.out !== undefined && values.address === undefined && readLiveLease(values.out) === null) {
    const folder = await readFolderStatus(values.out).catch(() => undefined);
    if (folder?.embedded) {
      process.stdout.write(
        `${workflowId}: no tessera run works on ${folder.report.out} now (${folder.report.state}); nothing to cancel\n`,
      );
      return 0;
    }
  }
  return withClient({ ...values, address: resolveRunAddress(values) }, async (client) => {
    const handle = client.workflow.getHandle(workflowId);
    const description = await handle.describe().catch(() => undefined);
    if (!description) throw new UsageError(noRunMessage(workflowId));
    if (description.status.name !== 'RUNNING') {
      process.stdout.write(`${workflowId} is not running (${description.status.name}); nothing to cancel\n`);
      return 0;
    }
    await handle.cancel();
    process.stderr.write(`tessera: cancel requested for ${workflowId}\n`);
    if (values['no-wait']) return 0;
    await handle.result().catch(() => undefined);
    const closed = await handle.describe();
    process.stdout.write(
      `${workflowId}: ${closed.status.name}; finished shards are kept, the same run command resumes\n`,
    );
    return closed.status.name === 'CANCELLED' ? 0 : 1;
  });
}
