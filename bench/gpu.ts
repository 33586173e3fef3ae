/**
 * The GPU benchmark (run by `bash bench/gpu.sh run` on a machine with a CUDA GPU): onnxruntime's
 * CUDA ceiling on pre-decoded tensors, sharp decoding on one core and on all cores, and the
 * embedded `tessera run --execution-provider cuda`, on the same images and model
 * (timm efficientnet_b0, level 4, 256×256). The GPU target is decode-bound:
 * end to end ≥ 0.8 × cores × single-core decode rate.
 *
 *   node --import tsx bench/gpu.ts [--data DIR] [--images 2000] [--runs 3] [--prepare-only]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { parseRunConfig, type RunConfig } from '../lib/core/run-config.ts';
import { InferenceEngines } from '../lib/inference/engine.ts';
import { PROJECT_ROOT, TIMM_B0_MODEL } from '../lib/core/project-paths.ts';
import { benchDataset, median, runMeasured } from './measure.ts';
import { measureCeiling, measureDecode } from './stages.ts';
import { outputLayout } from '../lib/run-folder/layout.ts';
import { ManifestSchema } from '../lib/run-folder/records.ts';
import * as ort from 'onnxruntime-node';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    images: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
    'prepare-only': { type: 'boolean', default: false },
  },
});

const data = values.data ? path.resolve(values.data) : await benchDataset(Number(values.images));
if (values['prepare-only']) process.exit(0);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-gpu-'));
const cores = os.availableParallelism();
const images = fs.readdirSync(path.join(data, 'images')).map((f) => path.join(data, 'images', f)).sort();
const config = (batchSize: number): RunConfig => {
  const parsed = parseRunConfig({ data, out: work, model: TIMM_B0_MODEL, executionProvider: 'cuda', batchSize });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.config;
};

/**
 * How far the GPU's vectors are from the CPU's: the same fixed input through both providers,
 * level 4. TF32 is off for the run (bench/gpu.sh sets NVIDIA_TF32_OVERRIDE=0); cuDNN's convolution
 * algorithm is onnxruntime's default choice (onnxruntime-node passes no other CUDA option).
 */
async function gpuAgainstCpu(batch = 8, size = 256): Promise<{ maxRelativeToScale: number; maxAbsolute: number; scale: number }> {
  const data = new Float32Array(batch * 3 * size * size);
  let state = 2026;
  for (let k = 0; k < data.length; k++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    data[k] = (state / 2 ** 32) * 4 - 2;
  }
  const outputs = [];
  for (const provider of ['cpu', 'cuda']) {
    const session = await ort.InferenceSession.create(TIMM_B0_MODEL, { executionProviders: [provider] });
    const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', data, [batch, 3, size, size]) }, ['level_4']);
    outputs.push(result.level_4!.data as Float32Array);
    await session.release();
  }
  const [cpu, gpu] = outputs as [Float32Array, Float32Array];
  let scale = 0;
  let maxAbsolute = 0;
  for (let k = 0; k < cpu.length; k++) {
    scale = Math.max(scale, Math.abs(cpu[k]!));
    maxAbsolute = Math.max(maxAbsolute, Math.abs(cpu[k]! - gpu[k]!));
  }
  return { maxRelativeToScale: maxAbsolute / scale, maxAbsolute, scale };
}

const numerics = { tf32: process.env.NVIDIA_TF32_OVERRIDE === '0' ? 'off (NVIDIA_TF32_OVERRIDE=0)' : 'library default (on for Ampere and later)', cudnnConvAlgorithm: "onnxruntime's default search", ...(await gpuAgainstCpu()) };
process.stderr.write(`GPU against CPU, level 4: max |difference| ${numerics.maxAbsolute.toExponential(2)} = ${numerics.maxRelativeToScale.toExponential(2)} of the output's scale (TF32 ${numerics.tf32})\n`);

const figures: Record<string, number[]> = {};
const record = (name: string, value: number) => (figures[name] ??= []).push(value);
const engines = new InferenceEngines();
for (let run = 1; run <= Number(values.runs); run++) {
  process.stderr.write(`run ${run}/${values.runs}\n`);
  for (const batch of [32, 128]) record(`ceiling (CUDA, batch ${batch}) images/s`, await measureCeiling(config(batch), images.slice(0, 1024), undefined));
  sharp.concurrency(1);
  record('decode, 1 core images/s', await measureDecode(config(32), images.slice(0, 500), 1));
  sharp.concurrency(0);
  record(`decode, ${cores} at a time images/s`, await measureDecode(config(32), images));
  const out = path.join(work, `e2e-${run}`);
  const e2e = await runMeasured(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'tessera.js'), 'run', '--quiet', '--data', data, '--out', out, '--model', TIMM_B0_MODEL, '--execution-provider', 'cuda']);
  const manifest = ManifestSchema.parse(JSON.parse(fs.readFileSync(outputLayout(out).manifest, 'utf8')));
  record('tessera end to end (CUDA) images/s', manifest.counts.trainingImages / manifest.timings.total);
  record('tessera peak RSS MB', e2e.peakRss / 1e6);
  fs.rmSync(out, { recursive: true, force: true });
}
await engines.closeAll();

const m = (name: string) => median(figures[name]!);
const target = 0.8 * cores * m('decode, 1 core images/s');
const rows = Object.entries(figures).map(([name, list]) => [name, median(list).toFixed(1), list.map((v) => v.toFixed(1)).join(' ')]);
rows.push(['target: 0.8 × cores × 1-core decode', target.toFixed(1), m('tessera end to end (CUDA) images/s') >= target ? 'met' : 'not met']);
const width = Math.max(...rows.map((r) => r[0]!.length));
process.stdout.write(`\ntessera GPU bench: ${images.length} images, ${cores} cores, timm efficientnet_b0 level 4 at 256×256\n`);
process.stdout.write(`numerics: TF32 ${numerics.tf32}; cuDNN convolution algorithm: ${numerics.cudnnConvAlgorithm}; GPU vs CPU max difference ${numerics.maxRelativeToScale.toExponential(2)} of the output scale\n\n`);
for (const [name, med, list] of rows) process.stdout.write(`${name!.padEnd(width)}  ${med!.padStart(9)}  ${list}\n`);
const resultsDir = path.join(PROJECT_ROOT, 'bench', 'results');
fs.mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `gpu-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(file, JSON.stringify({ data, images: images.length, cores, numerics, figures, target }, null, 2));
process.stdout.write(`\nraw figures: ${file}\n`);
fs.rmSync(work, { recursive: true, force: true });
