import path from 'node:path';
import { parseArgs } from 'node:util';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { hasOutputTemplate, SCHEDULED_TIME_PLACEHOLDER } from '../lib/output-template.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../lib/task-queues.ts';
import { runStaticDetails, runStaticSummary } from './run-metadata.ts';
import { buildRunConfig, configFlagSpecs, UsageError } from './run-options.ts';
import { connectionFlags, withClient } from './temporal-target.ts';

const USAGE = `tessera schedule create --id NAME (--cron EXPR | --every DURATION) --data DIR --out DIR [run options]
      [--catchup-window DURATION (default 1h)] [--paused]
      --out may hold {scheduledTime} (e.g. /data/out/nightly-{scheduledTime}); without it each run
      writes to DIR/{scheduledTime}. Runs that would overlap a running one are skipped.
  tessera schedule list | describe --id NAME | trigger --id NAME | pause --id NAME [--note TEXT]
      | unpause --id NAME | delete --id NAME        (all take --address, --namespace)`;

/** Every scheduled run starts as `tessera-schedule-NAME-<time>` (Temporal appends the time). */
export const scheduledWorkflowIdPrefix = (id: string) => `tessera-schedule-${id}`;

async function create(client: Client, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...connectionFlags,
      ...configFlagSpecs(),
      config: { type: 'string' },
      id: { type: 'string' },
      cron: { type: 'string' },
      every: { type: 'string' },
      'catchup-window': { type: 'string', default: '1h' },
      paused: { type: 'boolean' },
    },
    strict: true,
  });
  if (!values.id) throw new UsageError('schedule create needs --id NAME');
  if (Boolean(values.cron) === Boolean(values.every)) throw new UsageError('schedule create needs exactly one of --cron EXPR or --every DURATION');
  const config = buildRunConfig(values, values.config);
  // Every run gets its own folder: runs of one schedule never resume or overwrite each other.
  if (!hasOutputTemplate(config.out)) config.out = path.join(config.out, SCHEDULED_TIME_PLACEHOLDER);
  const spec = values.cron ? `cron ${values.cron}` : `every ${values.every}`;
  await client.schedule.create({
    scheduleId: values.id,
    // The spec as the user wrote it: Temporal stores cron expressions as calendars.
    memo: { tesseraSpec: spec },
    spec: values.cron ? { cronExpressions: [values.cron] } : { intervals: [{ every: values.every as `${number}${'s' | 'm' | 'h' | 'd'}` }] },
    action: {
      type: 'startWorkflow',
      workflowType: WORKFLOW_TYPE,
      workflowId: scheduledWorkflowIdPrefix(values.id),
      taskQueue: TASK_QUEUES.cpu,
      args: [config],
      staticSummary: runStaticSummary(config),
      staticDetails: runStaticDetails(config),
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: values['catchup-window'] as `${number}h` },
    state: { paused: values.paused ?? false, note: values.paused ? 'created paused' : undefined },
  });
  process.stdout.write(`schedule ${values.id} created: ${spec}, outputs ${config.out}\n`);
  return 0;
}

function describeLines(d: ScheduleDescription): string[] {
  const action = d.action.type === 'startWorkflow' ? d.action : undefined;
  const config = action?.args?.[0] as { out?: string; data?: string } | undefined;
  const spec = typeof d.memo?.tesseraSpec === 'string' ? d.memo.tesseraSpec : JSON.stringify(d.spec);
  return [
    `schedule  ${d.scheduleId}${d.state.paused ? ' (paused' + (d.state.note ? `: ${d.state.note}` : '') + ')' : ''}`,
    `spec      ${spec}`,
    `policies  overlap ${d.policies.overlap}, catch-up window ${d.policies.catchupWindow / 1000} s`,
    `data      ${config?.data ?? '?'}`,
    `outputs   ${config?.out ?? '?'}`,
    `next      ${d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()).join(', ') || '-'}`,
    `actions   ${d.info.numActionsTaken} taken, ${d.info.numActionsSkippedOverlap} skipped (overlap), ${d.info.numActionsMissedCatchupWindow} missed (catch-up window)`,
    ...d.info.recentActions.map((a) => `recent    ${a.scheduledAt.toISOString()} → ${a.action.workflow.workflowId}`),
    ...d.info.runningActions.map((a) => `running   ${a.workflow.workflowId}`),
  ];
}

async function withSchedule(client: Client, args: string[], extra: Record<string, { type: 'string' }>, use: (id: string, values: Record<string, string | undefined>) => Promise<void>): Promise<number> {
  const { values } = parseArgs({ args, options: { ...connectionFlags, id: { type: 'string' }, ...extra }, strict: true });
  if (!values.id) throw new UsageError('needs --id NAME');
  try {
    await use(values.id, values as Record<string, string | undefined>);
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) throw new UsageError(`no schedule with id ${values.id}`);
    throw error;
  }
  return 0;
}

const SUBCOMMANDS: Record<string, (client: Client, args: string[]) => Promise<number>> = {
  create,
  async list(client) {
    for await (const s of client.schedule.list()) {
      const next = s.info.nextActionTimes[0]?.toISOString() ?? '-';
      process.stdout.write(`${s.scheduleId}\t${s.state.paused ? 'paused' : 'active'}\tnext ${next}\t${s.info.recentActions.length} recent runs\n`);
    }
    return 0;
  },
  describe: (client, args) => withSchedule(client, args, {}, async (id) => void process.stdout.write(describeLines(await client.schedule.getHandle(id).describe()).join('\n') + '\n')),
  trigger: (client, args) =>
    withSchedule(client, args, {}, async (id) => {
      // The SDK's default for a manual trigger is ALLOW_ALL; tessera keeps the schedule's rule.
      await client.schedule.getHandle(id).trigger(ScheduleOverlapPolicy.SKIP);
      process.stdout.write(`schedule ${id}: run triggered (skipped if one is still running)\n`);
    }),
  pause: (client, args) =>
    withSchedule(client, args, { note: { type: 'string' } }, async (id, values) => {
      await client.schedule.getHandle(id).pause(values.note ?? 'paused with tessera schedule pause');
      process.stdout.write(`schedule ${id} paused\n`);
    }),
  unpause: (client, args) =>
    withSchedule(client, args, {}, async (id) => {
      await client.schedule.getHandle(id).unpause();
      process.stdout.write(`schedule ${id} unpaused\n`);
    }),
  delete: (client, args) =>
    withSchedule(client, args, {}, async (id) => {
      await client.schedule.getHandle(id).delete();
      process.stdout.write(`schedule ${id} deleted (runs it started are kept)\n`);
    }),
};

export async function scheduleCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const handler = sub ? SUBCOMMANDS[sub] : undefined;
  if (!handler) throw new UsageError(`schedule: ${sub ? `unknown subcommand ${sub}` : 'which subcommand?'}\n${USAGE}`);
  const { values } = parseArgs({ args: rest, options: connectionFlags, strict: false });
  return withClient(values as { address?: string; namespace?: string }, (client) => handler(client, rest));
}
