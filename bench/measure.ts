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

function peakRssBytes(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmHWM:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
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
