import path from 'node:path';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
} from '@temporalio/client';
import { hasOutputTemplate, SCHEDULED_TIME_PLACEHOLDER } from '../lib/run/output-template.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../lib/temporal/task-queues.ts';
import { runStaticDetails, runStaticSummary } from './run-metadata.ts';
import { buildRunConfig, configFlagSpecs, durationFlag, readConfigText, UsageError } from './run-options.ts';
import { connectionFlags, type ConnectionFlagValues } from '../lib/temporal/connection.ts';
import { withClient } from './temporal-target.ts';
import type { ExtractVectorsWorkflow } from './workflow-types.ts';
import { parseCommandArgs, SCHEDULE_USAGE } from './usage.ts';
import { RunSummarySchema } from '../lib/core/run-summary.ts';
import { restartStaleRun } from './stale-runs.ts';

/** Every scheduled run starts as `tessera-schedule-NAME-<time>` (Temporal appends the time). */
export const scheduledWorkflowIdPrefix = (id: string) => `tessera-schedule-${id}`;

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

const createOptions = {
  ...configFlagSpecs(),
  config: { type: 'string' },
  id: { type: 'string' },
  cron: { type: 'string' },
  every: { type: 'string' },
  'catchup-window': { type: 'string', default: '1h' },
  paused: { type: 'boolean' },
  full: { type: 'boolean' },
} as const;

/** Checks every flag (and builds the run config) before connecting, so usage errors come first. */
async function prepareCreate(values: Values) {
  const id = values.id as string | undefined;
  const cron = values.cron as string | undefined;
  const every = values.every as string | undefined;
  if (!id) throw new UsageError('schedule create needs --id NAME');
  if (Boolean(cron) === Boolean(every))
    throw new UsageError('schedule create needs exactly one of --cron EXPR or --every DURATION');
  const everyMs = every ? durationFlag('every', every) : undefined;
  const catchupMs = durationFlag('catchup-window', values['catchup-window'] as string);
  const configFile = values.config as string | undefined;
  const config = buildRunConfig(values, configFile, await readConfigText(configFile));
  // Every run gets its own folder: runs of one schedule never resume or overwrite each other.
  if (!hasOutputTemplate(config.out)) config.out = path.join(config.out, SCHEDULED_TIME_PLACEHOLDER);
  // Incremental unless --full: each run copies the vectors of unchanged images from the newest finished run.
  if (values.full !== true) config.reuseEarlierRuns = true;
  return { id, cron, every, everyMs, catchupMs, config, paused: values.paused === true };
}

async function create(client: Client, values: Values): Promise<void> {
  const { id, cron, every, everyMs, catchupMs, config, paused } = await prepareCreate(values);
  const spec = cron ? `cron ${cron}` : `every ${every}`;
  await client.schedule.create<ExtractVectorsWorkflow>({
    scheduleId: id,
    // The spec as the user wrote it: Temporal stores cron expressions as calendars.
    memo: { tesseraSpec: spec },
    spec: cron ? { cronExpressions: [cron] } : { intervals: [{ every: everyMs! }] },
    action: {
      type: 'startWorkflow',
      workflowType: WORKFLOW_TYPE,
      workflowId: scheduledWorkflowIdPrefix(id),
      taskQueue: TASK_QUEUES.cpu,
      args: [config],
      staticSummary: runStaticSummary(config),
      staticDetails: runStaticDetails(config),
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: catchupMs },
    state: { paused, note: paused ? 'created paused' : undefined },
  });
  process.stdout.write(
    `schedule ${id} created: ${spec}, outputs ${config.out}${config.reuseEarlierRuns ? ", incremental (each run reuses the newest finished run's vectors)" : ''}\n`,
  );
}

/** What a finished scheduled run did: images reused and extracted, from its result; its status otherwise. */
async function runOutcome(client: Client, workflowId: string): Promise<string> {
  try {
    // The latest run of the id: a run that continued as new finishes in its last one.
    const handle = client.workflow.getHandle(workflowId);
    const { status } = await handle.describe();
    if (status.name !== 'COMPLETED') return status.name.toLowerCase();
    const parsed = RunSummarySchema.safeParse(await handle.result());
    if (!parsed.success) return 'completed';
    const c = parsed.data.counts;
    const reused = c.reusedImages + c.validationReusedImages;
    const extracted = c.extractedImages + c.validationExtractedImages;
    return `completed: ${reused} images reused, ${extracted - reused} extracted, ${c.errors} errors → ${parsed.data.out}`;
  } catch {
    return 'unknown (history not available)';
  }
}

function describeLines(d: ScheduleDescription, outcomes: readonly string[]): string[] {
  const action = d.action.type === 'startWorkflow' ? d.action : undefined;
  const config = action?.args?.[0] as
    { out?: string; data?: string; reuseEarlierRuns?: boolean; keepRuns?: number } | undefined;
  const spec = typeof d.memo?.tesseraSpec === 'string' ? d.memo.tesseraSpec : JSON.stringify(d.spec);
  return [
    `schedule  ${d.scheduleId}${d.state.paused ? ' (paused' + (d.state.note ? `: ${d.state.note}` : '') + ')' : ''}`,
    `spec      ${spec}`,
    `policies  overlap ${d.policies.overlap}, catch-up window ${d.policies.catchupWindow / 1000} s`,
    `data      ${config?.data ?? '?'}`,
    `outputs   ${config?.out ?? '?'}${config?.reuseEarlierRuns ? ' (incremental)' : ' (full runs)'}${config?.keepRuns ? `, newest ${config.keepRuns} kept` : ''}`,
    `next      ${
      d.info.nextActionTimes
        .slice(0, 3)
        .map((t) => t.toISOString())
        .join(', ') || '-'
    }`,
    `actions   ${d.info.numActionsTaken} taken, ${d.info.numActionsSkippedOverlap} skipped (overlap), ${d.info.numActionsMissedCatchupWindow} missed (catch-up window)`,
    ...d.info.recentActions.map(
      (a, k) => `recent    ${a.scheduledAt.toISOString()} → ${a.action.workflow.workflowId}: ${outcomes[k]}`,
    ),
    ...d.info.runningActions.map((a) => `running   ${a.workflow.workflowId}`),
  ];
}

/** A subcommand: its own flags (besides --address, --namespace), and what it does once connected. */
interface Subcommand {
  options: Record<string, { type: 'string' | 'boolean'; default?: string }>;
  needsId: boolean;
  check?: (values: Values) => unknown;
  run(client: Client, values: Values, id: string): Promise<void>;
}

const onSchedule = (
  run: (client: Client, id: string, values: Values) => Promise<string>,
  options: Subcommand['options'] = {},
): Subcommand => ({
  options,
  needsId: true,
  async run(client, values, id) {
    process.stdout.write(await run(client, id, values));
  },
});

const SUBCOMMANDS: Record<string, Subcommand> = {
  create: {
    options: createOptions,
    needsId: true,
    check: prepareCreate,
    run: (client, values) => create(client, values),
  },
  list: {
    options: {},
    needsId: false,
    async run(client) {
      for await (const s of client.schedule.list()) {
        const next = s.info.nextActionTimes[0]?.toISOString() ?? '-';
        process.stdout.write(
          `${s.scheduleId}\t${s.state.paused ? 'paused' : 'active'}\tnext ${next}\t${s.info.recentActions.length} recent runs\n`,
        );
      }
    },
  },
  describe: onSchedule(async (client, id) => {
    const description = await client.schedule.getHandle(id).describe();
    const outcomes = await Promise.all(
      description.info.recentActions.map((a) => runOutcome(client, a.action.workflow.workflowId)),
    );
    return describeLines(description, outcomes).join('\n') + '\n';
  }),
  trigger: onSchedule(async (client, id) => {
    const restarted = await restartStaleScheduledRuns(client, id);
    // The SDK's default for a manual trigger is ALLOW_ALL; tessera keeps the schedule's rule.
    await client.schedule.getHandle(id).trigger(ScheduleOverlapPolicy.SKIP);
    return `${restarted}schedule ${id}: run triggered (skipped if one is still running)\n`;
  }),
  pause: onSchedule(
    async (client, id, values) => {
      await client.schedule
        .getHandle(id)
        .pause((values.note as string | undefined) ?? 'paused with tessera schedule pause');
      return `schedule ${id} paused\n`;
    },
    { note: { type: 'string' } },
  ),
  unpause: onSchedule(async (client, id) => {
    const restarted = await restartStaleScheduledRuns(client, id);
    await client.schedule.getHandle(id).unpause();
    return `${restarted}schedule ${id} unpaused\n`;
  }),
  delete: onSchedule(async (client, id) => {
    await client.schedule.getHandle(id).delete();
    return `schedule ${id} deleted (runs it started are kept)\n`;
  }),
};

/**
 * The schedule's open runs that other workflow code started, restarted on this version's (they
 * would never finish, and the schedule skips every slot while one is open); one line for each.
 */
async function restartStaleScheduledRuns(client: Client, id: string): Promise<string> {
  const { info } = await client.schedule.getHandle(id).describe();
  let lines = '';
  for (const { workflow } of info.runningActions) {
    const reason = await restartStaleRun(client, workflow.workflowId);
    if (reason) lines += `${reason}\n`;
  }
  return lines;
}

export async function scheduleCommand(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  const sub = name ? SUBCOMMANDS[name] : undefined;
  if (!sub)
    throw new UsageError(`schedule: ${name ? `unknown subcommand ${name}` : 'which subcommand?'}\n${SCHEDULE_USAGE}`);
  const { values } = parseCommandArgs('schedule', rest, { ...connectionFlags, id: { type: 'string' }, ...sub.options });
  const id = values.id as string | undefined;
  if (sub.needsId && !id) throw new UsageError(`schedule ${name} needs --id NAME`);
  await sub.check?.(values); // before connecting: usage errors come first (a config in a bucket is read here)
  return withClient(values as ConnectionFlagValues, async (client) => {
    try {
      await sub.run(client, values, id ?? '');
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) throw new UsageError(`no schedule with id ${id}`);
      throw error;
    }
    return 0;
  });
}
