/**
 * The GPU benchmark (run by `bash bench/gpu.sh run` on a machine with a CUDA GPU), on one set of
 * images at 256×256, level 4:
 * - numerics: the largest GPU-against-CPU difference of each real model's level-4 output on the
 *   same input, and whether two GPU sessions give bit-identical outputs;
 * - onnxruntime's CUDA ceiling on pre-decoded tensors (timm efficientnet_b0, batches of 32 and 128;
 *   the default Lite0, batch 128);
 * - decoding and preprocessing as extraction does them (libjpeg-turbo for these plain JPEGs) on one
 *   core and on all cores;
 * - `tessera run --execution-provider cuda` end to end with the null model (the feed path), the
 *   default Lite0 and timm efficientnet_b0; the null model on the CPU too;
 * - the plain single-process Python loop (bench/feed/python_loop.py, null model, onnxruntime on one
 *   CPU thread) side by side, with the host's python3.
 * The GPU target is decode-bound: end to end ≥ 0.8 × cores × the one-core decode rate.
 *
 *   node --import tsx bench/gpu.ts [--data DIR] [--images 2000] [--runs 3] [--python python3] [--prepare-only]
 *
 * --data defaults to bench/.data/flowers17-256 (the bundle carries the real photos there), else
 * ../shared/data/flowers17-256, else 2,000 generated JPEGs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import * as ort from 'onnxruntime-node';
import { parseRunConfig, type RunConfig } from '../lib/core/run-config.ts';
import { DEFAULT_MODEL, PROJECT_ROOT, TIMM_B0_MODEL } from '../lib/core/project-paths.ts';
import { benchDataset, median, runMeasured } from './measure.ts';
import { measureCeiling, measureDecode } from './stages.ts';
import { outputLayout } from '../lib/run-folder/layout.ts';
import { ManifestSchema } from '../lib/run-folder/records.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    images: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
    python: { type: 'string', default: 'python3' },
    // cpu only to try this script on a machine without a GPU before a GPU run.
    provider: { type: 'string', default: 'cuda' },
    'prepare-only': { type: 'boolean', default: false },
  },
});

const NULL_MODEL = path.join(PROJECT_ROOT, 'bench', '.data', 'null-level4-256.onnx');

async function defaultData(): Promise<string> {
  for (const dir of [
    path.join(PROJECT_ROOT, 'bench', '.data', 'flowers17-256'),
    path.resolve(PROJECT_ROOT, '..', 'shared', 'data', 'flowers17-256'),
  ]) {
    if (fs.existsSync(path.join(dir, 'train.csv'))) return dir;
  }
  return benchDataset(Number(values.images));
}

/** The null model is made where Python has onnx (prepare: the project's .venv-py; else the host's python3). */
async function ensureNullModel(python: string): Promise<void> {
  if (fs.existsSync(NULL_MODEL)) return;
  fs.mkdirSync(path.dirname(NULL_MODEL), { recursive: true });
  await runMeasured(python, [path.join(PROJECT_ROOT, 'bench', 'feed', 'null_model.py'), NULL_MODEL, '256']);
}

if (values['prepare-only']) {
  await defaultData();
  await ensureNullModel(path.join(PROJECT_ROOT, '.venv-py', 'bin', 'python'));
  process.exit(0);
}

const data = values.data ? path.resolve(values.data) : await defaultData();
await ensureNullModel(values.python);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-gpu-'));
const cores = os.availableParallelism();
const gpu = z.enum(['cpu', 'cuda']).parse(values.provider);
const images = fs
  .readdirSync(path.join(data, 'images'))
  .map((f) => path.join(data, 'images', f))
  .sort();
const models = { null: NULL_MODEL, lite0: DEFAULT_MODEL, b0: TIMM_B0_MODEL } as const;
const config = (model: string, batchSize: number): RunConfig => {
  const parsed = parseRunConfig({ data, out: work, model, executionProvider: gpu, batchSize });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.config;
};

/** A fixed pseudo-random input batch, the same for every provider and session. */
function fixedInput(batch: number, size: number): Float32Array {
  const input = new Float32Array(batch * 3 * size * size);
  let state = 2026;
  for (let k = 0; k < input.length; k++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    input[k] = (state / 2 ** 32) * 4 - 2;
  }
  return input;
}

async function levelFour(
  model: string,
  provider: 'cpu' | 'cuda',
  input: Float32Array,
  batch: number,
  size: number,
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { executionProviders: [provider] });
  const result = await session.run(
    { [session.inputNames[0]!]: new ort.Tensor('float32', input, [batch, 3, size, size]) },
    ['level_4'],
  );
  await session.release();
  return result.level_4!.data as Float32Array;
}

/**
 * How far the GPU's level-4 output is from the CPU's on the same input, relative to the output's
 * scale, and whether a second GPU session repeats the first bit for bit. TF32 is off for the run
 * (bench/gpu.sh sets NVIDIA_TF32_OVERRIDE=0); cuDNN's convolution algorithm is onnxruntime's
 * default choice: onnxruntime-node 1.30 passes only a device id to the CUDA provider.
 */
async function gpuAgainstCpu(model: string, batch = 8, size = 256) {
  const input = fixedInput(batch, size);
  const cpu = await levelFour(model, 'cpu', input, batch, size);
  const gpuOutput = await levelFour(model, gpu, input, batch, size);
  const gpuAgain = await levelFour(model, gpu, input, batch, size);
  let scale = 0;
  let maxAbsolute = 0;
  let repeatDiffers = 0;
  for (let k = 0; k < cpu.length; k++) {
    scale = Math.max(scale, Math.abs(cpu[k]!));
    maxAbsolute = Math.max(maxAbsolute, Math.abs(cpu[k]! - gpuOutput[k]!));
    if (!Object.is(gpuOutput[k], gpuAgain[k])) repeatDiffers++;
  }
  return {
    maxRelativeToScale: maxAbsolute / scale,
    maxAbsolute,
    scale,
    gpuRepeatIdentical: repeatDiffers === 0,
    gpuRepeatDifferingValues: repeatDiffers,
  };
}

const figures: Record<string, number[]> = {};
const record = (name: string, value: number) => (figures[name] ??= []).push(value);

async function tesseraRun(label: string, model: string, provider: 'cpu' | 'cuda', run: number): Promise<void> {
  const out = path.join(work, `e2e-${label}-${run}`.replace(/ /g, '-'));
  // The null model's one output is its feature map; the real models' level 4 is the default.
  const output = model === NULL_MODEL ? ['--output', '0'] : [];
  const measured = await runMeasured(process.execPath, [
    path.join(PROJECT_ROOT, 'bin', 'tessera.js'),
    'run',
    '--quiet',
    '--data',
    data,
    '--out',
    out,
    '--model',
    model,
    ...output,
    '--execution-provider',
    provider,
  ]);
  const manifest = ManifestSchema.parse(JSON.parse(fs.readFileSync(outputLayout(out).manifest, 'utf8')));
  const workflow = manifest.timings.total - manifest.timings.split;
  record(
    `tessera run, ${label} (${provider}): images/s, workflow (split excluded)`,
    manifest.counts.extractedImages / workflow,
  );
  record(`tessera run, ${label} (${provider}): compaction % of workflow`, (100 * manifest.timings.compact) / workflow);
  record(`tessera run, ${label} (${provider}): peak RSS MB`, measured.peakRss / 1e6);
  fs.rmSync(out, { recursive: true, force: true });
}

async function pythonLoop(): Promise<void> {
  const loop = await runMeasured(values.python, [
    path.join(PROJECT_ROOT, 'bench', 'feed', 'python_loop.py'),
    data,
    NULL_MODEL,
    path.join(work, 'python.parquet'),
  ]);
  const result = z
    .object({ images: z.number(), seconds: z.number() })
    .parse(JSON.parse(loop.output.trim().split('\n').pop()!));
  record('python loop, null model (1 CPU thread): images/s', result.images / result.seconds);
}

const numerics = {
  tf32:
    process.env.NVIDIA_TF32_OVERRIDE === '0'
      ? 'off (NVIDIA_TF32_OVERRIDE=0)'
      : 'library default (on for Ampere and later)',
  cudnnConvAlgorithm: "onnxruntime's default (exhaustive search); onnxruntime-node 1.30 cannot set another",
  b0: await gpuAgainstCpu(models.b0),
  lite0: await gpuAgainstCpu(models.lite0),
};
for (const name of ['b0', 'lite0'] as const) {
  const n = numerics[name];
  process.stderr.write(
    `${name}: GPU against CPU, level 4: max |difference| ${n.maxAbsolute.toExponential(2)} = ${n.maxRelativeToScale.toExponential(2)} of the output's scale; a second GPU session ${n.gpuRepeatIdentical ? 'repeats it bit for bit' : `differs in ${n.gpuRepeatDifferingValues} values`}\n`,
  );
}

for (let run = 1; run <= Number(values.runs); run++) {
  process.stderr.write(`run ${run}/${values.runs}\n`);
  for (const batch of [32, 128])
    record(
      `ceiling, b0 (${gpu}, batch ${batch}): images/s`,
      await measureCeiling(config(models.b0, batch), images.slice(0, 1024), undefined),
    );
  record(
    `ceiling, lite0 (${gpu}, batch 128): images/s`,
    await measureCeiling(config(models.lite0, 128), images.slice(0, 1024), undefined),
  );
  record('decode, 1 core: images/s', await measureDecode(config(models.b0, 32), images.slice(0, 500), 1));
  record(`decode, ${cores} at a time: images/s`, await measureDecode(config(models.b0, 32), images));
  await tesseraRun('null model', models.null, gpu, run);
  await tesseraRun('lite0', models.lite0, gpu, run);
  await tesseraRun('b0', models.b0, gpu, run);
  await tesseraRun('null model', models.null, 'cpu', run);
  await pythonLoop();
}

const m = (name: string) => median(figures[name]!);
const target = 0.8 * cores * m('decode, 1 core: images/s');
const rows = Object.entries(figures).map(([name, list]) => [
  name,
  median(list).toFixed(1),
  list.map((v) => v.toFixed(1)).join(' '),
]);
const ratio = (name: string, value: number) => rows.push([name, value.toFixed(2), '(from medians)']);
ratio(
  `null model (${gpu}) / python loop`,
  m(`tessera run, null model (${gpu}): images/s, workflow (split excluded)`) /
    m('python loop, null model (1 CPU thread): images/s'),
);
ratio(
  'b0 end to end / b0 ceiling (batch 128)',
  m(`tessera run, b0 (${gpu}): images/s, workflow (split excluded)`) / m(`ceiling, b0 (${gpu}, batch 128): images/s`),
);
ratio(
  'lite0 end to end / lite0 ceiling (batch 128)',
  m(`tessera run, lite0 (${gpu}): images/s, workflow (split excluded)`) /
    m(`ceiling, lite0 (${gpu}, batch 128): images/s`),
);
rows.push([
  'target: 0.8 × cores × 1-core decode',
  target.toFixed(1),
  m(`tessera run, b0 (${gpu}): images/s, workflow (split excluded)`) >= target ? 'met by b0' : 'not met by b0',
]);
const width = Math.max(...rows.map((r) => r[0]!.length));
process.stdout.write(
  `\ntessera GPU bench: ${images.length} images (${data}), ${cores} cores, level 4 at 256×256, ${values.runs} runs\n`,
);
process.stdout.write(`numerics: TF32 ${numerics.tf32}; cuDNN convolution algorithm: ${numerics.cudnnConvAlgorithm}\n`);
for (const name of ['b0', 'lite0'] as const)
  process.stdout.write(
    `  ${name}: GPU vs CPU max difference ${numerics[name].maxRelativeToScale.toExponential(2)} of the output scale; GPU repeat bit-identical: ${numerics[name].gpuRepeatIdentical}\n`,
  );
process.stdout.write('\n');
for (const [name, med, list] of rows) process.stdout.write(`${name!.padEnd(width)}  ${med!.padStart(9)}  ${list}\n`);
const resultsDir = path.join(PROJECT_ROOT, 'bench', 'results');
fs.mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `gpu-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(file, JSON.stringify({ data, images: images.length, cores, numerics, figures, target }, null, 2));
process.stdout.write(`\nraw figures: ${file}\n`);
fs.rmSync(work, { recursive: true, force: true });
