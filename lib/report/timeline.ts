import type { AttemptOutcome, ManifestShard } from '../run-folder/records.ts';

/**
 * Each shard's attempts on one time axis, from manifest.json (which gathers the attempt logs of
 * .tessera/attempts/ when the run finishes): when each started, how long it ran, and the shard's
 * throughput, its images ÷ the seconds of the attempt that extracted it.
 */

export interface AttemptSpan {
  attempt: number;
  worker: string;
  outcome: AttemptOutcome;
  /** Seconds since the first attempt of the run started. */
  start: number;
  /** Null when the attempt never reported its end (interrupted). */
  seconds: number | null;
}

export interface ShardSpan {
  split: 'train' | 'val';
  shard: number;
  images: number;
  attempts: AttemptSpan[];
  /** How the last attempt ended. */
  outcome: AttemptOutcome | null;
  /** images ÷ seconds of the extracting attempt; null when reused or never extracted. */
  imagesPerSecond: number | null;
}

export interface Timeline {
  /** ISO time of the first attempt's start, or null when no attempt was recorded. */
  origin: string | null;
  /** Seconds from the first start to the last end. */
  span: number;
  shards: ShardSpan[];
  /** Images of extracted (not reused) shards ÷ the span: what the workers achieved together. */
  imagesPerSecond: number | null;
}

export function shardTimeline(shards: readonly ManifestShard[]): Timeline {
  const starts = shards
    .flatMap((shard) => shard.attempts.map((attempt) => Date.parse(attempt.startedAt)))
    .filter(Number.isFinite);
  const origin = starts.length > 0 ? Math.min(...starts) : null;
  let span = 0;
  let extractedImages = 0;
  const spans = [...shards]
    .sort((a, b) => (a.split === b.split ? a.shard - b.shard : a.split === 'train' ? -1 : 1))
    .map((shard): ShardSpan => {
      const attempts = shard.attempts.map((attempt): AttemptSpan => {
        const start = origin === null ? 0 : (Date.parse(attempt.startedAt) - origin) / 1000;
        const seconds = attempt.seconds ?? null;
        span = Math.max(span, start + (seconds ?? 0));
        return { attempt: attempt.attempt, worker: attempt.worker, outcome: attempt.outcome, start, seconds };
      });
      const extracting = [...attempts].reverse().find((attempt) => attempt.outcome === 'extracted');
      if (extracting) extractedImages += shard.images;
      return {
        split: shard.split,
        shard: shard.shard,
        images: shard.images,
        attempts,
        outcome: attempts.at(-1)?.outcome ?? null,
        imagesPerSecond: extracting?.seconds ? shard.images / extracting.seconds : null,
      };
    });
  return {
    origin: origin === null ? null : new Date(origin).toISOString(),
    span,
    shards: spans,
    imagesPerSecond: span > 0 && extractedImages > 0 ? extractedImages / span : null,
  };
}
