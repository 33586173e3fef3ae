import { defineSearchAttributeKey } from '@temporalio/common';
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  log,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { parseRunConfig, type RunConfig, type RunConfigInput, type Split } from '../lib/core/run-config.ts';
import { FAILURE_TYPES, type DamagedShardsDetails } from '../lib/core/errors.ts';
import { hasOutputTemplate, resolveOutputTemplate } from '../lib/run/output-template.ts';
import type { RunCounts, RunSummary } from '../lib/core/run-summary.ts';
import type { CompactSummary } from '../lib/compact/compact.ts';
import { activitiesFor, inputCheck } from './activity-options.ts';
import { extractShardRange, shardRanges, type ShardRange } from './extract-shard-range.ts';
import { attachUpdate, type AttachResult } from './attach.ts';
import { CompactionFollowers } from './compaction-followers.ts';
import { runInLanes } from './lanes.ts';
import { runDurations, type RunDurations } from './run-durations.ts';
import { RunProgressTracker } from './run-progress.ts';
import { WORKFLOW_CODE_MEMO, WORKFLOW_CODE_VERSION } from './workflow-code.ts';

/** Set by Temporal on every workflow a schedule starts: the slot's time, not the start time. */
const scheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

/**
 * `out` with `{scheduledTime}` filled in from the schedule's slot, or, for a run not started by a
 * schedule (e.g. from the Temporal CLI), the start of its chain of executions, which a reset or
 * retry of the run does not change.
 */
function resolveOutput(config: RunConfig): RunConfig {
  if (!hasOutputTemplate(config.out)) return config;
  const slot = workflowInfo().typedSearchAttributes.get(scheduledStartTime) ?? workflowInfo().startTime;
  return { ...config, out: resolveOutputTemplate(config.out, slot) };
}

/**
 * The schema's message with a cpu worker's word on the paths (outside its roots, missing), so that
 * a user fixes every field at once; the schema's alone when no worker answers.
 */
async function describeInvalidInput(input: unknown, schemaMessage: string): Promise<string> {
  try {
    return (await inputCheck.describeInputProblems(input)) || schemaMessage;
  } catch {
    return schemaMessage;
  }
}

function damagedShards(error: unknown): DamagedShardsDetails | undefined {
  if (!(error instanceof ActivityFailure) || !(error.cause instanceof ApplicationFailure)) return undefined;
  if (error.cause.type !== FAILURE_TYPES.damagedShards) return undefined;
  return error.cause.details?.[0] as DamagedShardsDetails | undefined;
}

/**
 * The run of one output folder. A `tessera run` command that finds it open attaches through the
 * `attach` update, which checks (in an activity: the files are the workers') that the command's
 * options and data are the ones this run works on; if the data or the forced options changed, the
 * run starts over on them (continue-as-new), reusing every shard that still provably matches.
 * `durations` shortens the run's waits in focused tests; runs leave it out.
 */
export async function extractVectors(
  input: RunConfigInput,
  durations: Partial<RunDurations> = {},
): Promise<RunSummary> {
  // First, before any other command: a run whose memo lacks it was started by other workflow code.
  upsertMemo({ [WORKFLOW_CODE_MEMO]: WORKFLOW_CODE_VERSION });
  const parsed = parseRunConfig(input);
  if (!parsed.ok)
    throw ApplicationFailure.nonRetryable(await describeInvalidInput(input, parsed.message), 'InvalidConfig');
  const config = resolveOutput(parsed.config);
  const progress = new RunProgressTracker('preflight', config.out);
  const pipeline = new CancellationScope();
  const attach = handleAttach(config, progress, pipeline);

  let summary: RunSummary | undefined;
  try {
    const template = hasOutputTemplate(parsed.config.out) ? parsed.config.out : undefined;
    summary = await pipeline.run(() => runPipeline(config, progress, template, runDurations(durations)));
  } catch (error) {
    if (!(attach.restartWith() && isCancellation(error))) throw error;
  }
  await condition(allHandlersFinished);
  const restartWith = attach.restartWith();
  if (restartWith) await continueAsNew<typeof extractVectors>(restartWith, durations);
  return summary!;
}

/**
 * Answers the `attach` update: attached when the command's options and data are the run's; a
 * restart (the pipeline cancelled, then continue-as-new on the command's config) when they changed
 * and may; refused, naming the difference, otherwise.
 */
function handleAttach(config: RunConfig, progress: RunProgressTracker, pipeline: CancellationScope) {
  const { cpu } = activitiesFor(config);
  let restartWith: RunConfig | undefined;
  setHandler(attachUpdate, async (requestedInput): Promise<AttachResult> => {
    const requested = parseRunConfig(requestedInput); // parsed here too: any client can send an update
    if (!requested.ok) throw ApplicationFailure.nonRetryable(requested.message, 'InvalidConfig');
    if (restartWith && JSON.stringify(restartWith) !== JSON.stringify(requested.config)) {
      throw ApplicationFailure.nonRetryable(
        'another tessera run command is restarting this run on its own inputs right now: run this command again in a moment',
        FAILURE_TYPES.input,
      );
    }
    // Nothing read yet: a run still in preflight works on whatever the files hold now.
    if (progress.current.stage === 'preflight' && JSON.stringify(requested.config) === JSON.stringify(config))
      return { action: 'attached' };
    let verdict: AttachResult;
    try {
      verdict = await cpu.checkAttach(config, requested.config);
    } catch (error) {
      if (isCancellation(error)) throw error; // the run is being cancelled: so is the attach
      // The activity's message names what differs; the run itself goes on untouched.
      const cause = error instanceof ActivityFailure && error.cause ? error.cause : error;
      throw ApplicationFailure.nonRetryable(
        cause instanceof Error ? cause.message : String(cause),
        FAILURE_TYPES.input,
      );
    }
    if (verdict.action === 'restarted') {
      log.info('run restarts on changed inputs', { reason: verdict.reason });
      restartWith = requested.config;
      pipeline.cancel();
    }
    return verdict;
  });
  return { restartWith: () => restartWith };
}

/** What planning decided: the config the run works on (with its reuse sources), its split and shards. */
interface PlannedRun {
  config: RunConfig;
  template: string | undefined;
  reuse: RunSummary['reuse'];
  split: { seconds: number; inputRows: number; trainingRows: number; validationRows: number };
  shardCounts: Partial<Record<Split, number>>;
  ranges: ShardRange[];
  planSeconds: number;
  started: number;
}

/**
 * preflight → seed & split → plan shards → extract shards (child workflows of at most 256 shards,
 * so history stays bounded) → errors.csv → compact → manifest. Only paths and counts cross
 * activity boundaries; no file, model or clock is touched here.
 */
async function runPipeline(
  options: RunConfig,
  progress: RunProgressTracker,
  template: string | undefined,
  durations: RunDurations,
): Promise<RunSummary> {
  const planned = await planRun(options, progress, template);
  const followers = await extractShards(planned, progress, durations);
  const compacted = await compactWithRepairs(planned, followers, progress, durations);
  const summary = await writeManifest(planned, compacted, progress);
  await searchStages(options);
  return summary;
}

/** The search stages a run asks for, after its manifest: the index (index or evaluate), then its evaluation. */
async function searchStages(config: RunConfig): Promise<void> {
  if ((!config.index && !config.evaluate) || !config.splits.includes('train')) return;
  const { search } = activitiesFor(config);
  log.info('index', { ...(await search.indexOutput(config, {})) });
  if (!config.evaluate) return;
  if (config.splits.includes('val')) log.info('evaluation', { ...(await search.evaluateOutput(config, {})) });
  else log.warn('evaluate needs the validation split (splits train,val): not evaluated');
}

async function planRun(
  options: RunConfig,
  progress: RunProgressTracker,
  template: string | undefined,
): Promise<PlannedRun> {
  const started = Date.now();
  const { cpu } = activitiesFor(options);
  progress.enter('preflight');
  await cpu.preflight(options);
  // Only for runs that ask for reuse: histories of runs without it see no new activity.
  const reuse =
    options.reuse.length > 0 || (options.reuseEarlierRuns && template !== undefined)
      ? await cpu.planReuse(options, template)
      : undefined;
  for (const skipped of reuse?.skipped ?? []) log.warn(skipped);
  const config: RunConfig = reuse ? { ...options, reuse: reuse.sources } : options;
  progress.enter('split');
  const split = await cpu.prepareSplit(config);
  progress.enter('plan');
  const shardCounts: Partial<Record<Split, number>> = {};
  const ranges: ShardRange[] = [];
  let planSeconds = 0;
  for (const name of config.splits) {
    const plan = await cpu.planShards(config, name);
    shardCounts[name] = plan.shardCount;
    planSeconds += plan.seconds;
    progress.addPlanned({ shards: plan.shardCount, images: plan.images, rejectedRows: plan.rejectedRows });
    ranges.push(...shardRanges(name, plan.shardCount));
  }
  return { config, template, reuse, split, shardCounts, ranges, planSeconds, started };
}

/**
 * Every shard, range by range in child workflows, each split's compaction following its shards
 * (compaction-followers.ts). Ranges run one after another; each keeps parallelShards activities in
 * flight, so the only idle time is a range's last shards finishing: under one shard's time per 256
 * shards. Returns the followers, still finishing their last shard. The children get the run's
 * `durations`.
 */
async function extractShards(
  { config, shardCounts, ranges }: PlannedRun,
  progress: RunProgressTracker,
  durations: RunDurations,
): Promise<CompactionFollowers> {
  const { workflowId } = workflowInfo();
  progress.startExtraction();
  progress.enter('extract');
  const followers = new CompactionFollowers(config, activitiesFor(config).followingCompaction);
  try {
    for (const range of ranges) {
      followers.follow(range.split, shardCounts[range.split]!);
      const last = range.firstShard + range.shardCount - 1;
      const done = await executeChild(extractShardRange, {
        args: [config, range, durations],
        workflowId: `${workflowId}--${range.split}-shards-${range.firstShard}-${last}`,
        staticSummary: `tessera ${range.split} shards ${range.firstShard}–${last} of \`${config.out}\``,
      });
      progress.addFinished({ ...done, shards: done.shardCount });
    }
  } catch (error) {
    await followers.stop();
    throw error;
  }
  progress.endExtraction();
  return followers;
}

interface CompactedRun {
  train: CompactSummary | undefined;
  val: CompactSummary | undefined;
  errors: number;
  /** Seconds compaction added after the last shard (errors.csv not counted). */
  seconds: number;
}

/**
 * errors.csv, then each split's vectors file: the followed one unless a shard changed after it
 * was copied (or was repaired here), else compacted afresh. A shard file found damaged, truncated
 * or replaced (or a report missing) is extracted again at once and the step repeated: never
 * compacted as it is, never retried for minutes.
 */
async function compactWithRepairs(
  { config, shardCounts }: PlannedRun,
  followers: CompactionFollowers,
  progress: RunProgressTracker,
  durations: RunDurations,
): Promise<CompactedRun> {
  const { cpu, compactOnCpu } = activitiesFor(config);
  progress.enter('compact');
  const followed = await followers.finish(Math.max(durations.followerGraceMs, progress.extractSeconds * 1000));
  const repairs = new ShardRepairs(config, durations.shardRepairRounds);
  const errorsStarted = Date.now();
  let errors = await repairs.around(() => cpu.writeErrors(config, shardCounts));
  const errorsSeconds = (Date.now() - errorsStarted) / 1000;
  const publishFollowed = async (split: Split): Promise<CompactSummary | null> => {
    const file = followed.get(split);
    if (!file || repairs.repaired) return null;
    try {
      return await compactOnCpu.publishFollowed(config, file);
    } catch (error) {
      if (isCancellation(error)) throw error;
      log.warn('compaction beside extraction could not be published; compacting afresh', {
        split,
        reason: String(error),
      });
      return null;
    }
  };
  const compacted = async (split: Split): Promise<CompactSummary> =>
    (await publishFollowed(split)) ??
    (await repairs.around(() => compactOnCpu.compact(config, split, shardCounts[split]!)));
  const train = config.splits.includes('train') ? await compacted('train') : undefined;
  const val = config.splits.includes('val') ? await compacted('val') : undefined;
  const seconds = (Date.now() - progress.current.extractEndedAt!) / 1000 - errorsSeconds;
  // A shard extracted again may have lost or regained rows: errors.csv is written anew.
  if (repairs.repaired) errors = await cpu.writeErrors(config, shardCounts);
  return { train, val, errors, seconds };
}

/** Extracting again the shards a step found damaged, then repeating the step, a few rounds at most. */
class ShardRepairs {
  repaired = false;

  constructor(
    private readonly config: RunConfig,
    private readonly rounds: number,
  ) {}

  async around<T>(step: () => Promise<T>): Promise<T> {
    const { inference } = activitiesFor(this.config);
    for (let round = 1; ; round++) {
      try {
        return await step();
      } catch (error) {
        const damaged = damagedShards(error);
        if (!damaged || round > this.rounds) throw error;
        log.warn('shards must be extracted again', {
          split: damaged.split,
          shards: damaged.shards,
          reason: (error as ActivityFailure).cause?.message,
        });
        this.repaired = true;
        await runInLanes(damaged.shards, this.config.parallelShards, async (shard) => {
          await inference.extractShard(this.config, damaged.split, shard);
        });
      }
    }
  }
}

/** manifest.json, then (for a scheduled run with keepRuns) the earlier outputs beyond keepRuns. */
async function writeManifest(
  { config, template, reuse, split, shardCounts, planSeconds, started }: PlannedRun,
  { train, val, errors, seconds }: CompactedRun,
  progress: RunProgressTracker,
): Promise<RunSummary> {
  const { cpu } = activitiesFor(config);
  const { workflowId, runId } = workflowInfo();
  progress.enter('manifest');
  const timings = {
    split: split.seconds,
    plan: planSeconds,
    extract: progress.extractSeconds,
    compact: seconds,
    total: (Date.now() - started) / 1000,
  };
  const counts: RunCounts = {
    inputRows: split.inputRows,
    trainingImages: split.trainingRows,
    validationImages: split.validationRows,
    extractedImages: train?.extracted ?? 0,
    rows: train?.rows ?? 0,
    validationExtractedImages: val?.extracted ?? 0,
    validationRows: val?.rows ?? 0,
    reusedImages: train?.reused ?? 0,
    validationReusedImages: val?.reused ?? 0,
    errors,
    shards: progress.current.shardsTotal,
    tilesPerImage: (train ?? val)!.tilesPerImage,
    channels: (train ?? val)!.channels,
  };
  const manifest = await cpu.writeManifest(config, { workflowId, runId, counts, timings, shardCounts });
  const removed =
    config.keepRuns !== undefined && template !== undefined
      ? await cpu.removeOldRuns(config, template, config.keepRuns)
      : [];
  if (removed.length > 0) log.info('removed earlier outputs beyond keepRuns', { keepRuns: config.keepRuns, removed });
  progress.enter('done');
  return {
    workflowId,
    out: config.out,
    vectors: train ? `${config.out}/vectors.parquet` : null,
    validationVectors: val ? `${config.out}/validation-vectors.parquet` : null,
    manifest,
    counts,
    timings,
    ...(reuse ? { reuse } : {}),
    ...(removed.length > 0 ? { removedRuns: removed } : {}),
  };
}
