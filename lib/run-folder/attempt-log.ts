import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Split } from '../core/run-config.ts';
import type { SplitLayout } from './layout.ts';
import { AttemptLineSchema, type AttemptLine, type AttemptOutcome, type ShardAttempt } from './records.ts';

/**
 * Every attempt at a shard leaves lines in `.tessera/attempts/<split>/shard-NNNNN.jsonl`: one when
 * it starts and one when it ends. A crash leaves a start without an end. manifest.json gathers
 * them, so a user can see which shards were redone, by which worker, and which were reused.
 */
export interface ShardAttempts {
  split: Split;
  shard: number;
  attempts: ShardAttempt[];
}

/** This worker process, as attempt records name it. */
export const WORKER_NAME = `${os.hostname()}:${process.pid}`;

export class AttemptLog {
  private constructor(
    private readonly file: string,
    private readonly attempt: number,
  ) {}

  static async start(files: SplitLayout, shard: number, attempt: number): Promise<AttemptLog> {
    const log = new AttemptLog(files.attempts(shard), attempt);
    await fs.mkdir(path.dirname(log.file), { recursive: true });
    await log.append('started');
    return log;
  }

  finish(outcome: AttemptOutcome, seconds: number): Promise<void> {
    return this.append(outcome, seconds);
  }

  private append(event: AttemptLine['event'], seconds?: number): Promise<void> {
    const line: AttemptLine = {
      format: 1,
      event,
      attempt: this.attempt,
      worker: WORKER_NAME,
      at: new Date().toISOString(),
      ...(seconds === undefined ? {} : { seconds }),
    };
    // One small appended line per event: a crash can cut only the line being written.
    return fs.appendFile(this.file, `${JSON.stringify(line)}\n`);
  }
}

/** The attempts at one shard, pairing each start with its end (by attempt and worker). */
export async function readShardAttempts(files: SplitLayout, split: Split, shard: number): Promise<ShardAttempts> {
  const file = files.attempts(shard);
  const text = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const attempts: ShardAttempt[] = [];
  for (const raw of text.split('\n')) {
    const line = parseAttemptLine(raw);
    if (!line) continue; // empty, or cut by a crash
    if (line.event === 'started') {
      attempts.push({ attempt: line.attempt, worker: line.worker, startedAt: line.at, outcome: 'interrupted' });
      continue;
    }
    const open = [...attempts]
      .reverse()
      .find((a) => a.outcome === 'interrupted' && a.attempt === line.attempt && a.worker === line.worker);
    if (open) {
      open.outcome = line.event;
      open.seconds = line.seconds;
    }
  }
  return { split, shard, attempts };
}

function parseAttemptLine(raw: string) {
  try {
    const parsed = AttemptLineSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
