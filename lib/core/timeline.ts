import fs from 'node:fs';

/**
 * Where a command's seconds go (issue 28): with TESSERA_TIMELINE=FILE, a command records when each
 * of its phases began and ended (ms since the process started, and the process's CPU at each end)
 * and writes them to FILE as JSON when it exits; bench/embedded-start.ts reads them. Without it
 * every call here is a no-op that costs a branch. Phases may overlap: the dev server starts while
 * the workers are built, and a run's activities are phases too (workers/create-workers.ts).
 */
const FILE = process.env.TESSERA_TIMELINE;

export interface TimelineSpan {
  name: string;
  /** ms since the process started (performance.now()). */
  start: number;
  end: number;
  /** The process's CPU (user + system, ms, all its threads) when the phase ended. */
  cpuAtEnd: number;
}

export interface TimelineRecord {
  spans: TimelineSpan[];
  /** When Node had booted and began to run tessera's first module (ms since the process started). */
  nodeReady: number;
  /** The process's own CPU (user + system, ms) at exit; its children's are not in it. */
  cpu: number;
  exit: number;
}

const spans: TimelineSpan[] = [];

const cpuMs = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};

if (FILE) {
  process.on('exit', () => {
    const record: TimelineRecord = {
      spans,
      nodeReady: performance.nodeTiming.bootstrapComplete,
      cpu: cpuMs(),
      exit: performance.now(),
    };
    fs.writeFileSync(FILE, JSON.stringify(record));
  });
}

/** Starts a phase; the function returned ends it (once). */
export function begin(name: string): () => void {
  if (!FILE) return () => {};
  const start = performance.now();
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    spans.push({ name, start, end: performance.now(), cpuAtEnd: cpuMs() });
  };
}

/** `work` as the phase `name`, ended however it settles. */
export async function timed<T>(name: string, work: () => Promise<T>): Promise<T> {
  if (!FILE) return work();
  const end = begin(name);
  try {
    return await work();
  } finally {
    end();
  }
}

/** A phase that began when the process started and ends now (loading the command's modules, say). */
export function since(name: string, start = 0): void {
  if (FILE) spans.push({ name, start, end: performance.now(), cpuAtEnd: cpuMs() });
}

/** Whether phases are being recorded: callers skip work done only for the record. */
export const timelineOn = Boolean(FILE);
