/**
 * The fixed cost of an embedded `tessera run` (issue 28, target 2):
 *
 *   npm run bench:embedded -- [--repeat 5] [--compare DIR]
 *
 * Whole commands on a 30-image dataset (sample-data, 3 classes) with the null model
 * (bench/feed/null_model.py: next to nothing per image), so what is left is what every run pays:
 *
 *   fresh    `tessera run --data D --out O --model null.onnx --output 0 --quiet` on an empty O
 *   no-op    the same command again on the finished O: nothing to run, every byte re-hashed
 *
 * Each cell is the median wall time, and after the slash the median CPU time (user + system) of
 * the command and every process it waited for (the dev server included: the children's times of
 * this process, from /proc/self/stat; Linux only). Modes are interleaved run by run: `build` is
 * this checkout (node bin/tessera.js from dist/, rebuilt first when stale), `DIR` with --compare
 * another checkout (one of an earlier commit with this checkout's node_modules linked in).
 * Targets (wall): fresh ≤ 4 s, no-op ≤ 1 s.
 *
 * Then where the seconds go: the phases this checkout records with TESSERA_TIMELINE
 * (lib/core/timeline.ts), median start, end and duration over the runs (they overlap: the dev
 * server starts while the run's modules load; activities are phases too), and the floor of the
 * no-op re-run: hashing what it must prove unchanged, timed in this process.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../lib/core/project-paths.ts';
import type { TimelineRecord } from '../lib/core/timeline.ts';
import { generateSampleData } from '../lib/dev/sample-data.ts';
import { BENCH_PYTHON, writeNullModel } from './feed/null-model.ts';
import { median, writeResults } from './measure.ts';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '5' }, compare: { type: 'string' } } });
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat N: a whole number of runs, at least 1');
const work = path.join(PROJECT_ROOT, 'bench', '.data', 'embedded-start');
const data = path.join(work, 'data');
const model = path.join(work, 'null-level4.onnx');
const TIMELINE = path.join(work, 'timeline.json');
const CASES = ['fresh', 'no-op'] as const;
type Case = (typeof CASES)[number];

interface Mode {
  name: string;
  bin: string;
}

interface Sample {
  wall: number;
  cpu: number;
  timeline?: TimelineRecord;
}

/** CPU seconds of this process's waited-for children so far (cutime + cstime), NaN without /proc. */
function childrenCpu(): number {
  try {
    const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100; // fields 16 and 17 of stat(5), in ticks of 10 ms
  } catch {
    return Number.NaN;
  }
}

function run(bin: string, out: string): Sample {
  fs.rmSync(TIMELINE, { force: true });
  const args = ['run', '--data', data, '--out', out, '--model', model, '--output', '0', '--quiet'];
  const cpu = childrenCpu();
  const started = performance.now();
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: work,
    env: { ...process.env, TESSERA_TIMELINE: TIMELINE, TESSERA_FROM_SOURCE: undefined },
    encoding: 'utf8',
  });
  const wall = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${result.status}:\n${result.stderr}`);
  const timeline = fs.existsSync(TIMELINE)
    ? (JSON.parse(fs.readFileSync(TIMELINE, 'utf8')) as TimelineRecord)
    : undefined;
  return { wall, cpu: childrenCpu() - cpu, timeline };
}

/** The dataset and the null model, made once and kept in bench/.data/embedded-start/. */
async function prepare(): Promise<void> {
  if (!fs.existsSync(path.join(data, 'train.csv'))) await generateSampleData({ dir: data, images: 30, classes: 3 });
  if (fs.existsSync(model)) return;
  if (!fs.existsSync(BENCH_PYTHON))
    throw new Error(`no ${BENCH_PYTHON}: bash infra/setup-export.sh makes it (the null model needs onnx)`);
  await writeNullModel(model);
}

function build(): void {
  const built = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'build.js')], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`node bin/build.js failed:\n${built.stderr}`);
}

/** --repeat rounds of both cases in every mode, interleaved: a fresh run, then the no-op on its output. */
function measure(modes: Mode[]): Map<string, Sample[]> {
  const samples = new Map<string, Sample[]>();
  const add = (key: string, sample: Sample) => samples.set(key, [...(samples.get(key) ?? []), sample]);
  for (let round = 0; round < repeat; round++) {
    for (const mode of modes) {
      if (mode.name === 'build') build();
      const out = path.join(work, `out-${mode.name}`);
      fs.rmSync(out, { recursive: true, force: true });
      add(`fresh\0${mode.name}`, run(mode.bin, out));
      add(`no-op\0${mode.name}`, run(mode.bin, out));
    }
    process.stderr.write(`round ${round + 1}/${repeat} done\n`);
  }
  return samples;
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);

/** Each phase's median start, end and duration (s since the process started) and the process's CPU. */
function phaseTable(taken: Sample[]): string[] {
  const timelines = taken.flatMap((sample) => (sample.timeline ? [sample.timeline] : []));
  if (timelines.length === 0) return ['  (no timeline recorded)'];
  const names = [...new Set(timelines.flatMap((t) => t.spans.map((span) => span.name)))];
  const rows = names.map((name) => {
    const spans = timelines.flatMap((t) => t.spans.filter((span) => span.name === name).slice(0, 1));
    const [start, end] = [median(spans.map((s) => s.start)), median(spans.map((s) => s.end))];
    return {
      name,
      start,
      end,
      took: median(spans.map((s) => s.end - s.start)),
      cpu: median(spans.map((s) => s.cpuAtEnd)),
    };
  });
  rows.sort((a, b) => a.start - b.start);
  const width = Math.max(...rows.map((row) => row.name.length));
  return [
    `  ${'phase'.padEnd(width)}   start     end    took   process CPU at end`,
    ...rows.map(
      (row) =>
        `  ${row.name.padEnd(width)} ${seconds(row.start).padStart(7)} ${seconds(row.end).padStart(7)} ${seconds(row.took).padStart(7)} ${seconds(row.cpu).padStart(7)}`,
    ),
    `  ${'node ready (bootstrap)'.padEnd(width)} ${seconds(median(timelines.map((t) => t.nodeReady))).padStart(7)}`,
    `  ${'exit'.padEnd(width)} ${seconds(median(timelines.map((t) => t.exit))).padStart(15)} ${''.padStart(7)} ${seconds(median(timelines.map((t) => t.cpu))).padStart(7)}`,
  ];
}

/** What a no-op re-run must hash at the least: the model, the input CSV, every output and every image. */
function hashingFloor(out: string): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { outputs: object };
  const images = fs.readdirSync(path.join(data, 'images')).map((name) => path.join(data, 'images', name));
  const files = [
    model,
    path.join(data, 'train.csv'),
    ...Object.keys(manifest.outputs).map((name) => path.join(out, name)),
    ...images,
  ];
  const times: number[] = [];
  let bytes = 0;
  for (let round = 0; round < 5; round++) {
    const started = performance.now();
    bytes = 0;
    for (const file of files) {
      const read = fs.readFileSync(file);
      bytes += read.length;
      createHash('sha256').update(read).digest();
    }
    times.push(performance.now() - started);
  }
  return `no-op floor: sha256 of the ${files.length} files it proves unchanged (${(bytes / 1e6).toFixed(1)} MB, from the page cache), in this process: ${median(times).toFixed(1)} ms`;
}

async function main(): Promise<void> {
  fs.mkdirSync(work, { recursive: true });
  await prepare();
  const compare = values.compare ? path.resolve(values.compare) : undefined;
  const modes: Mode[] = [
    { name: 'build', bin: path.join(PROJECT_ROOT, 'bin', 'tessera.js') },
    ...(compare ? [{ name: path.basename(compare), bin: path.join(compare, 'bin', 'tessera.js') }] : []),
  ];
  const samples = measure(modes);
  const cell = (key: string) => {
    const taken = samples.get(key)!;
    return `${median(taken.map((s) => s.wall)).toFixed(2)} / ${median(taken.map((s) => s.cpu)).toFixed(2)}`.padStart(
      18,
    );
  };
  const load = os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');
  const lines = [
    `embedded tessera run, 30 images, null model: seconds of wall time / CPU time (the command and its dev server), median of ${repeat}`,
    `${os.cpus().length} cores, load average ${load} at the end`,
    `${''.padEnd(8)}${modes.map((mode) => mode.name.padStart(18)).join('')}`,
    ...CASES.map((name: Case) => `${name.padEnd(8)}${modes.map((mode) => cell(`${name}\0${mode.name}`)).join('')}`),
    '',
    ...CASES.flatMap((name: Case) => [
      `where the seconds go, ${name} (build):`,
      ...phaseTable(samples.get(`${name}\0build`)!),
      '',
    ]),
    hashingFloor(path.join(work, 'out-build')),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const raw = Object.fromEntries([...samples].map(([key, taken]) => [key.replace('\0', ' '), taken]));
  writeResults('embedded-start', { repeat, load: os.loadavg(), cores: os.cpus().length, samples: raw });
}

await main();
