import { Context } from '@temporalio/activity';
import { checkAttach as checkAttachFiles, type AttachResult } from '../lib/run/attach-check.ts';
import type { RunConfig, Split } from '../lib/core/run-config.ts';
import { compact as compactShards, type CompactSummary } from '../lib/compact/compact.ts';
import {
  followExtraction as followShards,
  FollowedCompactionSchema,
  publishFollowed as publishFollowedFile,
  type FollowedCompaction,
} from '../lib/compact/follow-extraction.ts';
import { writeManifest as writeManifestFile, type RunStats } from '../lib/compact/manifest.ts';
import { planShards as planShardFiles, type PlanSummary } from '../lib/plan/plan-shards.ts';
import { preflight as runPreflight, type PreflightSummary } from '../lib/run/preflight.ts';
import { prepareSplit as prepareSplitFiles, type SplitSummary } from '../lib/split/prepare-split.ts';
import { writeRunErrors } from '../lib/compact/errors-csv.ts';
import {
  checkRunConfigPaths,
  describeInputProblems as describeProblems,
  linkTargetsOf,
  type WorkerRoots,
} from '../lib/run-folder/confinement.ts';
import {
  planReuse as planReuseSources,
  removeOldRuns as removeOldRunFolders,
  type ReusePlan,
} from '../lib/run/earlier-runs.ts';
import { Stores } from '../lib/storage/open-store.ts';
import { confineActivities } from './confine.ts';
import { failFastOnInputErrors } from './fail-fast.ts';
import { whileHeartbeating } from './heartbeat.ts';

/** Input errors end the run at once; the heartbeat lets a dead worker's activity move on. */
const cpuActivity = <T>(work: () => Promise<T>): Promise<T> => failFastOnInputErrors(() => whileHeartbeating(work));

export interface CpuActivityOptions {
  /**
   * Where this process also runs the inference queue: starts loading a run's model session once
   * preflight has recorded the model, without waiting for it (a failure there is the first shard's).
   */
  warmInference?: (config: RunConfig, modelSha256: string) => void;
  /** The process's object-store client and local copies; by default, the activities' own. */
  stores?: Stores;
}

/** Activities of the CPU task queue: thin adapters over lib/, each confined to the worker's roots. */
export function createCpuActivities(roots: WorkerRoots, options: CpuActivityOptions = {}) {
  return {
    /**
     * Every problem of a workflow input that did not parse, paths against this worker's roots
     * included (the one activity that takes no valid config: it only reads what the roots resolve).
     */
    describeInputProblems(input: unknown): Promise<string> {
      return describeProblems(input, roots);
    },
    ...confinedCpuActivities(roots, options),
  };
}

function confinedCpuActivities(roots: WorkerRoots, options: CpuActivityOptions) {
  // One object-store client for the activities (one connection pool), and one copy of a model in a bucket.
  const stores = options.stores ?? new Stores();
  return confineActivities(roots, {
    /** Dataset, output folder and model checked before any work: fails fast, names the problem. */
    preflight(config: RunConfig): Promise<PreflightSummary> {
      const execution = Context.current().info.workflowExecution;
      const hooks = { modelRecorded: (modelSha256: string) => options.warmInference?.(config, modelSha256) };
      return cpuActivity(() =>
        runPreflight(config, execution && { workflowId: execution.workflowId, runId: execution.runId }, hooks, stores),
      );
    },
    /** Whether a `tessera run` that found this run open may attach to it, or restarts it. */
    checkAttach(config: RunConfig, requested: RunConfig): Promise<AttachResult> {
      return cpuActivity(async () => {
        await checkRunConfigPaths(requested, roots); // the command's folders too, not only the run's
        return checkAttachFiles(config, requested, linkTargetsOf(roots), stores);
      });
    },
    /** The --reuse sources (and with reuseEarlierRuns the template's newest finished run) that this run can use. */
    planReuse(config: RunConfig, template: string | undefined): Promise<ReusePlan> {
      return cpuActivity(() => planReuseSources(config, template));
    },
    /** keepRuns: finished outputs of the template beyond the newest `keep`, removed; returns them. */
    removeOldRuns(config: RunConfig, template: string, keep: number): Promise<string[]> {
      return cpuActivity(() => removeOldRunFolders(template, config.out, keep));
    },
    prepareSplit(config: RunConfig): Promise<SplitSummary> {
      return cpuActivity(() => prepareSplitFiles(config, stores));
    },
    planShards(config: RunConfig, split: Split): Promise<PlanSummary> {
      return cpuActivity(() => planShardFiles(config, split));
    },
    compact(config: RunConfig, split: Split, shardCount: number): Promise<CompactSummary> {
      // Stops between chunks when the run is cancelled; the half-written file is removed.
      return cpuActivity(() =>
        compactShards(config, split, shardCount, () => Context.current().cancellationSignal.throwIfAborted()),
      );
    },
    /** Started beside the split's extraction: copies each shard as its report appears (lib/compact/compact.ts). */
    followExtraction(config: RunConfig, split: Split, shardCount: number): Promise<FollowedCompaction> {
      // Stops between chunks, and while it waits for a shard, when the run is cancelled.
      return cpuActivity(() =>
        followShards(config, split, shardCount, () => Context.current().cancellationSignal.throwIfAborted()),
      );
    },
    /** Once extraction is done: the followed file published, or null when a shard changed after it was copied. */
    publishFollowed(config: RunConfig, followed: FollowedCompaction): Promise<CompactSummary | null> {
      return cpuActivity(() => publishFollowedFile(config, FollowedCompactionSchema.parse(followed)));
    },
    /** errors.csv, once every shard is extracted; returns its row count. */
    writeErrors(config: RunConfig, shardCounts: Partial<Record<Split, number>>): Promise<number> {
      return cpuActivity(() => writeRunErrors(config, shardCounts));
    },
    writeManifest(config: RunConfig, stats: RunStats): Promise<string> {
      return cpuActivity(() => writeManifestFile(config, stats));
    },
  });
}

export type CpuActivities = ReturnType<typeof createCpuActivities>;
