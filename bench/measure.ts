import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../lib/core/project-paths.ts';
import { generateSampleData } from '../lib/dev/sample-data.ts';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function seconds<T>(work: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { seconds: (performance.now() - started) / 1000, value };
}

/** CPU seconds (user + system, all threads) a process has used so far. */
export function processCpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function peakRssBytes(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmHWM:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Prints a benchmark's figures as a table: the median of each, then every run's; ratios (of medians) below. */
export function printMedians(
  title: string,
  figures: Record<string, number[]>,
  ratios: Record<string, number> = {},
): void {
  const rows = Object.entries(figures).map(([name, list]) => [
    name,
    median(list).toFixed(2),
    list.map((v) => v.toFixed(2)).join(' '),
  ]);
  rows.push(...Object.entries(ratios).map(([name, value]) => [name, value.toFixed(3), '(from medians)']));
  const width = Math.max(...rows.map((r) => r[0]!.length));
  process.stdout.write(`\n${title}\n\n${'metric'.padEnd(width)}  ${'median'.padStart(10)}  runs\n`);
  for (const [name, med, list] of rows) process.stdout.write(`${name!.padEnd(width)}  ${med!.padStart(10)}  ${list}\n`);
}

/** Writes a benchmark's raw figures to bench/results/<name>-<time>.json (not committed) and says where. */
export function writeResults(name: string, figures: object): string {
  const resultsDir = path.join(PROJECT_ROOT, 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(figures, null, 2));
  process.stdout.write(`\nraw figures: ${file}\n`);
  return file;
}

/** Runs a command; returns its wall time and the peak RSS of that process (polled from /proc). */
export async function runMeasured(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const started = performance.now();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let peak = 0;
  const poll = setInterval(() => (peak = Math.max(peak, peakRssBytes(child.pid!))), 100);
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  clearInterval(poll);
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}:\n${output.slice(-3000)}`);
  return { seconds: (performance.now() - started) / 1000, peakRss: peak, output };
}

/** The benchmark's generated dataset of `images` 256×256 JPEGs (20 classes), made once and kept in bench/.data. */
export async function benchDataset(images: number): Promise<string> {
  const dir = path.join(PROJECT_ROOT, 'bench', '.data', `photos-${images}`);
  if (!fs.existsSync(path.join(dir, 'train.csv'))) {
    process.stderr.write(`generating ${images} 256×256 JPEGs in ${dir}\n`);
    await generateSampleData({ dir, images, classes: 20, size: 256 });
  }
  return dir;
}
