import { defineQuery, log, setCurrentDetails, setHandler } from '@temporalio/workflow';

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

/** Counts of shards that finished, added to a run's progress. */
export interface FinishedShards {
  shards: number;
  images: number;
  rows: number;
  errors: number;
}

/**
 * A workflow's progress, answered to the `progress` query and shown as the Temporal UI's current
 * details. Every change to the counts goes through here, so the rate and the details shown always
 * follow them. `output` (the run's folder) is named in the details and in the stage log lines.
 */
export class RunProgressTracker {
  private readonly progress: RunProgress;

  constructor(
    stage: RunProgress['stage'],
    private readonly output?: string,
  ) {
    const now = Date.now();
    this.progress = withRate(
      {
        stage,
        shardsTotal: 0,
        shardsDone: 0,
        imagesTotal: 0,
        imagesDone: 0,
        rows: 0,
        errors: 0,
        extractStartedAt: null,
        imagesAtExtractStart: 0,
        extractEndedAt: null,
        updatedAt: now,
        imagesPerSecond: 0,
        etaSeconds: null,
      },
      now,
    );
    setHandler(progressQuery, () => this.progress);
  }

  get current(): Readonly<RunProgress> {
    return this.progress;
  }

  /** Seconds from the first shard handed out to the last one done (so far, while extracting). */
  get extractSeconds(): number {
    const { extractStartedAt, extractEndedAt } = this.progress;
    return extractStartedAt === null ? 0 : ((extractEndedAt ?? Date.now()) - extractStartedAt) / 1000;
  }

  enter(stage: RunProgress['stage']): void {
    this.progress.stage = stage;
    this.publish();
    if (this.output !== undefined) log.info('run stage', { stage, out: this.output });
  }

  /** A split's shards planned: `rejectedRows` count as done images (and errors) from the start. */
  addPlanned(plan: { shards: number; images: number; rejectedRows: number }): void {
    this.progress.shardsTotal += plan.shards;
    this.progress.imagesTotal += plan.images;
    this.progress.imagesDone += plan.rejectedRows;
    this.progress.errors += plan.rejectedRows;
  }

  startExtraction(): void {
    this.progress.extractStartedAt = Date.now();
    this.progress.imagesAtExtractStart = this.progress.imagesDone;
  }

  addFinished(done: FinishedShards): void {
    this.progress.shardsDone += done.shards;
    this.progress.imagesDone += done.images;
    this.progress.rows += done.rows;
    this.progress.errors += done.errors;
    this.publish();
  }

  endExtraction(): void {
    this.progress.extractEndedAt = Date.now();
  }

  private publish(): void {
    Object.assign(this.progress, withRate(this.progress, Date.now()));
    const details = describeProgress(this.progress);
    setCurrentDetails(this.output === undefined ? details : `${details}\n\nOutput: \`${this.output}\``);
  }
}
