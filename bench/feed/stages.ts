/** The feed path's stages, each measured alone on the same images with production code. */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { featuresToTileVectors } from '../../lib/extract/tiles.ts';
import { decodeImageInto, decodeRgbInto, decodeRgbWithSharp } from '../../lib/image/decode.ts';
import { jpegTurbo } from '../../lib/image/jpeg-turbo.ts';
import { rgbToChwFloats } from '../../lib/image/model-input.ts';
import { InferenceEngines } from '../../lib/inference/engine.ts';
import { allocateTileRows, TileParquetWriter } from '../../lib/parquet/tile-writer.ts';

export interface StageFigure {
  imagesPerSecond: number;
  /** CPU time of this process (every thread) per image. */
  cpuMs: number;
}

/** Wall time and this process's CPU time (all threads) of `work`, per image. */
export async function timed(images: number, work: () => Promise<void>): Promise<StageFigure> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { imagesPerSecond: images / seconds, cpuMs: (used.user + used.system) / 1000 / images };
}

async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, k: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const k = next++;
        await fn(items[k]!, k);
      }
    }),
  );
}

/** Reading the files (bytes into memory), `limit` at a time. */
export function measureRead(files: readonly string[], limit: number): Promise<StageFigure> {
  return timed(files.length, () => inParallel(files, limit, async (file) => void (await fs.promises.readFile(file))));
}

/** Decoding into a batch's pixel buffer as extraction does (decodeRgbInto), `limit` at a time. */
export function measureDecodeRgb(bytes: readonly Buffer[], size: number, limit: number): Promise<StageFigure> {
  const pixels = new Uint8Array(limit * 3 * size * size);
  let slot = 0;
  return timed(bytes.length, () =>
    inParallel(bytes, limit, async (input) => decodeRgbInto(input, size, pixels, (slot++ % limit) * 3 * size * size)),
  );
}

export type Decoder = 'libjpeg-turbo' | 'sharp';

/**
 * JPEG decoding alone (bytes in memory → RGB uint8), `limit` images at a time: `limit` is the number
 * of decode threads. 'libjpeg-turbo' is extraction's decoder for plain JPEGs at the model's size
 * (lib/image/jpeg-turbo.ts); 'sharp' is its decoder for everything else, one libvips thread each.
 */
export async function measureDecode(
  bytes: readonly Buffer[],
  size: number,
  limit: number,
  decoder: Decoder,
): Promise<StageFigure> {
  if (decoder === 'libjpeg-turbo') {
    const turbo = jpegTurbo();
    if (!turbo) throw new Error('libjpeg-turbo is not available on this platform (or TESSERA_JPEG_DECODER=sharp)');
    const pixels = new Uint8Array(limit * 3 * size * size);
    let slot = 0;
    return timed(bytes.length, () =>
      inParallel(bytes, limit, async (input) => {
        if (!(await turbo.decodeInto(input, size, pixels, (slot++ % limit) * 3 * size * size)))
          throw new Error('an image is not a plain JPEG at the model size');
      }),
    );
  }
  const previous = sharp.concurrency();
  sharp.concurrency(1);
  try {
    return await timed(bytes.length, () =>
      inParallel(bytes, limit, async (input) => void (await decodeRgbWithSharp(input, size))),
    );
  } finally {
    sharp.concurrency(previous);
  }
}

/** decode + preprocessing as extraction does them (decodeImageInto: RGB uint8 → float32 CHW). */
export function measureDecodeAndPreprocess(
  bytes: readonly Buffer[],
  size: number,
  limit: number,
): Promise<StageFigure> {
  const perImage = 3 * size * size;
  const targets = Array.from({ length: limit }, () => new Float32Array(perImage));
  let slot = 0;
  return timed(bytes.length, () =>
    inParallel(bytes, limit, async (input) => decodeImageInto(input, size, 'none', targets[slot++ % limit]!, 0)),
  );
}

/**
 * Inference alone (onnxruntime on this thread, float batches converted beforehand) and through
 * tessera's session thread (the hand-over: posting the decoded pixels, their conversion to floats
 * by the pixel graph in front of the model, and the features coming back).
 */
export async function measureInference(
  model: string,
  pixelBatches: readonly Uint8Array[],
  batchSize: number,
  size: number,
) {
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  const dims = [batchSize, 3, size, size];
  const floats = pixelBatches.map((pixels) => {
    const input = new Float32Array(pixels.length);
    rgbToChwFloats(pixels, batchSize, size, 'none', input);
    return input;
  });
  await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', floats[0]!, dims) });
  const images = pixelBatches.length * batchSize;
  const direct = await timed(images, async () => {
    for (const batch of floats) await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', batch, dims) });
  });
  await session.release();
  const engines = new InferenceEngines();
  const engine = await engines.get({
    modelPath: model,
    executionProvider: 'cpu',
    output: 0,
    imgSize: size,
    normalize: 'none',
  });
  const run = (pixels: Uint8Array) => engine.run({ pixels, images: batchSize });
  await run(pixelBatches[0]!.slice());
  const copies = pixelBatches.map((pixels) => pixels.slice());
  const throughThread = await timed(images, async () => {
    for (const pixels of copies) await run(pixels);
  });
  const features = (await run(pixelBatches[0]!.slice())).data;
  await engines.closeAll();
  return { direct, throughThread, features };
}

/** Features → one vector per tile and the row columns, as extract-shard.ts builds them. */
export function measureTiles(features: Float32Array, batchSize: number, rounds: number): Promise<StageFigure> {
  const [c, h, w] = [320, 8, 8];
  return timed(rounds * batchSize, async () => {
    for (let round = 0; round < rounds; round++) tileColumns(features, batchSize, c, h, w, round * batchSize);
  });
}

function tileColumns(features: Float32Array, n: number, c: number, h: number, w: number, firstOrdinal: number) {
  const vectors = featuresToTileVectors({ data: features, batch: n, channels: c, height: h, width: w }, n);
  const bytes = new Uint8Array(vectors.buffer);
  const columns = allocateTileRows(n * h * w);
  for (let r = 0; r < n * h * w; r++) {
    const image = Math.floor(r / (h * w));
    columns.i[r] = (firstOrdinal + image) * h * w + (r % (h * w));
    columns.vector[r] = bytes.subarray(r * c * 4, (r + 1) * c * 4);
    columns.target[r] = image % 17;
    columns.file[r] = `image_${firstOrdinal + image}.jpg`;
    columns.x[r] = Math.floor((r % (h * w)) / w);
    columns.y[r] = r % w;
  }
  return columns;
}

/** The shard writer: `images` images' rows (64 tiles of 320 channels each) into one file, closed and fsynced. */
export async function measureShardWrite(
  dir: string,
  features: Float32Array,
  batchSize: number,
  images: number,
): Promise<StageFigure> {
  const batches = Array.from({ length: Math.ceil(images / batchSize) }, (_, b) =>
    tileColumns(features, batchSize, 320, 8, 8, b * batchSize),
  );
  const file = path.join(dir, 'shard-write.parquet');
  const figure = await timed(batches.length * batchSize, async () => {
    const writer = new TileParquetWriter(file, 320, 64);
    for (const columns of batches) await writer.append(columns);
    await writer.close();
  });
  fs.rmSync(file, { force: true });
  return figure;
}
