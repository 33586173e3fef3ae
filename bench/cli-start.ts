/**
 * How fast `tessera` answers what needs no run (issue 28, target 1):
 *
 *   npm run bench:cli -- [--repeat 7] [--compare DIR]
 *
 * Whole commands, medians of --repeat runs, the modes interleaved run by run:
 *
 *   build   node bin/tessera.js from the build (dist/, made by `node bin/build.js` when stale,
 *           before every timed command of the build: a source edited meanwhile would run the TypeScript)
 *   tsx     the same command from the TypeScript through tsx (TESSERA_FROM_SOURCE=1), what runs
 *           when the build is missing or stale
 *   DIR     with --compare: another checkout's bin/tessera.js (e.g. one of an earlier commit, with
 *           this checkout's node_modules linked in), for before/after figures
 *
 * Cases: `--help`; `status --out OUT` on a finished output (a 30-image embedded run made once in
 * bench/.data/cli-start/); a mistyped flag; `run --data nope`, which must also leave nothing on disk.
 * Each cell is the wall time and, after the slash, the CPU time (user + system) of the tessera
 * process itself, which other work on a shared machine disturbs less. `node -e 0` is the floor.
 * Targets (wall): ≤ 0.3 s for the first three, ≤ 0.5 s for `run --data nope`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../lib/core/project-paths.ts';
import { median } from './measure.ts';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '7' }, compare: { type: 'string' } } });
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat N: a whole number of runs, at least 1');
const work = path.join(PROJECT_ROOT, 'bench', '.data', 'cli-start');
const TESSERA = path.join(PROJECT_ROOT, 'bin', 'tessera.js');
/** Preloaded into each measured process: its own CPU time, written as it exits. */
const CPU_HOOK = path.join(work, 'cpu-at-exit.cjs');
const CPU_FILE = path.join(work, 'cpu-at-exit.txt');

interface Mode {
  name: string;
  bin: string;
  env: NodeJS.ProcessEnv;
}

interface Sample {
  wall: number;
  cpu: number;
}

function tessera(bin: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  fs.rmSync(CPU_FILE, { force: true });
  const started = performance.now();
  const result = spawnSync(process.execPath, ['--require', CPU_HOOK, bin, ...args], {
    cwd: work,
    env,
    encoding: 'utf8',
  });
  const wall = (performance.now() - started) / 1000;
  const cpu = fs.existsSync(CPU_FILE) ? Number(fs.readFileSync(CPU_FILE, 'utf8')) : Number.NaN;
  return { wall, cpu, code: result.status, output: result.stdout + result.stderr };
}

/** The finished output that `status` reads: made once, kept. */
function finishedOutput(): string {
  const data = path.join(work, 'data');
  const out = path.join(work, 'out');
  if (fs.existsSync(path.join(out, 'manifest.json'))) return out;
  process.stderr.write(`making a finished 30-image output in ${out}\n`);
  for (const args of [
    ['sample-data', '--out', data, '--images', '30', '--classes', '3'],
    ['run', '--data', data, '--out', out, '--quiet'],
  ]) {
    const made = tessera(TESSERA, args);
    if (made.code !== 0) throw new Error(`tessera ${args.join(' ')} exited ${made.code}:\n${made.output}`);
  }
  return out;
}

/** Builds unless dist/ is current. */
function build(): void {
  const built = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'build.js')], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`node bin/build.js failed:\n${built.stderr}`);
}

/** --repeat rounds of every case in every mode, interleaved; `node -e 0` once a round. */
function measure(cases: [string, string[], number][], modes: Mode[], nope: string) {
  const samples = new Map<string, Sample[]>();
  const add = (key: string, sample: Sample) => samples.set(key, [...(samples.get(key) ?? []), sample]);
  for (let round = 0; round < repeat; round++) {
    const floor = tessera('-e', ['0']);
    add('floor', { wall: floor.wall, cpu: floor.cpu });
    for (const [label, args, expected] of cases)
      for (const mode of modes) {
        if (mode.name === 'build') build();
        const result = tessera(mode.bin, args, mode.env);
        // Another checkout may answer a mistake otherwise (exit 1 after a failed run): its time still counts.
        if (mode.bin === TESSERA && result.code !== expected)
          throw new Error(`${mode.name}: tessera ${args.join(' ')} exited ${result.code}:\n${result.output}`);
        if (mode.bin === TESSERA && fs.existsSync(nope))
          throw new Error(`${mode.name}: tessera ${args.join(' ')} left ${nope} behind`);
        fs.rmSync(nope, { recursive: true, force: true });
        add(`${label}\0${mode.name}`, { wall: result.wall, cpu: result.cpu });
      }
  }
  return samples;
}

function main(): void {
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(
    CPU_HOOK,
    `process.on('exit', () => { const u = process.cpuUsage(); require('node:fs').writeFileSync(${JSON.stringify(CPU_FILE)}, String((u.user + u.system) / 1e6)); });\n`,
  );
  build();
  const out = finishedOutput();
  const nope = path.join(work, 'nope-out');
  const cases: [string, string[], number][] = [
    ['--help', ['--help'], 0],
    ['status --out OUT (finished)', ['status', '--out', out], 0],
    ['usage error (--batchsize)', ['run', '--data', 'data', '--out', nope, '--batchsize', '3'], 2],
    ['run --data nope', ['run', '--data', 'nope', '--out', nope], 2],
  ];
  const compare = values.compare ? path.resolve(values.compare) : undefined;
  const modes: Mode[] = [
    { name: 'build', bin: TESSERA, env: { ...process.env, TESSERA_FROM_SOURCE: undefined } },
    { name: 'tsx', bin: TESSERA, env: { ...process.env, TESSERA_FROM_SOURCE: '1' } },
    ...(compare
      ? [{ name: path.basename(compare), bin: path.join(compare, 'bin', 'tessera.js'), env: process.env }]
      : []),
  ];
  const samples = measure(cases, modes, nope);
  const cell = (key: string) => {
    const taken = samples.get(key)!;
    const [wall, cpu] = [median(taken.map((s) => s.wall)), median(taken.map((s) => s.cpu))];
    return `${wall.toFixed(3)} / ${cpu.toFixed(3)}`.padStart(18);
  };
  const width = Math.max(...cases.map(([label]) => label.length));
  const lines = [
    `tessera start-up, seconds of wall time / CPU time of the process, median of ${repeat}`,
    `${''.padEnd(width)}${modes.map((mode) => mode.name.padStart(18)).join('')}`,
    ...cases.map(([label]) => `${label.padEnd(width)}${modes.map((mode) => cell(`${label}\0${mode.name}`)).join('')}`),
    `${'node -e 0'.padEnd(width)}${cell('floor')}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main();
