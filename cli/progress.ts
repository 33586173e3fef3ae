import { defaultPayloadConverter } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { progressQuery, withRate, type RunProgress } from '../workflows/run-progress.ts';
import { formatDuration } from './format-duration.ts';

export interface ProgressSnapshot extends RunProgress {
  /** Finished shards' images plus what running shards reported in their last heartbeat. */
  imagesSeen: number;
  /** Shards running now, with their last heartbeat. */
  running: { split?: string; shard?: number; imagesDone: number; imagesTotal?: number }[];
}

/** A query that cannot hang the caller when no worker is polling (e.g. all workers down). */
async function queryProgress(handle: WorkflowHandle, timeoutMs = 10_000): Promise<RunProgress | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
  try {
    return await Promise.race([handle.query(progressQuery).catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function runningShards(handle: WorkflowHandle): Promise<ProgressSnapshot['running']> {
  const description = await handle.describe();
  const running: ProgressSnapshot['running'] = [];
  for (const activity of description.raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    const details = payload
      ? defaultPayloadConverter.fromPayload<{
          split?: string;
          shard?: number;
          imagesDone?: number;
          imagesTotal?: number;
        }>(payload)
      : undefined;
    if (details?.shard !== undefined) running.push({ ...details, imagesDone: details.imagesDone ?? 0 });
  }
  return running;
}

/**
 * The run's progress: the run workflow's query (stage, totals, finished shard ranges), plus the
 * query of each running shard-range child and the heartbeats of its running shards.
 */
export async function readProgress(client: Client, handle: WorkflowHandle): Promise<ProgressSnapshot | undefined> {
  const progress = await queryProgress(handle);
  if (!progress) return undefined; // not picked up by a worker yet, or no worker
  const combined = { ...progress };
  const running: ProgressSnapshot['running'] = [];
  try {
    const description = await handle.describe();
    for (const child of description.raw.pendingChildren ?? []) {
      if (!child.workflowId) continue;
      const childHandle = client.workflow.getHandle(child.workflowId, child.runId ?? undefined);
      const childProgress = await queryProgress(childHandle);
      if (childProgress) {
        combined.shardsDone += childProgress.shardsDone;
        combined.imagesDone += childProgress.imagesDone;
        combined.rows += childProgress.rows;
        combined.errors += childProgress.errors;
      }
      running.push(...(await runningShards(childHandle)));
    }
  } catch {
    // the parent's own counts are still progress
  }
  const imagesSeen = combined.imagesDone + running.reduce((sum, shard) => sum + shard.imagesDone, 0);
  return { ...withRate(combined, Date.now(), imagesSeen), imagesDone: combined.imagesDone, imagesSeen, running };
}

export function progressLine(p: ProgressSnapshot): string {
  const fraction = p.imagesTotal > 0 ? Math.min(1, p.imagesSeen / p.imagesTotal) : 0;
  const width = 24;
  const filled = Math.round(fraction * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  return (
    `[${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${p.stage.padEnd(8)} ` +
    `shards ${p.shardsDone}/${p.shardsTotal}  images ${p.imagesSeen}/${p.imagesTotal}  ` +
    `errors ${p.errors}  ${p.imagesPerSecond.toFixed(1)} img/s  ETA ${formatDuration(p.etaSeconds)}`
  );
}

/** A one-line progress bar on a terminal; a line every 10 s otherwise (logs, CI). */
export class ProgressBar {
  private lastPrinted = 0;
  private lastLine = '';
  private lastStage = '';

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(p: ProgressSnapshot): void {
    const now = Date.now();
    const line = progressLine(p);
    if (this.stream.isTTY) {
      this.stream.write(`\r${line.padEnd(this.lastLine.length)}`);
      this.lastLine = line;
    } else if (now - this.lastPrinted >= 10_000 || p.stage !== this.lastStage) {
      this.stream.write(`${line}\n`);
      this.lastPrinted = now;
    }
    this.lastStage = p.stage;
  }

  finish(): void {
    if (this.stream.isTTY && this.lastLine) this.stream.write('\n');
  }
}
