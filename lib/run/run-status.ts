import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { SPLITS, type Split } from '../core/run-config.ts';
import { errorMessage } from '../core/errors.ts';
import { RunSummarySchema } from '../core/run-summary.ts';
import { outputLayout, SHARD_FILE, type OutputLayout } from '../run-folder/layout.ts';
import { readLeaseWithVerdict } from '../run-folder/lease.ts';
import {
  FolderMarkerSchema,
  ManifestSchema,
  PlanRejectsSchema,
  RunOptionsRecordSchema,
  RunOutcomeSchema,
  ShardPlanSchema,
  ShardReportSchema,
  WorkflowRecordSchema,
} from '../run-folder/records.ts';
import { readRecord } from '../run-folder/records-io.ts';
import { summaryOfFinishedRun } from './finished-summary.ts';

/**
 * What `tessera status` answers, from the run's Temporal server while one runs it, or from the
 * output folder's own files once none does (a finished, failed, cancelled or crashed embedded run
 * has no server left). One shape for both, printed by `--json`: its `format` changes only when a
 * field changes meaning or goes away.
 */

export const RUN_STATES = [
  /** A workflow is working on the folder. */
  'running',
  'completed',
  /** The run failed; `failure` names the input and what is wrong. */
  'failed',
  /** Cancelled (tessera cancel, the UI): the same command resumes it. */
  'cancelled',
  /** Stopped by a signal (Ctrl-C): the same command resumes it. */
  'interrupted',
  /** The process that ran it is gone without saying how it ended (killed, crashed, the machine went down). */
  'stopped',
  /** Not finished, and nothing here says whether it still runs (a run on a cluster that could not be asked). */
  'unfinished',
  /** The folder is tessera's, but no run has started working in it. */
  'not-started',
] as const;
export type RunState = (typeof RUN_STATES)[number];

export const StatusProgressSchema = z.object({
  stage: z.string(),
  shardsDone: z.number().int(),
  shardsTotal: z.number().int(),
  imagesTotal: z.number().int(),
  /** Images of finished shards. */
  imagesDone: z.number().int(),
  /** imagesDone plus what running shards have reported so far (equal to it when read from files). */
  imagesSeen: z.number().int(),
  rows: z.number().int(),
  errors: z.number().int(),
  /** Null when read from files (a rate needs a running clock). */
  imagesPerSecond: z.number().nullable(),
  etaSeconds: z.number().nullable(),
  running: z.array(
    z.object({
      split: z.string(),
      shard: z.number().int(),
      imagesDone: z.number().int(),
      imagesTotal: z.number().int().nullable(),
    }),
  ),
});
export type StatusProgress = z.infer<typeof StatusProgressSchema>;

export const StatusReportSchema = z.object({
  format: z.literal(1),
  /** `server`: the run's Temporal server answered; `folder`: read from the output folder's files. */
  source: z.enum(['server', 'folder']),
  out: z.string().nullable(),
  state: z.enum(RUN_STATES),
  workflowId: z.string().nullable(),
  runId: z.string().nullable(),
  /** Temporal's execution status (RUNNING, COMPLETED, FAILED, …) when a server answered. */
  status: z.string().nullable(),
  startTime: z.string().nullable(),
  closeTime: z.string().nullable(),
  /** The run's one-line description (Temporal's static summary). */
  summary: z.string().nullable(),
  progress: StatusProgressSchema.nullable(),
  /** What the run returned, once completed. */
  result: RunSummarySchema.nullable(),
  failure: z.string().nullable(),
  /** The command that resumes an unfinished run, when known. */
  resume: z.string().nullable(),
  /** The embedded run's log file. */
  log: z.string().nullable(),
  /** Why the answer comes from where it does (the server is gone, could not be reached). */
  note: z.string().nullable(),
});
export type StatusReport = z.infer<typeof StatusReportSchema>;

/** `tessera status --out` on a folder that holds no tessera run. */
export class NoRunFolderError extends Error {
  override name = 'NoRunFolderError';
}

const exists = (file: string): Promise<boolean> =>
  fs.access(file).then(
    () => true,
    () => false,
  );

async function listShardNumbers(folder: string): Promise<number[]> {
  const names = await fs.readdir(folder).catch(() => [] as string[]);
  return names.flatMap((name) => {
    const match = SHARD_FILE.exec(name);
    return match && match[2] === 'json' ? [Number(match[1])] : [];
  });
}

/** Counts of one split so far: planned shards and images, and those of shards already extracted. */
async function splitProgress(layout: OutputLayout, split: Split) {
  const files = layout.split(split);
  const counts = { planned: false, shardsTotal: 0, shardsDone: 0, imagesTotal: 0, imagesDone: 0, rows: 0, errors: 0 };
  const planned = await listShardNumbers(files.plans);
  const rejects = await readRecord(files.planRejects, PlanRejectsSchema).catch(() => undefined);
  counts.planned = planned.length > 0 || rejects !== undefined;
  counts.errors += rejects?.rejected.length ?? 0;
  for (const shard of planned) {
    const plan = await readRecord(files.plan(shard), ShardPlanSchema).catch(() => undefined);
    if (!plan) continue;
    counts.shardsTotal++;
    counts.imagesTotal += plan.images.length;
    // A report of a shard no longer planned, or of a format this version does not read, is not progress.
    const report = await readRecord(files.report(shard), ShardReportSchema).catch(() => undefined);
    if (!report || report.images !== plan.images.length) continue;
    counts.shardsDone++;
    counts.imagesDone += report.images;
    counts.rows += report.rows;
    counts.errors += report.errors.length;
  }
  // Rejected rows count as done (they are in errors.csv, not waiting for extraction).
  counts.imagesTotal += rejects?.rejected.length ?? 0;
  counts.imagesDone += rejects?.rejected.length ?? 0;
  return counts;
}

/** Where an unfinished run stands, from the records each stage leaves. */
async function progressFromFiles(layout: OutputLayout, splits: readonly Split[]): Promise<StatusProgress> {
  const perSplit = await Promise.all(splits.map((split) => splitProgress(layout, split)));
  const sum = (key: 'shardsTotal' | 'shardsDone' | 'imagesTotal' | 'imagesDone' | 'rows' | 'errors') =>
    perSplit.reduce((total, counts) => total + counts[key], 0);
  let stage = 'preflight';
  if (await exists(layout.splitRecord)) stage = 'plan';
  if (perSplit.length > 0 && perSplit.every((counts) => counts.planned))
    stage = sum('shardsDone') === sum('shardsTotal') ? 'compact' : 'extract';
  return {
    stage,
    shardsDone: sum('shardsDone'),
    shardsTotal: sum('shardsTotal'),
    imagesTotal: sum('imagesTotal'),
    imagesDone: sum('imagesDone'),
    imagesSeen: sum('imagesDone'),
    rows: sum('rows'),
    errors: sum('errors'),
    imagesPerSecond: null,
    etaSeconds: null,
    running: [],
  };
}

function splitsOf(config: Record<string, unknown> | undefined): Split[] {
  const parsed = z.array(z.enum(SPLITS)).safeParse(config?.splits);
  return parsed.success ? parsed.data : ['train'];
}

/** The folder's records as they are, each undefined where it is missing or unreadable (`notes` says why). */
async function readFolderRecords(layout: OutputLayout, notes: string[]) {
  const read = <S extends z.ZodType>(file: string, schema: S) =>
    readRecord(file, schema).catch((error: unknown) => {
      notes.push(errorMessage(error));
      return undefined;
    });
  return {
    marker: await read(layout.marker, FolderMarkerSchema),
    options: await read(layout.runOptions, RunOptionsRecordSchema),
    workflow: await read(layout.workflowRecord, WorkflowRecordSchema),
    outcome: await read(layout.outcome, RunOutcomeSchema),
    manifest: await read(layout.manifest, ManifestSchema),
  };
}

type FolderRecords = Awaited<ReturnType<typeof readFolderRecords>>;

/**
 * The run's state in `report`, from its lease and records: running (a live lease), how the last
 * embedded run ended (an outcome written after the lease was taken), crashed (a lease whose process
 * is gone), finished (manifest.json), not started, or else unfinished.
 */
function settleState(
  report: StatusReport,
  lease: ReturnType<typeof readLeaseWithVerdict>,
  { options, workflow, outcome, manifest }: FolderRecords,
): void {
  // The lease goes when its run ends; one left behind by a process that is gone is a crash.
  const crashed = lease !== null && !lease.verdict.live;
  const endedHere =
    outcome !== undefined && (lease === null || Date.parse(outcome.endedAt) >= Date.parse(lease.record.startedAt));
  if (lease?.verdict.live) {
    report.state = 'running';
  } else if (endedHere) {
    report.state = outcome.outcome;
    report.startTime = outcome.startedAt;
    report.closeTime = outcome.endedAt;
    if (outcome.outcome !== 'completed') {
      report.failure = outcome.message;
      report.resume = outcome.command;
    }
  } else if (crashed) {
    const { pid, host, startedAt, owner } = lease.record;
    const reason = 'reason' in lease.verdict ? lease.verdict.reason : 'gone';
    report.state = 'stopped';
    report.resume = owner;
    report.failure =
      `the tessera process that ran it (pid ${pid} on ${host}, started ${startedAt}) ` +
      `stopped without finishing (${reason})`;
  } else if (manifest) {
    report.state = 'completed';
  } else if (options === undefined && workflow === undefined) {
    report.state = 'not-started';
  }
}

/** A finished run's progress: every shard and image done, as its manifest counts them. */
function finishedProgress(manifest: NonNullable<FolderRecords['manifest']>): StatusProgress {
  const c = manifest.counts;
  const splits = splitsOf(manifest.config);
  const images = (splits.includes('train') ? c.trainingImages : 0) + (splits.includes('val') ? c.validationImages : 0);
  return {
    stage: 'done',
    shardsDone: c.shards,
    shardsTotal: c.shards,
    imagesTotal: images,
    imagesDone: images,
    imagesSeen: images,
    rows: c.rows + c.validationRows,
    errors: c.errors,
    imagesPerSecond: null,
    etaSeconds: null,
    running: [],
  };
}

/**
 * The run in `out` as its files tell it, with no server: finished (manifest.json), how the last
 * embedded run ended (outcome.json), crashed (a lease whose process is gone), or how far it got.
 * `embedded` says whether an embedded `tessera run` has worked here (its server state, lease or
 * outcome), whose server cannot outlive it: then the files are the whole answer.
 */
export async function readFolderStatus(outFolder: string): Promise<{ report: StatusReport; embedded: boolean }> {
  const layout = outputLayout(outFolder);
  const stat = await fs.stat(layout.out).catch(() => undefined);
  if (!stat?.isDirectory()) throw new NoRunFolderError(`${layout.out} does not exist or is not a folder`);
  const notes: string[] = [];
  const records = await readFolderRecords(layout, notes);
  const { marker, options, workflow, outcome, manifest } = records;
  const lease = readLeaseWithVerdict(layout.out);
  // An embedded run that failed before claiming the folder (no dataset, say) left only its outcome.
  if (!marker && !outcome && !lease) {
    throw new NoRunFolderError(
      `${layout.out} is not a tessera output folder (it has no ${path.relative(layout.out, layout.marker)}): ` +
        'give the --out of a tessera run',
    );
  }
  const serverState = await exists(path.dirname(layout.temporalState));
  const embedded = serverState || lease !== null || outcome !== undefined;

  const report: StatusReport = {
    format: 1,
    source: 'folder',
    out: layout.out,
    state: 'unfinished',
    workflowId: manifest?.workflow.id ?? workflow?.workflowId ?? outcome?.workflowId ?? null,
    runId: manifest?.workflow.runId ?? workflow?.runId ?? null,
    status: null,
    startTime: lease?.record.startedAt ?? outcome?.startedAt ?? null,
    closeTime: null,
    summary: null,
    progress: null,
    result: null,
    failure: null,
    resume: null,
    log: outcome?.log ?? ((await exists(layout.log)) ? layout.log : null),
    note: null,
  };
  settleState(report, lease, records);
  if (manifest && (report.state === 'completed' || report.state === 'unfinished')) {
    report.state = 'completed';
    report.closeTime ??= manifest.createdAt;
    report.result = summaryOfFinishedRun(manifest, layout);
    report.progress = finishedProgress(manifest);
  } else if (report.state !== 'not-started') {
    report.progress = await progressFromFiles(layout, splitsOf(options?.config));
  }
  if (notes.length > 0) report.note = [report.note, ...notes].filter((note) => note !== null).join('; ');
  return { report, embedded };
}
