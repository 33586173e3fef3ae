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
  patched,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { parseRunConfig, type RunConfig, type RunConfigInput, type Split } from '../lib/core/run-config.ts';
import { FAILURE_TYPES, type DamagedShardsDetails } from '../lib/core/errors.ts';
import { hasOutputTemplate, resolveOutputTemplate } from '../lib/run/output-template.ts';
import type { RunSummary } from '../lib/compact/run-summary.ts';
import type { CompactSummary } from '../lib/compact/compact.ts';
import type { FollowedCompaction } from '../lib/compact/follow-extraction.ts';
import type { RunCounts } from '../lib/run-folder/records.ts';
import { activitiesFor } from './activity-options.ts';
import { extractShardRange, shardRanges, type ShardRange } from './extract-shard-range.ts';
import { extractShardsInline } from './inline-extraction.ts';
import { attachUpdate, type AttachResult } from './attach.ts';
import { CompactionFollowers } from './compaction-followers.ts';
import { describeProgress, progressQuery, withRate, type RunProgress } from './run-progress.ts';

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

/** Rounds of extracting damaged shards again before a run gives up on them. */
const SHARD_REPAIR_ROUNDS = 3;

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
 */
export async function extractVectors(input: RunConfigInput): Promise<RunSummary> {
  const parsed = parseRunConfig(input);
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, 'InvalidConfig');
  const config = resolveOutput(parsed.config);
  const { cpu } = activitiesFor(config);
  const started = Date.now();
  const progress: RunProgress = withRate(
    {
      stage: 'preflight',
      shardsTotal: 0,
      shardsDone: 0,
      imagesTotal: 0,
      imagesDone: 0,
      rows: 0,
      errors: 0,
      extractStartedAt: null,
      imagesAtExtractStart: 0,
      extractEndedAt: null,
      updatedAt: started,
      imagesPerSecond: 0,
      etaSeconds: null,
    },
    started,
  );
  setHandler(progressQuery, () => progress);

  const pipeline = new CancellationScope();
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
    if (progress.stage === 'preflight' && JSON.stringify(requested.config) === JSON.stringify(config))
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

  let summary: RunSummary | undefined;
  try {
    const template = hasOutputTemplate(parsed.config.out) ? parsed.config.out : undefined;
    summary = await pipeline.run(() => runPipeline(config, progress, started, template));
  } catch (error) {
    if (!(restartWith && isCancellation(error))) throw error;
  }
  await condition(allHandlersFinished);
  if (restartWith) await continueAsNew<typeof extractVectors>(restartWith);
  return summary!;
}

/**
 * preflight → seed & split → plan shards → extract shards (child workflows of at most 256 shards,
 * so history stays bounded) → errors.csv → compact → manifest. Only paths and counts cross
 * activity boundaries; no file, model or clock is touched here.
 */
async function runPipeline(
  options: RunConfig,
  progress: RunProgress,
  started: number,
  template: string | undefined,
): Promise<RunSummary> {
  const { cpu, compactOnCpu, inference, followingCompaction } = activitiesFor(options);
  const { workflowId, runId } = workflowInfo();
  const stage = (name: RunProgress['stage']) => {
    Object.assign(progress, withRate({ ...progress, stage: name }, Date.now()));
    setCurrentDetails(`${describeProgress(progress)}\n\nOutput: \`${options.out}\``);
    log.info('run stage', { stage: name, out: options.out });
  };

  stage('preflight');
  await cpu.preflight(options);
  // Only for runs that ask for reuse: histories of runs without it see no new activity.
  const reuse =
    options.reuse.length > 0 || (options.reuseEarlierRuns && template !== undefined)
      ? await cpu.planReuse(options, template)
      : undefined;
  for (const skipped of reuse?.skipped ?? []) log.warn(skipped);
  const config: RunConfig = reuse ? { ...options, reuse: reuse.sources } : options;
  stage('split');
  const split = await cpu.prepareSplit(config);
  stage('plan');
  const shardCounts: Partial<Record<Split, number>> = {};
  const ranges: ShardRange[] = [];
  let planSeconds = 0;
  for (const name of config.splits) {
    const plan = await cpu.planShards(config, name);
    shardCounts[name] = plan.shardCount;
    planSeconds += plan.seconds;
    progress.shardsTotal += plan.shardCount;
    progress.imagesTotal += plan.images;
    progress.imagesDone += plan.rejectedRows;
    progress.errors += plan.rejectedRows;
    ranges.push(...shardRanges(name, plan.shardCount));
  }
  progress.extractStartedAt = Date.now();
  progress.imagesAtExtractStart = progress.imagesDone;
  stage('extract');

  const finished = (done: { shards: number; images: number; rows: number; errors: number; seconds: number }) => {
    progress.shardsDone += done.shards;
    progress.imagesDone += done.images;
    progress.rows += done.rows;
    progress.errors += done.errors;
    stage('extract');
  };
  let followers: CompactionFollowers | undefined;
  if (patched('shard-range-children')) {
    followers = patched('compaction-follows-extraction')
      ? new CompactionFollowers(config, followingCompaction)
      : undefined;
    // Ranges run one after another; each keeps parallelShards activities in flight, so the only
    // idle time is a range's last shards finishing: under one shard's time per 256 shards.
    try {
      for (const range of ranges) {
        followers?.follow(range.split, shardCounts[range.split]!);
        const last = range.firstShard + range.shardCount - 1;
        const done = await executeChild(extractShardRange, {
          args: [config, range],
          workflowId: `${workflowId}--${range.split}-shards-${range.firstShard}-${last}`,
          staticSummary: `tessera ${range.split} shards ${range.firstShard}–${last} of \`${config.out}\``,
        });
        finished({ ...done, shards: done.shardCount });
      }
    } catch (error) {
      await followers?.stop();
      throw error;
    }
  } else {
    await extractShardsInline(config, inference, shardCounts, (shard) =>
      finished({ shards: 1, images: shard.images, rows: shard.rows, errors: shard.errorCount, seconds: shard.seconds }),
    );
  }

  progress.extractEndedAt = Date.now();
  stage('compact');
  // A follower should need about one shard's copy after the last shard; past the extraction's own
  // time (at least a minute) something is wrong, and compacting afresh is the known way out.
  const followed =
    (await followers?.finish(Math.max(60_000, progress.extractEndedAt - progress.extractStartedAt!))) ??
    new Map<Split, FollowedCompaction>();
  // A shard file found damaged, truncated or replaced (or a report missing) is extracted again
  // at once, then the step is repeated: never compacted as it is, never retried for minutes.
  let repaired = false;
  const repairing = async <T>(step: () => Promise<T>): Promise<T> => {
    for (let round = 1; ; round++) {
      try {
        return await step();
      } catch (error) {
        const damaged = damagedShards(error);
        if (!damaged || round > SHARD_REPAIR_ROUNDS) throw error;
        log.warn('shards must be extracted again', {
          split: damaged.split,
          shards: damaged.shards,
          reason: (error as ActivityFailure).cause?.message,
        });
        repaired = true;
        let next = 0;
        const lane = async () => {
          while (next < damaged.shards.length)
            await inference.extractShard(config, damaged.split, damaged.shards[next++]!);
        };
        await Promise.all(Array.from({ length: Math.min(config.parallelShards, damaged.shards.length) }, lane));
      }
    }
  };
  const errorsStarted = Date.now();
  let errors = await repairing(() => cpu.writeErrors(config, shardCounts));
  const errorsSeconds = (Date.now() - errorsStarted) / 1000;
  // The followed file becomes the split's vectors file unless a shard changed after it was
  // copied (or was repaired just now): then the split is compacted afresh.
  const publishFollowed = async (split: Split): Promise<CompactSummary | null> => {
    const file = followed.get(split);
    if (!file || repaired) return null;
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
    (await publishFollowed(split)) ?? (await repairing(() => compactOnCpu.compact(config, split, shardCounts[split]!)));
  const train = config.splits.includes('train') ? await compacted('train') : undefined;
  const val = config.splits.includes('val') ? await compacted('val') : undefined;
  const compactedAt = Date.now();
  // A shard extracted again may have lost or regained rows: errors.csv is written anew.
  if (repaired) errors = await cpu.writeErrors(config, shardCounts);
  stage('manifest');
  const timings = {
    split: split.seconds,
    plan: planSeconds,
    // From the first shard handed out to the last one done: the shards' own seconds overlap (a worker
    // takes its next shard in the last one's tail; several workers run at once), so their sum would not.
    extract: (progress.extractEndedAt - progress.extractStartedAt!) / 1000,
    // After the last shard: what compaction added to the run's time.
    compact: (compactedAt - progress.extractEndedAt) / 1000 - errorsSeconds,
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
    shards: progress.shardsTotal,
    tilesPerImage: (train ?? val)!.tilesPerImage,
    channels: (train ?? val)!.channels,
  };
  const manifest = await cpu.writeManifest(config, { workflowId, runId, counts, timings, shardCounts });
  const removed =
    config.keepRuns !== undefined && template !== undefined
      ? await cpu.removeOldRuns(config, template, config.keepRuns)
      : [];
  if (removed.length > 0) log.info('removed earlier outputs beyond keepRuns', { keepRuns: config.keepRuns, removed });
  stage('done');
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
