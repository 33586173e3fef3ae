/**
 * The feed-rate benchmark (issue "Feed a GPU"): the pipeline around the model, measured with a
 * model that costs nearly nothing (bench/feed/null_model.py: level 4's output shape, [N, 320, 8, 8]),
 * beside a plain single-process Python loop (bench/feed/python_loop.py) in the same run.
 *
 *   npm run bench:feed -- [--data DIR] [--runs 3]
 *
 * For each run: a real `tessera run` workflow (dev server, in-process workers, as the embedded run
 * has them) with its images/s over workflow time (split excluded, compaction included) and CPU ms
 * per image (this process's threads, and the Temporal server's); the Python loop; every stage
 * alone, decoding by both of extraction's decoders (libjpeg-turbo for plain JPEGs at the model's
 * size, sharp for the rest). Then decode scaling over 1…N decode threads. Prints a table of medians; raw figures go
 * to bench/results/feed-<time>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { submitRun } from '../cli/submit-run.ts';
import { PROJECT_ROOT } from '../lib/core/project-paths.ts';
import { parseRunConfig } from '../lib/core/run-config.ts';
import { startDevServer } from '../lib/dev/dev-server.ts';
import { decodeRgbInto } from '../lib/image/decode.ts';
import { localTarget } from '../lib/temporal/connection.ts';
import { createWorkers } from '../workers/create-workers.ts';
import { median, printMedians, processCpuSeconds, runMeasured, writeResults } from './measure.ts';
import { BENCH_PYTHON as python, writeNullModel } from './feed/null-model.ts';
import {
  measureDecode,
  measureDecodeAndPreprocess,
  measureDecodeRgb,
  measureInference,
  measureRead,
  measureShardWrite,
  measureTiles,
  type StageFigure,
} from './feed/stages.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: path.resolve(PROJECT_ROOT, '..', 'shared', 'data', 'flowers17-256') },
    runs: { type: 'string', default: '3' },
  },
});
const data = path.resolve(values.data);
const runs = Number(values.runs);
const cores = os.availableParallelism();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-feed-'));
const figures: Record<string, number[]> = {};
const record = (name: string, value: number) => (figures[name] ??= []).push(value);

function recordStage(name: string, figure: StageFigure): void {
  record(`${name} images/s`, figure.imagesPerSecond);
  record(`${name} CPU ms/image`, figure.cpuMs);
}

async function main(): Promise<void> {
  const model = await writeNullModel(path.join(work, 'null-level4.onnx'));
  const ids = fs
    .readFileSync(path.join(data, 'train.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(',')[0]!);
  const files = ids.map((id) => path.join(data, 'images', id));
  const bytes = files.map((file) => fs.readFileSync(file));

  const server = await startDevServer({ dbFile: path.join(work, 'temporal', 'state.db') });
  const target = localTarget(server.address);
  const workers = await createWorkers({ target, queues: ['cpu', 'inference'], allowRoots: [work, data] });
  const running = workers.run();
  try {
    for (let run = 1; run <= runs; run++) {
      process.stderr.write(`run ${run}/${runs}\n`);
      const parsed = parseRunConfig({ data, out: path.join(work, `out-${run}`), model, output: 0 });
      if (!parsed.ok) throw new Error(parsed.message);
      const cpu = process.cpuUsage();
      const serverCpu = processCpuSeconds(server.pid);
      const loop = performance.eventLoopUtilization();
      const { summary } = await submitRun(parsed.config, { target, quiet: true });
      const mainThread = performance.eventLoopUtilization(loop);
      const used = process.cpuUsage(cpu);
      const images = summary!.counts.trainingImages;
      const workflowSeconds = summary!.timings.total - summary!.timings.split;
      record('tessera run images/s (workflow, split excluded)', images / workflowSeconds);
      record('tessera run CPU ms/image (workers, all threads)', (used.user + used.system) / 1000 / images);
      // The one JavaScript thread every image passes through: its busy time per image caps a worker
      // process's feed rate however many cores decode (a GPU host's limit).
      record('tessera run main thread busy ms/image', mainThread.active / images);
      record(
        'tessera run CPU ms/image (Temporal server)',
        ((processCpuSeconds(server.pid) - serverCpu) * 1000) / images,
      );
      record('tessera run compaction % of workflow', (100 * summary!.timings.compact) / workflowSeconds);
      fs.rmSync(path.join(work, `out-${run}`), { recursive: true, force: true });

      const pythonLoop = await runMeasured(python, [
        path.join(PROJECT_ROOT, 'bench', 'feed', 'python_loop.py'),
        data,
        model,
        path.join(work, 'python.parquet'),
      ]);
      const result = z
        .object({ images: z.number(), seconds: z.number(), cpu_seconds: z.number() })
        .parse(JSON.parse(pythonLoop.output.trim().split('\n').pop()!));
      record('python loop images/s', result.images / result.seconds);
      record('python loop CPU ms/image', (result.cpu_seconds * 1000) / result.images);

      recordStage('file read', await measureRead(files, cores));
      recordStage(`decode, libjpeg-turbo (${cores} threads)`, await measureDecode(bytes, 256, cores, 'libjpeg-turbo'));
      recordStage(`decode, sharp (${cores} threads)`, await measureDecode(bytes, 256, cores, 'sharp'));
      recordStage(
        `decode into the batch (${cores} at a time, extraction's decodeRgbInto)`,
        await measureDecodeRgb(bytes, 256, cores),
      );
      recordStage(
        `decode + float conversion on one thread (${cores} at a time)`,
        await measureDecodeAndPreprocess(bytes, 256, cores),
      );
      const batchSize = 32;
      const batches = Array.from({ length: 8 }, () => new Uint8Array(batchSize * 3 * 256 * 256));
      for (const [b, batch] of batches.entries()) {
        for (let k = 0; k < batchSize; k++)
          await decodeRgbInto(bytes[(b * batchSize + k) % bytes.length]!, 256, batch, k * 3 * 256 * 256);
      }
      const inference = await measureInference(model, batches, batchSize, 256);
      recordStage('inference alone (null model)', inference.direct);
      recordStage('inference through the session thread (hand-over)', inference.throughThread);
      recordStage('tiles', await measureTiles(inference.features, batchSize, 32));
      recordStage('shard write (1024 images)', await measureShardWrite(work, inference.features, batchSize, 1024));
    }
    for (let threads = 1; threads <= Math.max(cores, 2); threads++) {
      for (let run = 1; run <= runs; run++) {
        for (const decoder of ['libjpeg-turbo', 'sharp'] as const)
          record(
            `decode scaling, ${decoder}: ${threads} thread(s) images/s`,
            (await measureDecode(bytes, 256, threads, decoder)).imagesPerSecond,
          );
      }
    }
  } finally {
    workers.shutdown();
    await running;
    await server.stop();
  }

  const m = (name: string) => median(figures[name] ?? [Number.NaN]);
  const ratios = {
    'tessera / python loop (images/s)':
      m('tessera run images/s (workflow, split excluded)') / m('python loop images/s'),
    'tessera non-inference CPU ms/image':
      m('tessera run CPU ms/image (workers, all threads)') - m('inference alone (null model) CPU ms/image'),
  };
  printMedians(
    `tessera feed bench: ${ids.length} images (${data}), null model [N, 320, 8, 8], ${runs} runs, ${cores} cores`,
    figures,
    ratios,
  );
  writeResults('feed', { data, images: ids.length, runs, cores, figures, ratios });
  fs.rmSync(work, { recursive: true, force: true });
}

await main();
