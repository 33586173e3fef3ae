/** Each pipeline stage measured alone, on the same images and model as the end-to-end run. */
import { Stores } from '../lib/storage/open-store.ts';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { compact } from '../lib/compact/compact.ts';
import type { RunConfig } from '../lib/core/run-config.ts';
import { extractShard } from '../lib/extract/extract-shard.ts';
import { DecodeThreads } from '../lib/extract/decode-threads.ts';
import { decodeImageInto } from '../lib/image/decode.ts';
import { InferenceEngines } from '../lib/inference/engine.ts';
import { planShards } from '../lib/plan/plan-shards.ts';
import { runLayout } from '../lib/run-folder/layout.ts';
import { prepareSplit } from '../lib/split/prepare-split.ts';
import { allocateTileRows, TileParquetWriter } from '../lib/parquet/tile-writer.ts';
import { sessionSpecFor } from '../lib/extract/session-spec.ts';
import { seconds } from './measure.ts';
import { ReuseIndexes } from '../lib/reuse/reuse-index.ts';
import { preflight } from '../lib/run/preflight.ts';

/**
 * onnxruntime alone: float32 tensors decoded and converted beforehand, run on this thread with
 * the session options and the slices of `microBatch` images the session thread uses.
 */
export async function measureCeiling(
  config: RunConfig,
  images: string[],
  microBatch: number | undefined,
): Promise<number> {
  const size = config.imgSize;
  const perImage = 3 * size * size;
  const session = await ort.InferenceSession.create(runLayout(config).model, {
    executionProviders: [config.executionProvider],
    graphOptimizationLevel: 'all',
    enableMemPattern: false,
  });
  const inputName = session.inputNames[0]!;
  const slice = Math.min(microBatch ?? config.batchSize, config.batchSize);
  const batches: Float32Array[] = [];
  for (let k = 0; k + config.batchSize <= images.length; k += config.batchSize) {
    const batch = new Float32Array(config.batchSize * perImage);
    for (let b = 0; b < config.batchSize; b++) await decodeImageInto(images[k + b]!, size, 'none', batch, b * perImage);
    batches.push(batch);
  }
  const runBatch = async (batch: Float32Array) => {
    for (let first = 0; first < config.batchSize; first += slice) {
      const count = Math.min(slice, config.batchSize - first);
      await session.run({
        [inputName]: new ort.Tensor('float32', batch.subarray(first * perImage, (first + count) * perImage), [
          count,
          3,
          size,
          size,
        ]),
      });
    }
  };
  await runBatch(batches[0]!); // warm-up
  const { seconds: s } = await seconds(async () => {
    for (const batch of batches) await runBatch(batch);
  });
  await session.release();
  return (batches.length * config.batchSize) / s;
}

/**
 * File read, decode and preprocessing alone as extraction does them (libjpeg-turbo for a plain JPEG
 * at the model's size, else sharp), with the concurrency extraction uses unless `limit` is given.
 */
export async function measureDecode(
  config: RunConfig,
  images: string[],
  limit = Math.max(2, os.availableParallelism()),
): Promise<number> {
  const perImage = 3 * config.imgSize * config.imgSize;
  let next = 0;
  const { seconds: s } = await seconds(() =>
    Promise.all(
      Array.from({ length: limit }, async () => {
        const target = new Float32Array(perImage);
        while (next < images.length)
          await decodeImageInto(await fs.readFile(images[next++]!), config.imgSize, 'none', target, 0);
      }),
    ),
  );
  return images.length / s;
}

/**
 * The shard writer alone: `rows` rows of `channels` float32 feature-like values (non-negative,
 * mostly small, as after an activation), 64 rows per image; MB/s counts the rows' bytes.
 */
export async function measureWrite(
  dir: string,
  rows: number,
  channels: number,
): Promise<{ rowsPerSecond: number; mbPerSecond: number }> {
  const file = path.join(dir, 'write-bench.parquet');
  const columns = allocateTileRows(rows);
  const floats = new Float32Array(rows * channels);
  let state = 12345;
  for (let k = 0; k < floats.length; k++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    floats[k] = state % 5 === 0 ? 0 : (state / 2 ** 32) ** 3 * 4;
  }
  const vectors = new Uint8Array(floats.buffer);
  for (let r = 0; r < rows; r++) {
    columns.i[r] = r;
    columns.vector[r] = vectors.subarray(r * channels * 4, (r + 1) * channels * 4);
    columns.target[r] = r % 17;
    columns.file[r] = `img_${Math.floor(r / 64)}.jpg`;
    columns.x[r] = (r % 64) >> 3;
    columns.y[r] = r % 8;
  }
  const { seconds: s } = await seconds(async () => {
    const writer = new TileParquetWriter(file, channels, 64);
    await writer.append(columns);
    await writer.close();
  });
  await fs.rm(file);
  const rowBytes = channels * 4 + 4 * 4 + 16; // vector, four int32 columns, a short file name
  return { rowsPerSecond: rows / s, mbPerSecond: (rows * rowBytes) / 1e6 / s };
}

/**
 * The same activities the workflow runs, called in-process with no Temporal at all: the
 * difference to the embedded run is the orchestration overhead. Also returns compaction speed.
 */
export async function runWithoutTemporal(config: RunConfig, engines: InferenceEngines) {
  const decoders = new DecodeThreads();
  const { seconds: total, value } = await seconds(async () => {
    await preflight(config);
    await prepareSplit(config);
    const plan = await planShards(config, 'train');
    for (let shard = 0; shard < plan.shardCount; shard++) {
      await extractShard(config, 'train', shard, {
        engine: (modelSha256, modelPath) => engines.get({ ...sessionSpecFor(config), modelPath, modelSha256 }),
        heartbeat: () => {},
        checkCancelled: () => {},
        stoppedAs: () => undefined,
        attempt: 1,
        reuseIndexes: new ReuseIndexes(),
        linkTargets: 'anywhere',
        stores: new Stores(),
        decoders,
        turn: { place: shard, tail: () => {} },
      });
    }
    const shardsDir = runLayout(config).split('train').shards;
    let shardBytes = 0;
    for (const name of await fs.readdir(shardsDir)) shardBytes += (await fs.stat(path.join(shardsDir, name))).size;
    const compacted = await compact(config, 'train', plan.shardCount);
    return {
      images: plan.images,
      compactMbPerSecond: shardBytes / 1e6 / compacted.seconds,
      compactSeconds: compacted.seconds,
    };
  }).finally(() => decoders.close());
  return { seconds: total, ...value };
}
