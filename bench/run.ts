/**
 * tessera's benchmark: every stage alone, the end-to-end run, and the notebook's method, on the
 * same machine, model (timm efficientnet_b0 unless --model, level 4, 256×256) and images, medians
 * of --runs. The notebook's method builds the model's backbone as its `.onnx.json` names it.
 *
 *   npm run bench -- [--data DIR] [--images 2000] [--runs 3] [--model FILE] [--skip-notebook]
 *
 * Prints one table with the ratios tessera / ceiling and tessera / notebook and writes the raw
 * figures to bench/results/<time>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseRunConfig, type RunConfig } from '../lib/core/run-config.ts';
import { DEFAULT_CPU_MICRO_BATCH } from '../lib/extract/session-spec.ts';
import { InferenceEngines } from '../lib/inference/engine.ts';
import { PROJECT_ROOT, TIMM_B0_MODEL } from '../lib/core/project-paths.ts';
import { benchDataset, median, printMedians, runMeasured, writeResults } from './measure.ts';
import { measureCeiling, measureDecode, measureWrite } from './stages.ts';
import { outputLayout } from '../lib/run-folder/layout.ts';
import { ManifestSchema } from '../lib/run-folder/records.ts';
import { z } from 'zod';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    images: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
    model: { type: 'string', default: TIMM_B0_MODEL },
    'skip-notebook': { type: 'boolean', default: false },
  },
});
const model = path.resolve(values.model);
/** The backbone the model was exported from, as its `.onnx.json` names it (the notebook's method builds it). */
const backbone = fs.existsSync(`${model}.json`)
  ? z.object({ backbone: z.string() }).parse(JSON.parse(fs.readFileSync(`${model}.json`, 'utf8'))).backbone
  : path.basename(model);
const runs = Number(values.runs);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-'));

async function dataset(): Promise<string> {
  return values.data ? path.resolve(values.data) : benchDataset(Number(values.images));
}

function configFor(data: string, out: string): RunConfig {
  const parsed = parseRunConfig({ data, out, model });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.config;
}

type Figures = Record<string, number[]>;
const figures: Figures = {};
const record = (name: string, value: number) => (figures[name] ??= []).push(value);

async function main() {
  const data = await dataset();
  const images = fs
    .readdirSync(path.join(data, 'images'))
    .map((f) => path.join(data, 'images', f))
    .sort();
  const engines = new InferenceEngines();
  for (let run = 1; run <= runs; run++) {
    process.stderr.write(`run ${run}/${runs}\n`);
    const base = configFor(data, path.join(work, `run-${run}`));
    record('ceiling images/s', await measureCeiling(base, images.slice(0, 640), DEFAULT_CPU_MICRO_BATCH));
    record('onnxruntime at whole batch 32 images/s', await measureCeiling(base, images.slice(0, 640), undefined));
    record('decode images/s', await measureDecode(base, images));
    const write = await measureWrite(work, 65_536, 320);
    record('write rows/s', write.rowsPerSecond);
    record('write MB/s', write.mbPerSecond);

    const e2eOut = path.join(work, `e2e-${run}`);
    const e2e = await runMeasured(process.execPath, [
      path.join(PROJECT_ROOT, 'bin', 'tessera.js'),
      'run',
      '--quiet',
      '--data',
      data,
      '--out',
      e2eOut,
      '--model',
      model,
    ]);
    const manifest = ManifestSchema.parse(JSON.parse(fs.readFileSync(outputLayout(e2eOut).manifest, 'utf8')));
    const trained = manifest.counts.trainingImages;
    record('tessera images/s (workflow)', trained / manifest.timings.total);
    record('tessera images/s (command)', trained / e2e.seconds);
    record('tessera wall s (command)', e2e.seconds);
    record('tessera peak RSS MB', e2e.peakRss / 1e6);
    record('compaction % of workflow', (100 * manifest.timings.compact) / manifest.timings.total);

    const directRun = await runMeasured(process.execPath, [
      '--import',
      'tsx',
      path.join(PROJECT_ROOT, 'bench', 'direct-run.ts'),
      data,
      path.join(work, `direct-${run}`),
      model,
    ]);
    const direct = z
      .object({ seconds: z.number(), images: z.number(), compactMbPerSecond: z.number() })
      .parse(JSON.parse(directRun.output.trim().split('\n').pop()!));
    record('without Temporal images/s', direct.images / direct.seconds);
    record('without Temporal peak RSS MB', directRun.peakRss / 1e6);
    record('compact MB/s', direct.compactMbPerSecond);
    record('orchestration overhead %', (100 * (manifest.timings.total - direct.seconds)) / manifest.timings.total);

    if (!values['skip-notebook']) {
      const python = path.join(PROJECT_ROOT, '.venv-py', 'bin', 'python');
      const script = path.join(PROJECT_ROOT, 'bench', 'reference', 'notebook_vectors.py');
      const notebook = await runMeasured(python, [
        '-W',
        'ignore',
        script,
        '--data',
        data,
        '--out',
        path.join(work, `notebook-${run}.parquet`),
        '--backbone',
        backbone,
        '--notebook-loader',
      ]);
      const processed = Number(/from (\d+) images/.exec(notebook.output)?.[1] ?? trained);
      record('notebook images/s (command)', processed / notebook.seconds);
    }
    fs.rmSync(e2eOut, { recursive: true, force: true });
    fs.rmSync(path.join(work, `direct-${run}`), { recursive: true, force: true });
  }
  await engines.closeAll();

  const m = (name: string) => median(figures[name] ?? [Number.NaN]);
  const ratios = {
    'tessera / ceiling': m('tessera images/s (workflow)') / m('ceiling images/s'),
    'tessera / notebook (command)': m('tessera images/s (command)') / m('notebook images/s (command)'),
  };
  printMedians(
    `tessera bench: ${images.length} images (${data}), ${runs} runs, ${os.cpus().length} cores, model ${path.basename(model)} (${backbone}) level 4 at 256×256`,
    figures,
    ratios,
  );
  writeResults('bench', { data, model, images: images.length, runs, cores: os.cpus().length, figures, ratios });
  fs.rmSync(work, { recursive: true, force: true });
}

await main();
