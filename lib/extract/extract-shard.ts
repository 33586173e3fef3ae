import fs from 'node:fs/promises';
import type { RunConfig, Split } from '../core/run-config.ts';
import { InputError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import type { InferenceEngine } from '../inference/engine.ts';
import { loadZstd } from '../parquet/tile-writer.ts';
import { runLayout, type SplitLayout } from '../run-folder/layout.ts';
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
import { readShardPlan } from '../run-folder/shard-records.ts';
import { AttemptLog } from '../run-folder/attempt-log.ts';
import { decodeBatch, type DecodedBatch } from './decode-batch.ts';
import { sharedPixels, type DecodeThreads } from './decode-threads.ts';
import type { LinkTargets } from './image-files.ts';
import { openImageSource, type ImageSource } from './image-source.ts';
import { S3Images } from './s3-images.ts';
import type { Stores } from '../storage/open-store.ts';
import { extractionKey } from './lineage.ts';
import { modelAsRecorded, shardOnDisk } from './shard-checks.ts';
import { findReusedImages, type ReusedShardImages } from './reused-images.ts';
import type { ReuseIndexes } from '../reuse/reuse-index.ts';
import { ShardFileWriter } from './shard-file-writer.ts';

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
  /** This worker's session for the run's model, as the file with this sha256 holds it (`modelFile`: where, on this worker). */
  engine: (modelSha256: string, modelFile: string) => Promise<InferenceEngine>;
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
  /** Where a symlinked image may lead (image-files.ts): the worker's roots, or anywhere for the embedded run. */
  linkTargets: LinkTargets;
  /** This worker's object-store clients (images under an s3:// data prefix). */
  stores: Stores;
  /** The shard's turn on this worker: its place in line, and where it says that its tail has come. */
  turn: Pick<ShardTurn, 'place' | 'tail'>;
}

/**
 * A shard's hold on the inference queue's slots (workers/next-shard-slots.ts): it says when only
 * its tail is left, and when it ends.
 */
export interface ShardTurn {
  /**
   * Its place in line on this worker, in the order shards entered: the decode threads and the
   * session serve an earlier place first.
   */
  readonly place: number;
  /**
   * What is left of the shard is its tail (about TAIL_SECONDS of batches, then the file's close
   * and report): the worker may start its next shard now. Idempotent.
   */
  tail(): void;
  /** The shard is over (done, failed or stopped). Idempotent. */
  leave(): void;
}

/** How long before a shard's end the next one may start: its set-up and first decodes take 0.2–0.4 s here. */
const TAIL_SECONDS = 1;

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
    const images = await openImageSource(layout.images, deps.linkTargets, deps.stores);
    const model = await modelAsRecorded(layout, deps.stores);
    const key = extractionKey(config, split, model.sha256);
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
      { plan, key, images, previousOutput: layout.previousOutput, modelFile: model.file },
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

/** What a shard is made from: its plan and extraction key, and where its images and earlier outputs are. */
interface ShardInputs {
  plan: ShardPlan;
  key: ExtractionKey;
  images: ImageSource;
  previousOutput: string;
  /** The model file on this worker (a local copy of an object). */
  modelFile: string;
}

/** Decodes, runs and writes a shard that has no report yet; its temporary file never outlives it. */
async function extractFreshShard(
  config: RunConfig,
  files: SplitLayout,
  split: Split,
  shard: number,
  inputs: ShardInputs,
  deps: ExtractDeps,
  started: number,
): Promise<ShardReport> {
  const { plan, key } = inputs;
  const reused = await reusedImagesOf(config, split, inputs, deps);
  const toExtract = reused ? plan.images.filter((image) => !reused.tiles.has(image.ordinal)) : plan.images;
  const engine = toExtract.length > 0 ? await deps.engine(key.modelSha256, inputs.modelFile) : undefined;
  await loadZstd();
  await fs.mkdir(files.shards, { recursive: true });
  const file = new ShardFileWriter(files.parquet(shard), plan.images, reused, config.batchSize);
  const decoded: DecodeFindings = { errors: [], lineage: new Map(reused?.lineage), tags: new Map(reused?.tags) };
  let parquetSha256: string | null;
  try {
    const batches = inBatches(toExtract, config.batchSize);
    const shardRun = { config, split, shard, inputs, deps, engine, file, decoded };
    await decodeInferWrite(shardRun, batches, reused?.tiles.size ?? 0);
    deps.turn.tail();
    parquetSha256 = await file.publish(shard);
  } catch (error) {
    await file.discard();
    throw error;
  }
  const report = {
    format: 3 as const,
    split,
    shard,
    images: plan.images.length,
    extracted: file.images,
    rows: file.rows,
    channels: file.channels,
    grid: file.grid,
    parquet: await file.publishedName(shard),
    parquetSha256,
    lineage: { key, images: plan.images.map((image) => decoded.lineage.get(image.ordinal)!) },
    errors: decoded.errors,
    seconds: (performance.now() - started) / 1000,
    reusedFrom: reused?.from ?? [],
    ...(inputs.images.kind === 's3' ? { imageTags: Object.fromEntries(decoded.tags) } : {}),
  };
  await fs.mkdir(files.reports, { recursive: true });
  return writeRecord(files.report(shard), ShardReportSchema, report);
}

/**
 * The shard's images whose vectors an earlier output holds: from --reuse folders, and from this
 * folder's own finished outputs when a run replaces them. Undefined when there is no source.
 */
async function reusedImagesOf(
  config: RunConfig,
  split: Split,
  { plan, key, images, previousOutput }: ShardInputs,
  deps: ExtractDeps,
): Promise<ReusedShardImages | undefined> {
  const previous = await fs.stat(previousOutput).then(
    () => [previousOutput],
    () => [],
  );
  const sources = [...config.reuse, ...previous];
  if (sources.length === 0) return undefined;
  return findReusedImages(plan.images, split, await deps.reuseIndexes.get(sources, split, key, config.out), images);
}

function inBatches(images: ShardImage[], batchSize: number): ShardImage[][] {
  const batches: ShardImage[][] = [];
  for (let k = 0; k < images.length; k += batchSize) batches.push(images.slice(k, k + batchSize));
  return batches;
}

/** What decoding found, image by image: the images rejected, and every image's lineage by ordinal. */
interface DecodeFindings {
  errors: RejectedRow[];
  lineage: Map<number, ImageLineage>;
  /** Images fetched from object storage: the ETag of the version hashed, by image id. */
  tags: Map<string, string>;
}

/** One fresh shard's extraction, as the read → infer → write loop uses it. */
interface ShardRun {
  config: RunConfig;
  split: Split;
  shard: number;
  inputs: ShardInputs;
  deps: ExtractDeps;
  /** Undefined when every image of the shard is reused. */
  engine: InferenceEngine | undefined;
  file: ShardFileWriter;
  decoded: DecodeFindings;
}

/**
 * Every batch decoded, through the model and into the shard file. Three stages in flight: batch
 * b+1 decodes (the decode threads) and batch b runs in the model (its thread) while batch b−1's
 * rows are written here. Each promise gets a handler at once, so a failure while another stage is
 * awaited is not an unhandled rejection; it is awaited in turn, and on a failure the stages still
 * in flight settle before it is thrown. `imagesDone`: the images already there (reused).
 */
async function decodeInferWrite(run: ShardRun, batches: ShardImage[][], imagesDone: number): Promise<void> {
  const { config, split, shard, inputs, deps, engine, file, decoded } = run;
  const spare: Uint8Array[] = [];
  const batchBytes = config.batchSize * 3 * config.imgSize * config.imgSize;
  const decodeFrom = {
    decoders: deps.decoders,
    root: inputs.images.where,
    linkTargets: deps.linkTargets,
    place: deps.turn.place,
  };
  // Objects are fetched a batch ahead of the decoder; files are read by the decode threads themselves.
  const fetchAhead =
    inputs.images instanceof S3Images
      ? inputs.images.readAhead(batches.map((batch) => batch.map((image) => image.imageId)))
      : undefined;
  const decodeAt = async (b: number) => {
    const fetched = await fetchAhead?.(b);
    return decodeBatch(batches[b]!, config, split, { ...decodeFrom, fetched }, spare.pop() ?? sharedPixels(batchBytes));
  };
  const decode = (b: number) => (b < batches.length ? inFlight(decodeAt(b)) : undefined);

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
  /** Tiles and rows of an inferred batch, appended to the shard file; then progress, and perhaps the tail. */
  const write = async ({ batch, index, result }: Awaited<ReturnType<typeof infer>>) => {
    if (result) {
      const [channels, height, width] = featureShape(result.dims, engine!.model.outputName);
      const features = { images: batch.images, features: result.data, channels, height, width };
      await file.appendBatch(features, batches[index]!.at(-1)!.ordinal);
      if (index === 0) await failpoint('extract-first-batch', shard);
      if (index === Math.floor(batches.length / 2) && index > 0) await failpoint('extract-mid-shard', shard);
    }
    imagesDone += batches[index]!.length;
    deps.heartbeat({ split, shard, imagesDone, imagesTotal: inputs.plan.images.length, rows: file.rows });
    // The batches left, at the pace of those done so far.
    const secondsPerBatch = (performance.now() - extractionStarted) / 1000 / (index + 1);
    if ((batches.length - index - 1) * secondsPerBatch <= TAIL_SECONDS) deps.turn.tail();
  };

  const extractionStarted = performance.now();
  let decoding = decode(0);
  let inferring: ReturnType<typeof infer> | undefined;
  try {
    for (let b = 0; b < batches.length; b++) {
      deps.checkCancelled();
      const batch = await decoding!;
      decoding = decode(b + 1);
      decoded.errors.push(...batch.errors);
      for (const entry of batch.lineage) decoded.lineage.set(entry[0], entry);
      for (const [imageId, tag] of batch.tags) decoded.tags.set(imageId, tag);
      const previous = inferring;
      inferring = inFlight(infer(batch, b));
      if (previous) await write(await previous);
    }
    if (inferring) await write(await inferring);
  } catch (error) {
    await decoding?.catch(() => undefined);
    await inferring?.catch(() => undefined);
    throw error;
  }
}

/** A promise with a handler from the start: its rejection is awaited later, never unhandled. */
function inFlight<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** The model output's channels, height and width: it must be 4-D [batch, channels, height, width]. */
function featureShape(dims: number[], outputName: string): [number, number, number] {
  if (dims.length !== 4) {
    throw new InputError(
      `model output ${outputName} has shape [${dims.join(', ')}], expected 4-D [batch, channels, height, width]`,
    );
  }
  const [, channels, height, width] = dims as [number, number, number, number];
  return [channels, height, width];
}
