import { defineQuery } from '@temporalio/workflow';

export const RUN_STAGES = ['preflight', 'split', 'plan', 'extract', 'compact', 'manifest', 'done'] as const;

export interface RunProgress {
  stage: (typeof RUN_STAGES)[number];
  shardsTotal: number;
  /** Shards finished; on the run's workflow, those of finished shard-range children only. */
  shardsDone: number;
  imagesTotal: number;
  /** Images of finished shards (readers add running shards' heartbeats). */
  imagesDone: number;
  rows: number;
  errors: number;
  /** Workflow time (ms since epoch) when extraction began; null before. */
  extractStartedAt: number | null;
  /** imagesDone when extraction began (rows rejected by planning): not counted in the rate. */
  imagesAtExtractStart: number;
  /** Workflow time when the last shard finished; the rate stops there (compaction is not extraction). */
  extractEndedAt: number | null;
  /** Workflow time of the last change to these counts. */
  updatedAt: number;
  /** imagesDone over extraction time so far, as of updatedAt (0 before the first shard). */
  imagesPerSecond: number;
  /** Seconds left at that rate; null while unknown. */
  etaSeconds: number | null;
}

export const progressQuery = defineQuery<RunProgress>('progress');

/**
 * A progress record with its rate and ETA recomputed for `now`. Shards reused by a resumed run
 * finish in milliseconds and lift the rate at first; it settles as new shards finish.
 */
export function withRate(progress: RunProgress, now: number, imagesSeen = progress.imagesDone): RunProgress {
  const end = progress.extractEndedAt ?? now;
  const seconds = progress.extractStartedAt === null ? 0 : (end - progress.extractStartedAt) / 1000;
  const imagesPerSecond = seconds > 0 ? Math.max(0, imagesSeen - progress.imagesAtExtractStart) / seconds : 0;
  const remaining = Math.max(0, progress.imagesTotal - imagesSeen);
  return {
    ...progress,
    updatedAt: now,
    imagesPerSecond,
    etaSeconds: imagesPerSecond > 0 ? remaining / imagesPerSecond : null,
  };
}

/** One line for the Temporal UI's "current details" and logs. */
export function describeProgress(p: RunProgress): string {
  // A shard-range child knows its shards but not its image total: it shows counts without totals.
  const knowsTotal = p.imagesTotal > 0;
  const images = knowsTotal ? `${p.imagesDone}/${p.imagesTotal}` : `${p.imagesDone}`;
  const rate = p.imagesPerSecond > 0 ? `, ${p.imagesPerSecond.toFixed(1)} images/s` : '';
  const eta = knowsTotal && p.etaSeconds !== null && p.stage === 'extract' ? `, ETA ${Math.round(p.etaSeconds)} s` : '';
  return `**${p.stage}**: shards ${p.shardsDone}/${p.shardsTotal}, images ${images}, rows ${p.rows}, errors ${p.errors}${rate}${eta}`;
}
