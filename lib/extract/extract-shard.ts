import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { RunConfig, Split } from '../core/run-config.ts';
import { errorMessage, InputError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import { sha256Bytes, sha256File } from '../core/hashing.ts';
import { decodeImageInto, MAX_INPUT_PIXELS, resolveImagePath } from '../image/decode.ts';
import { occlusionFor } from '../image/occlusion.ts';
import type { InferenceEngine } from '../inference/engine.ts';
import { allocateTileRows, TileParquetWriter } from '../parquet/tile-writer.ts';
import { publishFile, uniqueTempPath } from '../run-folder/atomic-files.ts';
import { runLayout, type RunLayout, type SplitLayout } from '../run-folder/layout.ts';
import { withdrawPublishedOutputs } from '../run-folder/output-folder.ts';
import { ShardReportSchema, type ExtractionKey, type ImageLineage, type RejectedRow, type ShardImage, type ShardPlan, type ShardReportRecord } from '../run-folder/records.ts';
import { writeRecord } from '../run-folder/records-io.ts';
import { readRunOptions } from '../run-folder/run-options-record.ts';
import { readShardPlan, readShardReport } from '../run-folder/shard-records.ts';
import { AttemptLog } from '../run-folder/attempt-log.ts';
import { extractionKey, lineageMismatch } from './lineage.ts';
import { featuresToTileVectors, tileIndex } from './tiles.ts';

export type ShardReport = ShardReportRecord & {
  /** Set on the returned report (never on disk) when an earlier attempt had already extracted it. */
  reused?: true;
  /** Set on the returned report when a shard on disk could not be reused: why, naming its file. */
  redone?: string;
};

export interface ShardProgress {
  split: Split;
  shard: number;
  imagesDone: number;
  imagesTotal: number;
  rows: number;
}

export interface ExtractDeps {
  /** This worker's session for the run's model, as the file with this sha256 holds it. */
  engine: (modelSha256: string) => Promise<InferenceEngine>;
  heartbeat: (progress: ShardProgress) => void;
  /** Throws when the activity was cancelled. */
  checkCancelled: () => void;
  /**
   * Why the activity was stopped, if it was: `cancelled` (the run was cancelled) or `interrupted`
   * (worker shutdown, heartbeat timeout); undefined while it was not. Otherwise a failure is `failed`.
   */
  stoppedAs: () => 'cancelled' | 'interrupted' | undefined;
  /** Temporal's attempt number of this activity, for the shard's attempt records. */
  attempt: number;
}

interface DecodedBatch {
  images: ShardImage[];
  input: Float32Array;
  errors: RejectedRow[];
  /** Every image of the batch, in plan order, with the sha256 of the bytes decoded (or null). */
  lineage: ImageLineage[];
}

/**
 * Decodes a batch straight into its slots of `input` (no per-image buffers: memory a process
 * touches for the first time is slow here), then closes the gaps left by images that failed.
 */
async function decodeBatch(
  images: ShardImage[],
  config: RunConfig,
  split: Split,
  imagesRoot: string,
  input: Float32Array,
): Promise<DecodedBatch> {
  const perImage = 3 * config.imgSize * config.imgSize;
  const slots = images.map((image, slot) => ({ image, slot }));
  const hashes: (string | null)[] = images.map(() => null);
  const failures = await mapLimited(slots, Math.max(2, os.availableParallelism()), async ({ image, slot }) => {
    let real: string | undefined;
    try {
      const file = resolveImagePath(imagesRoot, image.imageId);
      real = await fs.realpath(file);
      if (!real.startsWith(imagesRoot + path.sep)) throw new InputError(`image resolves outside the image folder (${real})`);
      // Read once: the bytes hashed for the shard's lineage are the very bytes decoded.
      const bytes = await fs.readFile(real);
      hashes[slot] = sha256Bytes(bytes);
      const hole = split === 'val' ? occlusionFor(config.seed, image.imageId, config.imgSize) : undefined;
      await decodeImageInto(bytes, config.imgSize, config.normalize, input, slot * perImage, hole);
      return undefined;
    } catch (error) {
      return describeImageError(error, real);
    }
  });
  const lineage = images.map((image, slot): ImageLineage => [image.ordinal, image.imageId, image.target, hashes[slot]!]);
  const decoded: ShardImage[] = [];
  const errors: RejectedRow[] = [];
  images.forEach((image, slot) => {
    const failure = failures[slot];
    if (failure === undefined) {
      if (decoded.length !== slot) input.copyWithin(decoded.length * perImage, slot * perImage, (slot + 1) * perImage);
      decoded.push(image);
    } else {
      errors.push({ imageId: image.imageId, classValue: String(image.target), split, stage: 'extract', reason: failure, position: image.ordinal });
    }
  });
  return { images: decoded, input, errors, lineage };
}

/**
 * A reason for errors.csv that says what is wrong with the file. libvips' own message can be
 * vague ("Unknown error" under load), so a failed decode is classified from the file itself.
 */
async function describeImageError(error: unknown, file: string | undefined): Promise<string> {
  const code = (error as NodeJS.ErrnoException).code;
  const missing = (error as NodeJS.ErrnoException).path;
  if (code === 'ENOENT') return `image file ${missing} does not exist`;
  if (code === 'EACCES') return `image file ${missing} is not readable (permission denied)`;
  if (code === 'EISDIR') return `image ${file} is a folder, not a file`;
  const message = errorMessage(error);
  if (!file || error instanceof InputError) return message; // ImageInputError included: it says what is wrong
  if ((await fs.stat(file).then((s) => s.size, () => undefined)) === 0) return 'image file is empty (0 bytes)';
  const header = await sharp(file, { limitInputPixels: false }).metadata().catch(() => undefined);
  if (!header?.format) return `not an image in a format sharp decodes (JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG): ${message}`;
  if ((header.width ?? 0) * (header.height ?? 0) > MAX_INPUT_PIXELS) {
    return `image of ${header.width}×${header.height} has more than ${MAX_INPUT_PIXELS.toLocaleString('en-US')} pixels, refused before decoding`;
  }
  return `${header.format} image is truncated or corrupt (decoder: ${message})`;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const k = next++;
      results[k] = await fn(items[k]!);
    }
  });
  await Promise.all(runners);
  return results;
}

/**
 * The shard on disk when it can stand for this plan now (its report, extraction key, images'
 * ordinal, id, target and bytes, and file checksum all hold), else why not (naming its file), or
 * null when it was never extracted.
 */
async function shardOnDisk(files: SplitLayout, split: Split, shard: number, plan: ShardPlan, key: ExtractionKey, imagesRoot: string): Promise<{ reusable: ShardReport } | { redo: string | null }> {
  const read = await readShardReport(files.report(shard));
  if ('problem' in read) return { redo: read.problem === 'not extracted yet' ? null : `${split} shard ${shard}: ${read.problem}` };
  const { report } = read;
  const file = files.parquet(shard);
  const lineage = await lineageMismatch(report.lineage, key, plan.images, imagesRoot);
  if (lineage) return { redo: `${file}: ${lineage}` };
  if (report.parquet === null) return { reusable: report };
  const actual = await sha256File(file).catch(() => null);
  if (actual === null) return { redo: `${file} is missing` };
  if (actual !== report.parquetSha256) return { redo: `${file} does not match its report (sha256 ${actual.slice(0, 12)}…, recorded ${report.parquetSha256?.slice(0, 12)}…): damaged, truncated or replaced` };
  return { reusable: report };
}

/**
 * The model's sha256, which must still be the one preflight recorded: a model file replaced during
 * a run would mix two models' vectors under one name. Hashed per shard (milliseconds); the engine
 * is keyed by it, so a long-lived worker loads a replaced file afresh rather than reusing a session.
 */
async function modelAsRecorded(layout: RunLayout): Promise<string> {
  const model = layout.model;
  const recorded = (await readRunOptions(layout)).modelSha256;
  const now = await sha256File(model).catch(() => null);
  if (now !== recorded) {
    throw new InputError(
      `model file ${model} ${now === null ? 'is gone' : `changed (sha256 ${recorded.slice(0, 12)}… → ${now.slice(0, 12)}…)`} since this run started: ` +
        'run the command again; a different model is refused in this folder unless --force',
    );
  }
  return recorded;
}

async function imagesRootOf(layout: RunLayout): Promise<string> {
  return fs.realpath(layout.images).catch(() => {
    throw new InputError(`image folder ${layout.images} does not exist`);
  });
}

/**
 * Extracts one shard: decode → ONNX → tiles → shard Parquet, written under a temporary name and
 * renamed when complete. Decoding the next batch overlaps inference of the current one. A shard
 * already on disk is reused only when its lineage and checksum prove it is this plan's shard
 * now; otherwise (data changed, file damaged) it is extracted again, and `redone` says why.
 */
export async function extractShard(config: RunConfig, split: Split, shard: number, deps: ExtractDeps): Promise<ShardReport> {
  const started = performance.now();
  const layout = runLayout(config);
  const files = layout.split(split);
  const attempts = await AttemptLog.start(files, shard, deps.attempt);
  try {
    const plan = await readShardPlan(files, shard);
    const imagesRoot = await imagesRootOf(layout);
    const key = extractionKey(config, split, await modelAsRecorded(layout));
    const onDisk = await shardOnDisk(files, split, shard, plan, key, imagesRoot);
    if ('reusable' in onDisk) {
      await attempts.finish('reused', (performance.now() - started) / 1000);
      return { ...onDisk.reusable, reused: true };
    }
    // The old report goes first: a crash from here on leaves no report that vouches for a file.
    await fs.rm(files.report(shard), { force: true });
    if (onDisk.redo !== null) await withdrawPublishedOutputs(layout, split);
    const report = await extractFreshShard(config, files, split, shard, { plan, key, imagesRoot }, deps, started);
    await attempts.finish('extracted', report.seconds);
    return onDisk.redo === null ? report : { ...report, redone: onDisk.redo };
  } catch (error) {
    await attempts.finish(deps.stoppedAs() ?? 'failed', (performance.now() - started) / 1000);
    throw error;
  }
}

/** Decodes, runs and writes a shard that has no report yet; its temporary file never outlives it. */
async function extractFreshShard(
  config: RunConfig,
  files: SplitLayout,
  split: Split,
  shard: number,
  { plan, key, imagesRoot }: { plan: ShardPlan; key: ExtractionKey; imagesRoot: string },
  deps: ExtractDeps,
  started: number,
): Promise<ShardReport> {
  const engine = await deps.engine(key.modelSha256);
  const size = config.imgSize;
  const batchFloats = config.batchSize * 3 * size * size;
  const batches: ShardImage[][] = [];
  for (let k = 0; k < plan.images.length; k += config.batchSize) batches.push(plan.images.slice(k, k + config.batchSize));

  await fs.mkdir(files.shards, { recursive: true });
  const finalPath = files.parquet(shard);
  const tempPath = uniqueTempPath(finalPath);
  let writer: TileParquetWriter | undefined;
  let channels: number | null = null;
  let grid: [number, number] | null = null;
  const errors: RejectedRow[] = [];
  const lineage: ImageLineage[] = [];
  let parquetSha256: string | null = null;
  let imagesDone = 0;
  let extracted = 0;
  const spare: Float32Array[] = [];
  const takeBuffer = () => spare.pop() ?? new Float32Array(batchFloats);

  let pending = batches.length > 0 ? decodeBatch(batches[0]!, config, split, imagesRoot, takeBuffer()) : undefined;
  try {
    for (let b = 0; b < batches.length; b++) {
      deps.checkCancelled();
      const batch = await pending!;
      pending = b + 1 < batches.length ? decodeBatch(batches[b + 1]!, config, split, imagesRoot, takeBuffer()) : undefined;
      errors.push(...batch.errors);
      lineage.push(...batch.lineage);
      const n = batch.images.length;
      if (n > 0) {
        const input = n === config.batchSize ? batch.input : batch.input.slice(0, n * 3 * size * size);
        const result = await engine.run(input, [n, 3, size, size]);
        if (n === config.batchSize) spare.push(result.input);
        else spare.push(batch.input);
        if (result.dims.length !== 4) {
          throw new InputError(`model output ${engine.model.outputName} has shape [${result.dims.join(', ')}], expected 4-D [batch, channels, height, width]`);
        }
        const [, c, h, w] = result.dims as [number, number, number, number];
        channels = c;
        grid = [h, w];
        writer ??= new TileParquetWriter(tempPath, c);
        const vectors = featuresToTileVectors({ data: result.data, batch: n, channels: c, height: h, width: w }, n);
        const bytes = new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength);
        const rows = n * h * w;
        const columns = allocateTileRows(rows);
        for (let img = 0; img < n; img++) {
          const image = batch.images[img]!;
          for (let x = 0; x < h; x++) {
            for (let y = 0; y < w; y++) {
              const r = (img * h + x) * w + y;
              columns.i[r] = tileIndex(image.ordinal, x, y, h, w);
              columns.vector[r] = bytes.subarray(r * c * 4, (r + 1) * c * 4);
              columns.target[r] = image.target;
              columns.file[r] = image.imageId;
              columns.x[r] = x;
              columns.y[r] = y;
            }
          }
        }
        await writer.append(columns);
        extracted += n;
        if (b === 0) await failpoint('extract-first-batch', shard);
        if (b === Math.floor(batches.length / 2) && b > 0) await failpoint('extract-mid-shard', shard);
      } else {
        spare.push(batch.input);
      }
      imagesDone += batches[b]!.length;
      deps.heartbeat({ split, shard, imagesDone, imagesTotal: plan.images.length, rows: writer?.rowCount ?? 0 });
    }
    if (writer) {
      await writer.close();
      parquetSha256 = await sha256File(tempPath);
      await failpoint('extract-before-rename', shard);
      await publishFile(tempPath, finalPath);
    }
  } catch (error) {
    // Cancelled or failed: nothing half-written stays in shards/ (a retry writes its own file).
    await pending?.catch(() => undefined);
    await writer?.abort();
    await fs.rm(tempPath, { force: true });
    throw error;
  }
  let parquet: string | null = null;
  if (writer) {
    await failpoint('extract-after-rename', shard);
    parquet = path.basename(finalPath);
  } else {
    await fs.rm(finalPath, { force: true }); // an earlier version of this shard, no longer true
  }
  const report = {
    format: 2 as const,
    split,
    shard,
    images: plan.images.length,
    extracted,
    rows: writer?.rowCount ?? 0,
    channels,
    grid,
    parquet,
    parquetSha256,
    lineage: { key, images: lineage },
    errors,
    seconds: (performance.now() - started) / 1000,
  };
  await fs.mkdir(files.reports, { recursive: true });
  return writeRecord(files.report(shard), ShardReportSchema, report);
}
