import { Context } from '@temporalio/activity';
import type { RunConfig, Split } from '../lib/core/run-config.ts';
import { extractShard as extractShardFiles, type ShardReport, type ShardTurn } from '../lib/extract/extract-shard.ts';
import { sessionSpecFor, type SessionTuning } from '../lib/extract/session-spec.ts';
import type { DecodeThreads } from '../lib/extract/decode-threads.ts';
import type { InferenceEngines } from '../lib/inference/engine.ts';
import { linkTargetsOf, type WorkerRoots } from '../lib/run-folder/confinement.ts';
import { ReuseIndexes } from '../lib/reuse/reuse-index.ts';
import type { Stores } from '../lib/storage/open-store.ts';
import { confineActivities } from './confine.ts';
import { failFastOnInputErrors } from './fail-fast.ts';
import { whileHeartbeating } from './heartbeat.ts';

/** What crosses into the workflow's history: counts, never the shard's per-image lineage. */
export type ShardSummary = Omit<ShardReport, 'errors' | 'lineage' | 'format' | 'parquetSha256' | 'reusedFrom'> & {
  errorCount: number;
  reusedImages?: number;
};

/** This process's parts that every shard uses: one session per model, the decode threads, the queue's slots. */
export interface InferenceWorkerParts {
  engines: InferenceEngines;
  decoders: DecodeThreads;
  /** Where a shard says that its tail has come (the next shard may start) and that it is over. */
  shardTurns: { enter(): ShardTurn };
  /** The process's object-store client and local copies (a model in a bucket). */
  stores: Stores;
}

/** Activities of the inference task queue, confined to the worker's roots. */
export function createInferenceActivities(
  { engines, decoders, shardTurns, stores }: InferenceWorkerParts,
  roots: WorkerRoots,
  options: SessionTuning = {},
) {
  const reuseIndexes = new ReuseIndexes();
  return confineActivities(roots, {
    async extractShard(config: RunConfig, split: Split, shard: number): Promise<ShardSummary> {
      const context = Context.current();
      let progress: unknown = { split, shard, imagesDone: 0, loading: true };
      // A model that does not load is a ModelLoadError, an InputError: the run ends at once.
      const engine = (modelSha256: string, modelPath: string) =>
        engines.get({ ...sessionSpecFor(config, options), modelPath, modelSha256 });
      context.log.info('shard started', { split, shard });
      const turn = shardTurns.enter();
      const full = await failFastOnInputErrors(() =>
        whileHeartbeating(
          () =>
            extractShardFiles(config, split, shard, {
              engine,
              heartbeat: (latest) => {
                progress = latest;
                context.heartbeat(latest);
              },
              checkCancelled: () => context.cancellationSignal.throwIfAborted(),
              stoppedAs: () =>
                !context.cancellationSignal.aborted
                  ? undefined
                  : context.cancellationDetails?.cancelRequested
                    ? 'cancelled'
                    : 'interrupted',
              attempt: context.info.attempt,
              reuseIndexes,
              decoders,
              linkTargets: linkTargetsOf(roots),
              stores,
              turn,
            }),
          () => progress,
        ),
      ).finally(turn.leave);
      const { images, extracted, rows, channels, grid, parquet, seconds, reused, redone, errors, reusedFrom } = full;
      const reusedImages = reusedFrom.reduce((sum, source) => sum + source.images, 0);
      if (redone) context.log.warn('shard on disk not reused: extracting it again', { split, shard, reason: redone });
      context.log.info('shard extracted', {
        split,
        shard,
        outcome: reused ? 'reused' : 'extracted',
        images,
        extracted,
        reusedImages,
        rows,
        errors: errors.length,
        seconds,
      });
      return {
        split,
        shard,
        images,
        extracted,
        rows,
        channels,
        grid,
        parquet,
        seconds,
        errorCount: errors.length,
        reusedImages,
        ...(reused ? { reused } : {}),
        ...(redone ? { redone } : {}),
      };
    },
  });
}

export type InferenceActivities = ReturnType<typeof createInferenceActivities>;
