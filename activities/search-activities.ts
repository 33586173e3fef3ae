import { Context } from '@temporalio/activity';
import type { RunConfig } from '../lib/core/run-config.ts';
import type { WorkerRoots } from '../lib/run-folder/confinement.ts';
import { buildIndex } from '../lib/search/build-index.ts';
import { evaluateOutput, type EvaluateOptions } from '../lib/search/evaluate.ts';
import type { IndexSettings } from '../lib/search/records.ts';
import { confineActivities } from './confine.ts';
import { failFastOnInputErrors } from './fail-fast.ts';
import { whileHeartbeating } from './heartbeat.ts';

/** What crosses into the workflow's history: counts and figures, never the record's image list. */
export interface IndexSummary {
  built: boolean;
  entries: number;
  indexBytes: number;
  vectorsSha256: string;
  seconds: number;
}

export interface EvaluationSummary {
  map5: number;
  top1: number;
  recall: number;
  queries: number;
}

/**
 * The search stages as activities of the CPU queue, confined to the worker's roots like every
 * other. usearch's calls hold the thread while they run, so the build adds its tiles in batches
 * and yields between them: the heartbeat timer runs at least once per batch (well under a second
 * each), and a build that is current returns at once, so a retry after a crash redoes at most
 * the build that was cut short.
 */
export function createSearchActivities(roots: WorkerRoots) {
  return confineActivities(roots, {
    async indexOutput(config: RunConfig, settings: Partial<IndexSettings> = {}): Promise<IndexSummary> {
      let progress = { tiles: 0, total: 0 };
      const { record, built } = await failFastOnInputErrors(() =>
        whileHeartbeating(
          () =>
            buildIndex(config.out, settings, {
              onProgress: (latest) => {
                progress = latest;
                Context.current().heartbeat(progress);
              },
            }),
          () => progress,
        ),
      );
      return {
        built,
        entries: record.entries,
        indexBytes: record.indexBytes,
        vectorsSha256: record.vectors.sha256,
        seconds: record.seconds,
      };
    },

    async evaluateOutput(
      config: RunConfig,
      options: Omit<EvaluateOptions, 'onProgress'> = {},
    ): Promise<EvaluationSummary> {
      let progress = { images: 0 };
      const evaluation = await failFastOnInputErrors(() =>
        whileHeartbeating(
          () => evaluateOutput(config.out, { ...options, onProgress: (latest) => (progress = latest) }),
          () => progress,
        ),
      );
      return {
        map5: evaluation.map5,
        top1: evaluation.top1,
        recall: evaluation.recall.value,
        queries: evaluation.queries.images,
      };
    },
  });
}

export type SearchActivities = ReturnType<typeof createSearchActivities>;
