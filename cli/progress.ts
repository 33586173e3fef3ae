import { defaultPayloadConverter } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { progressQuery, type RunProgress } from '../workflows/run-progress.ts';

export interface ProgressSnapshot extends RunProgress {
  /** Finished shards' images plus what running shards reported in their last heartbeat. */
  imagesSeen: number;
}

/** Reads the workflow's progress query and adds the heartbeats of shards still running. */
export async function readProgress(handle: WorkflowHandle): Promise<ProgressSnapshot | undefined> {
  let progress: RunProgress;
  try {
    progress = await handle.query(progressQuery);
  } catch {
    return undefined; // not started by a worker yet
  }
  let running = 0;
  try {
    const description = await handle.describe();
    for (const activity of description.raw.pendingActivities ?? []) {
      const payload = activity.heartbeatDetails?.payloads?.[0];
      if (!payload) continue;
      const details = defaultPayloadConverter.fromPayload<{ imagesDone?: number }>(payload);
      running += details?.imagesDone ?? 0;
    }
  } catch {
    // progress without heartbeats is still progress
  }
  return { ...progress, imagesSeen: progress.imagesDone + running };
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A one-line progress bar on a terminal; a line every 10 s otherwise (logs, CI). */
export class ProgressBar {
  private readonly started = Date.now();
  private firstImagesAt: { time: number; images: number } | undefined;
  private lastPrinted = 0;
  private lastLine = '';

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(p: ProgressSnapshot): void {
    const now = Date.now();
    if (!this.firstImagesAt && p.imagesSeen > 0) this.firstImagesAt = { time: now, images: 0 };
    const elapsed = this.firstImagesAt ? (now - this.firstImagesAt.time) / 1000 : 0;
    const rate = elapsed > 1 ? p.imagesSeen / ((now - this.started) / 1000) : 0;
    const remaining = p.imagesTotal - p.imagesSeen;
    const eta = rate > 0 ? remaining / rate : Number.NaN;
    const fraction = p.imagesTotal > 0 ? Math.min(1, p.imagesSeen / p.imagesTotal) : 0;
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const line =
      `[${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${p.stage.padEnd(8)} ` +
      `shards ${p.shardsDone}/${p.shardsTotal}  images ${p.imagesSeen}/${p.imagesTotal}  ` +
      `errors ${p.errors}  ${rate.toFixed(1)} img/s  ETA ${formatDuration(eta)}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r${line.padEnd(this.lastLine.length)}`);
      this.lastLine = line;
    } else if (now - this.lastPrinted >= 10_000 || p.stage !== this.lastStage) {
      this.stream.write(`${line}\n`);
      this.lastPrinted = now;
    }
    this.lastStage = p.stage;
  }

  private lastStage = '';

  finish(): void {
    if (this.stream.isTTY && this.lastLine) this.stream.write('\n');
  }
}
