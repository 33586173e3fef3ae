/**
 * Peak memory against dataset size: the embedded `tessera run` (dev server child process, worker
 * and workflow in the measured process) on generated 256×256 JPEG datasets of each size, with the
 * default model; then the CSV stages alone (seed, split, plan) on generated CSVs of each row count.
 * Memory must not grow with the number of images or rows.
 *
 *   npm run bench:memory -- [--sizes 2000,20000] [--csv-rows 100000,1000000,3000000] [--runs 1]
 *
 * Prints two tables and writes the raw figures to bench/results/memory-<time>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL, PROJECT_ROOT } from '../lib/core/project-paths.ts';
import { benchDataset, median, runMeasured } from './measure.ts';
import { outputLayout } from '../lib/run-folder/layout.ts';
import { ManifestSchema } from '../lib/run-folder/records.ts';
import { z } from 'zod';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '2000,20000' },
    'csv-rows': { type: 'string', default: '100000,1000000,3000000' },
    runs: { type: 'string', default: '1' },
  },
});
const sizes = values.sizes === '' ? [] : values.sizes.split(',').map(Number);
const csvRows = values['csv-rows'] === '' ? [] : values['csv-rows'].split(',').map(Number);
const runs = Number(values.runs);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-memory-'));

interface Measurement {
  images: number;
  peakRssMb: number[];
  imagesPerSecond: number[];
  wallSeconds: number[];
}

const results: Measurement[] = [];
for (const images of sizes) {
  const data = await benchDataset(images);
  const measurement: Measurement = { images, peakRssMb: [], imagesPerSecond: [], wallSeconds: [] };
  for (let run = 1; run <= runs; run++) {
    process.stderr.write(`${images} images, run ${run}/${runs}\n`);
    const out = path.join(work, `run-${images}-${run}`);
    const result = await runMeasured(process.execPath, [
      path.join(PROJECT_ROOT, 'bin', 'tessera.js'),
      'run',
      '--quiet',
      '--data',
      data,
      '--out',
      out,
      '--model',
      DEFAULT_MODEL,
    ]);
    const manifest = ManifestSchema.parse(JSON.parse(fs.readFileSync(outputLayout(out).manifest, 'utf8')));
    measurement.peakRssMb.push(result.peakRss / 1e6);
    measurement.imagesPerSecond.push(manifest.counts.trainingImages / manifest.timings.total);
    measurement.wallSeconds.push(result.seconds);
    fs.rmSync(out, { recursive: true, force: true });
  }
  results.push(measurement);
}

const csvResults: { rows: number; csvMb: number; peakRssMb: number; seconds: number }[] = [];
for (const rows of csvRows) {
  process.stderr.write(`CSV of ${rows} rows\n`);
  const dir = path.join(work, `csv-${rows}`);
  const result = await runMeasured(process.execPath, [
    '--import',
    'tsx',
    path.join(PROJECT_ROOT, 'bench', 'plan-large-csv.ts'),
    String(rows),
    dir,
  ]);
  const figures = z
    .object({ csvBytes: z.number(), seconds: z.number() })
    .parse(JSON.parse(result.output.trim().split('\n').pop()!));
  csvResults.push({ rows, csvMb: figures.csvBytes / 1e6, peakRssMb: result.peakRss / 1e6, seconds: figures.seconds });
  fs.rmSync(dir, { recursive: true, force: true });
}

process.stdout.write(
  `\ntessera memory bench: ${os.cpus().length} cores, medians of ${runs}\n\nembedded run, default model\n`,
);
process.stdout.write(
  `${'images'.padStart(8)}  ${'peak RSS MB'.padStart(12)}  ${'images/s'.padStart(9)}  ${'wall s'.padStart(8)}\n`,
);
for (const r of results) {
  process.stdout.write(
    `${String(r.images).padStart(8)}  ${median(r.peakRssMb).toFixed(0).padStart(12)}  ${median(r.imagesPerSecond).toFixed(1).padStart(9)}  ${median(r.wallSeconds).toFixed(1).padStart(8)}\n`,
  );
}
const growth =
  results.length > 1 ? median(results[results.length - 1]!.peakRssMb) / median(results[0]!.peakRssMb) : Number.NaN;
if (results.length > 1)
  process.stdout.write(
    `peak RSS ratio ${results[results.length - 1]!.images} / ${results[0]!.images} images: ${growth.toFixed(3)}\n`,
  );
process.stdout.write(
  `\nCSV stages alone (prepareSplit + planShards, one process each)\n${'rows'.padStart(9)}  ${'CSV MB'.padStart(7)}  ${'peak RSS MB'.padStart(12)}  ${'seconds'.padStart(8)}\n`,
);
for (const r of csvResults) {
  process.stdout.write(
    `${String(r.rows).padStart(9)}  ${r.csvMb.toFixed(0).padStart(7)}  ${r.peakRssMb.toFixed(0).padStart(12)}  ${r.seconds.toFixed(1).padStart(8)}\n`,
  );
}
const resultsDir = path.join(PROJECT_ROOT, 'bench', 'results');
fs.mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `memory-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(file, JSON.stringify({ cores: os.cpus().length, runs, results, growth, csvResults }, null, 2));
process.stdout.write(`raw figures: ${file}\n`);
fs.rmSync(work, { recursive: true, force: true });
