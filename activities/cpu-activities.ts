import { ApplicationFailure } from '@temporalio/common';
import type { RunConfig } from '../lib/config.ts';
import { compact as compactShards, type CompactSummary } from '../lib/compact.ts';
import { InputError } from '../lib/errors.ts';
import { writeManifest as writeManifestFile, type RunStats } from '../lib/manifest.ts';
import { planShards as planShardFiles, type PlanSummary } from '../lib/plan-shards.ts';
import { prepareSplit as prepareSplitFiles, type SplitSummary } from '../lib/prepare-split.ts';

/** Input problems end the workflow at once; anything else is retried with backoff. */
export async function failFastOnInputErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof InputError) throw ApplicationFailure.nonRetryable(error.message, 'InputError');
    throw error;
  }
}

/** Activities of the CPU task queue: thin adapters over lib/. */
export function createCpuActivities() {
  return {
    prepareSplit(config: RunConfig): Promise<SplitSummary> {
      return failFastOnInputErrors(() => prepareSplitFiles(config));
    },
    planShards(config: RunConfig): Promise<PlanSummary> {
      return failFastOnInputErrors(() => planShardFiles(config));
    },
    compact(config: RunConfig, shardCount: number): Promise<CompactSummary> {
      return failFastOnInputErrors(() => compactShards(config, shardCount));
    },
    writeManifest(config: RunConfig, stats: RunStats): Promise<string> {
      return failFastOnInputErrors(() => writeManifestFile(config, stats));
    },
  };
}

export type CpuActivities = ReturnType<typeof createCpuActivities>;
