import fs from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig, Split } from '../core/run-config.ts';
import { InputError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import { sha256File } from '../core/hashing.ts';
import type { InferenceEngine } from '../inference/engine.ts';
import { allocateTileRows, FINAL_CODEC, loadZstd, TileParquetWriter, type TileRows } from '../parquet/tile-writer.ts';
import { publishFile, uniqueTempPath } from '../run-folder/atomic-files.ts';
import { runLayout, type RunLayout, type SplitLayout } from '../run-folder/layout.ts';
import { withdrawPublishedOutputs } from '../run-folder/output-folder.ts';
import {
  ShardReportSchema,
  type ExtractionKey,
  type ImageLineage,
  type RejectedRow,
  type ShardImage,
  type ShardPlan,
  type ShardReportRecord,
} from '../run-folder/records.ts';
import { writeRecord } from '../run-folder/records-io.ts';
import { readRunOptions } from '../run-folder/run-options-record.ts';
import { readShardPlan, readShardReport } from '../run-folder/shard-records.ts';
import { AttemptLog } from '../run-folder/attempt-log.ts';
import { decodeBatch, type DecodedBatch } from './decode-batch.ts';
import { sharedPixels, type DecodeThreads } from './decode-threads.ts';
import { ImageFiles } from './image-files.ts';
import { extractionKey, lineageMismatch } from './lineage.ts';
import { findReusedImages, mergeTileRows, reusedTileRows, type ReusedShardImages } from './reused-images.ts';
import type { ReuseIndexes } from '../reuse/reuse-index.ts';
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
  /** This worker's indexes of --reuse sources (kept between shards). */
  reuseIndexes: ReuseIndexes;
  /** This worker's decode threads. */
  decoders: DecodeThreads;
  /** The shard's turn on this worker (activities/inference-activities.ts ShardTurn). */
  turn: {
    /** Its place in line: the decode threads and the session serve an earlier place first. */
    place: number;
    /**
     * Told when what is left of the shard is its tail (about TAIL_SECONDS of batches, then the
     * file's close and report): the worker may start its next shard now (workers/next-shard-slots.ts).
     */
    tail: () => void;
  };
}

/** How long before a shard's end the next one may start: its set-up and first decodes take 0.2–0.4 s here. */
const TAIL_SECONDS = 1;

/**
 * The shard on disk when it can stand for this plan now (its report, extraction key, images'
 * ordinal, id, target and bytes, and file checksum all hold), else why not (naming its file), or
 * null when it was never extracted.
 */
async function shardOnDisk(
  files: SplitLayout,
  split: Split,
  shard: number,
  plan: ShardPlan,
  key: ExtractionKey,
  images: ImageFiles,
): Promise<{ reusable: ShardReport } | { redo: string | null }> {
  const read = await readShardReport(files.report(shard));
  if ('problem' in read)
    return { redo: read.problem === 'not extracted yet' ? null : `${split} shard ${shard}: ${read.problem}` };
  const { report } = read;
  const file = files.parquet(shard);
  const lineage = await lineageMismatch(report.lineage, key, plan.images, images);
  if (lineage) return { redo: `${file}: ${lineage}` };
  if (report.parquet === null) return { reusable: report };
  const actual = await sha256File(file).catch(() => null);
  if (actual === null)
    return { redo: `${file} is gone (removed after the run finished, unless --keep-shards, or deleted)` };
  if (actual !== report.parquetSha256)
    return {
      redo: `${file} does not match its report (sha256 ${actual.slice(0, 12)}…, recorded ${report.parquetSha256?.slice(0, 12)}…): damaged, truncated or replaced`,
    };
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
export async function extractShard(
  config: RunConfig,
  split: Split,
  shard: number,
  deps: ExtractDeps,
): Promise<ShardReport> {
  const started = performance.now();
  const layout = runLayout(config);
  const files = layout.split(split);
  const attempts = await AttemptLog.start(files, shard, deps.attempt);
  try {
    const plan = await readShardPlan(files, shard);
    const root = await imagesRootOf(layout);
    const images = new ImageFiles(root);
    const key = extractionKey(config, split, await modelAsRecorded(layout));
    const onDisk = await shardOnDisk(files, split, shard, plan, key, images);
    if ('reusable' in onDisk) {
      await attempts.finish('reused', (performance.now() - started) / 1000);
      return { ...onDisk.reusable, reused: true };
    }
    // The old report goes first: a crash from here on leaves no report that vouches for a file.
    await fs.rm(files.report(shard), { force: true });
    if (onDisk.redo !== null) await withdrawPublishedOutputs(layout, split);
    const report = await extractFreshShard(
      config,
      files,
      split,
      shard,
      { plan, key, images, root, previousOutput: layout.previousOutput },
      deps,
      started,
    );
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
  {
    plan,
    key,
    images,
    root,
    previousOutput,
  }: { plan: ShardPlan; key: ExtractionKey; images: ImageFiles; root: string; previousOutput: string },
  deps: ExtractDeps,
  started: number,
): Promise<ShardReport> {
  // Sources: --reuse folders, and this folder's own finished outputs when a run replaces them.
  const previous = await fs.stat(previousOutput).then(
    () => [previousOutput],
    () => [],
  );
  const sources = [...config.reuse, ...previous];
  const reused =
    sources.length > 0
      ? await findReusedImages(plan.images, split, await deps.reuseIndexes.get(sources, split, key, config.out), images)
      : undefined;
  const toExtract = reused ? plan.images.filter((image) => !reused.tiles.has(image.ordinal)) : plan.images;
  const engine = toExtract.length > 0 ? await deps.engine(key.modelSha256) : undefined;
  await loadZstd();
  const size = config.imgSize;
  const batchBytes = config.batchSize * 3 * size * size;
  const batches: ShardImage[][] = [];
  for (let k = 0; k < toExtract.length; k += config.batchSize) batches.push(toExtract.slice(k, k + config.batchSize));

  await fs.mkdir(files.shards, { recursive: true });
  const finalPath = files.parquet(shard);
  const tempPath = uniqueTempPath(finalPath);
  let writer: TileParquetWriter | undefined;
  let channels: number | null = reused?.channels ?? null;
  let grid: [number, number] | null = null;
  const errors: RejectedRow[] = [];
  const lineage = new Map<number, ImageLineage>(reused?.lineage);
  let parquetSha256: string | null = null;
  let imagesDone = reused?.tiles.size ?? 0;
  let extracted = 0;
  // Reused images' rows go into the file between the extracted ones, in ordinal order.
  const pendingReused = reused ? plan.images.filter((image) => reused.tiles.has(image.ordinal)) : [];
  let reusedWritten = 0;
  const appendRows = async (rows: TileRows, c: number, tiles: number, below: number) => {
    const start = reusedWritten;
    while (reusedWritten < pendingReused.length && pendingReused[reusedWritten]!.ordinal < below) reusedWritten++;
    const merged = mergeTileRows(
      rows,
      reusedTileRows(pendingReused.slice(start, reusedWritten), reused?.tiles ?? new Map()),
    );
    extracted += reusedWritten - start;
    if (merged.i.length === 0) return;
    // In the vectors file's encoding: compaction copies the shard's row groups as they are.
    writer ??= new TileParquetWriter(tempPath, c, tiles, FINAL_CODEC);
    await writer.append(merged);
  };
  const spare: Uint8Array[] = [];
  let tileVectors = new Float32Array(0);
  const takeBuffer = () => spare.pop() ?? sharedPixels(batchBytes);
  const decodeFrom = { decoders: deps.decoders, root, place: deps.turn.place };

  /** A batch through the model (on its thread); a batch in which no image decoded skips it. */
  const infer = async (batch: DecodedBatch, index: number) => {
    if (batch.images.length === 0) {
      spare.push(batch.pixels);
      return { batch, index, result: undefined };
    }
    const result = await engine!.run({ pixels: batch.pixels, images: batch.images.length }, deps.turn.place);
    spare.push(result.pixels);
    return { batch, index, result };
  };
  /** Tiles and rows of an inferred batch, appended to the shard file. */
  const write = async ({ batch, index, result }: Awaited<ReturnType<typeof infer>>) => {
    if (result) {
      if (result.dims.length !== 4) {
        throw new InputError(
          `model output ${engine!.model.outputName} has shape [${result.dims.join(', ')}], expected 4-D [batch, channels, height, width]`,
        );
      }
      const [, c, h, w] = result.dims as [number, number, number, number];
      // Reused vectors come from a source with this extraction key, hence this width; checked all the same.
      if (reused?.channels != null && reused.channels !== c)
        throw new Error(`reused vectors have ${reused.channels} channels, the model gives ${c}`);
      channels = c;
      grid = [h, w];
      // One buffer for every batch's tile vectors: the writer keeps none of them once append resolves.
      if (tileVectors.length < config.batchSize * c * h * w)
        tileVectors = new Float32Array(config.batchSize * c * h * w);
      await appendRows(
        tileRows(batch.images, result.data, c, h, w, tileVectors),
        c,
        h * w,
        batches[index]!.at(-1)!.ordinal,
      );
      extracted += batch.images.length;
      if (index === 0) await failpoint('extract-first-batch', shard);
      if (index === Math.floor(batches.length / 2) && index > 0) await failpoint('extract-mid-shard', shard);
    }
    imagesDone += batches[index]!.length;
    deps.heartbeat({ split, shard, imagesDone, imagesTotal: plan.images.length, rows: writer?.rowCount ?? 0 });
    // The batches left, at the pace of those done so far.
    const secondsPerBatch = (performance.now() - extractionStarted) / 1000 / (index + 1);
    if ((batches.length - index - 1) * secondsPerBatch <= TAIL_SECONDS) deps.turn.tail();
  };

  // Three stages in flight: batch b+1 decodes (libuv threads) and batch b runs in the model (its
  // thread) while batch b−1's rows are written here. Each promise gets a handler at once, so a
  // failure while another stage is awaited is not an unhandled rejection; it is awaited in turn.
  const inFlight = <T>(promise: Promise<T>): Promise<T> => {
    promise.catch(() => undefined);
    return promise;
  };
  const extractionStarted = performance.now();
  let decoding =
    batches.length > 0 ? inFlight(decodeBatch(batches[0]!, config, split, decodeFrom, takeBuffer())) : undefined;
  let inferring: ReturnType<typeof infer> | undefined;
  try {
    for (let b = 0; b < batches.length; b++) {
      deps.checkCancelled();
      const batch = await decoding!;
      decoding =
        b + 1 < batches.length
          ? inFlight(decodeBatch(batches[b + 1]!, config, split, decodeFrom, takeBuffer()))
          : undefined;
      errors.push(...batch.errors);
      for (const entry of batch.lineage) lineage.set(entry[0], entry);
      const previous = inferring;
      inferring = inFlight(infer(batch, b));
      if (previous) await write(await previous);
    }
    if (inferring) await write(await inferring);
    inferring = undefined;
    deps.turn.tail();
    grid ??= reused ? reusedGrid(reused) : null;
    if (reusedWritten < pendingReused.length)
      await appendRows(allocateTileRows(0), channels!, grid![0] * grid![1], Number.POSITIVE_INFINITY);
    if (writer) {
      parquetSha256 = await writer.close();
      await failpoint('extract-before-rename', shard);
      await publishFile(tempPath, finalPath);
    }
  } catch (error) {
    // Cancelled or failed: nothing half-written stays in shards/ (a retry writes its own file).
    await decoding?.catch(() => undefined);
    await inferring?.catch(() => undefined);
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
    lineage: { key, images: plan.images.map((image) => lineage.get(image.ordinal)!) },
    errors,
    seconds: (performance.now() - started) / 1000,
    reusedFrom: reused?.from ?? [],
  };
  await fs.mkdir(files.reports, { recursive: true });
  return writeRecord(files.report(shard), ShardReportSchema, report);
}

/** The grid of reused tiles (when no image of the shard went through the model). */
function reusedGrid(reused: ReusedShardImages): [number, number] | null {
  const first = reused.tiles.values().next();
  if (first.done) return null;
  const { x, y } = first.value;
  return [Math.max(...x) + 1, Math.max(...y) + 1];
}

/** The rows of a batch's features: one per tile, `i` from the image's ordinal (tiles.ts). */
function tileRows(
  images: readonly ShardImage[],
  features: Float32Array,
  c: number,
  h: number,
  w: number,
  into: Float32Array,
): TileRows {
  const n = images.length;
  const vectors = featuresToTileVectors({ data: features, batch: n, channels: c, height: h, width: w }, n, into);
  const bytes = new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength);
  const columns = allocateTileRows(n * h * w);
  for (let img = 0; img < n; img++) {
    const image = images[img]!;
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
  return columns;
}
