import fs from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import type { RunConfig } from '../core/run-config.ts';
import { errorMessage, InputError } from '../core/errors.ts';
import { checkPixelInput, FusionError } from '../inference/fused-model.ts';
import { describeOutputs, resolveOutputName } from '../inference/output-name.ts';
import { ProtobufError } from '../inference/protobuf.ts';
import {
  assertOutputApartFromInputs,
  claimOutputFolder,
  outputFolderRefusal,
  ensureWritable,
  removeTopLevelTempFiles,
} from '../run-folder/output-folder.ts';
import { claimRunOptions } from '../run-folder/run-options-record.ts';
import { runLayout, type RunLayout } from '../run-folder/layout.ts';
import { isUri } from '../core/uri.ts';
import { parseLocation } from '../storage/location.ts';
import { withStores, type Stores } from '../storage/open-store.ts';
import { StoreUnavailableError } from '../storage/s3-errors.ts';
import { WorkflowRecordSchema } from '../run-folder/records.ts';
import { refuseUnreadRecords, writeRecord } from '../run-folder/records-io.ts';

export interface PreflightSummary {
  outputName: string;
  channels: number;
  grid: [number, number];
  seconds: number;
}

export interface PreflightHooks {
  /**
   * Called as soon as the model's sha256 is recorded, before the model check: a worker that also
   * runs inference loads its session now, beside the check, split and plan, not in the first shard.
   */
  modelRecorded?(modelSha256: string): void;
}

async function requireFolder(folder: string, what: string): Promise<void> {
  const stat = await fs.stat(folder).catch(() => undefined);
  if (!stat?.isDirectory()) throw new InputError(`${what} ${folder} does not exist or is not a folder`);
}

/**
 * A dataset under an s3:// prefix: its CSV is an object and its image prefix holds objects. The
 * store's own refusals (no credentials, access denied, no bucket, unreachable) are said here, in
 * one line naming the URI, before any image is read; a store that fails now fails the run at once.
 */
async function requireRemoteDataset(layout: RunLayout, stores: Stores): Promise<void> {
  const open = (uri: string) => {
    const location = parseLocation(uri);
    if (location.kind !== 's3') throw new InputError(`${uri} is not an s3:// URI`);
    return stores.openS3(location);
  };
  try {
    if (!(await open(layout.inputCsv).stat('')))
      throw new InputError(`input CSV ${layout.inputCsv} does not exist (no such object under the dataset prefix)`);
    for await (const object of open(layout.images).list('')) {
      void object;
      return;
    }
    throw new InputError(`image prefix ${layout.images} holds no objects`);
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw new InputError(error.message, { cause: error });
    throw error;
  }
}

/**
 * Checks, before any shard runs, what would otherwise fail in every shard: the dataset folders,
 * the output folder (apart from the inputs, tessera's own, writable, not another run's options;
 * temporary files of killed attempts removed), and the model: it loads, takes one float32
 * input [batch, 3, H, W] that accepts imgSize and can take tessera's pixel graph in front of it
 * (inference/fused-model.ts), and the chosen output exists and is 4-D. One blank
 * image goes through it (on the CPU) to learn the output's channels and grid. `workflow`, the
 * workflow that runs the check, is recorded in the folder.
 */
export function preflight(
  config: RunConfig,
  workflow?: { workflowId: string; runId: string },
  hooks: PreflightHooks = {},
  stores?: Stores,
): Promise<PreflightSummary> {
  return withStores(stores, (own) => checkRun(config, workflow, hooks, own));
}

async function checkRun(
  config: RunConfig,
  workflow: { workflowId: string; runId: string } | undefined,
  hooks: PreflightHooks,
  stores: Stores,
): Promise<PreflightSummary> {
  const started = performance.now();
  const layout = runLayout(config);
  if (isUri(layout.data)) {
    await requireRemoteDataset(layout, stores);
  } else {
    await requireFolder(layout.data, 'dataset folder');
    await requireFolder(layout.images, 'image folder');
  }
  await assertOutputApartFromInputs(layout);
  // A folder tessera did not create is refused as such before its files are read as records.
  const foreign = await outputFolderRefusal(layout.out);
  if (foreign) throw new InputError(foreign);
  await refuseUnreadRecords(layout);
  await claimOutputFolder(layout);
  await ensureWritable(layout.out, () => fs.access(layout.out, fs.constants.W_OK));
  const { modelSha256 } = await ensureWritable(layout.out, () => claimRunOptions(config, layout, stores));
  // Which workflow works here: status finds a run started from the Temporal CLI or UI by it.
  if (workflow)
    await writeRecord(layout.workflowRecord, WorkflowRecordSchema, {
      ...workflow,
      recordedAt: new Date().toISOString(),
    });
  await removeTopLevelTempFiles(layout);
  hooks.modelRecorded?.(modelSha256);

  // A model in object storage is checked from this worker's copy of the version just hashed.
  const modelFile = isUri(layout.model) ? (await stores.localFile(layout.model, 'model file')).file : layout.model;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelFile, { executionProviders: ['cpu'] });
  } catch (error) {
    throw new InputError(`model ${layout.model} cannot be loaded: ${errorMessage(error)}`);
  }
  try {
    const input = session.inputMetadata[0];
    if (!input || !input.isTensor || session.inputMetadata.length !== 1) {
      throw new InputError(
        `model ${layout.model} must have exactly one tensor input, has ${session.inputMetadata.length}`,
      );
    }
    const fixed = (d: number | string | undefined) => (typeof d === 'number' && d > 0 ? d : undefined);
    const [, c, h, w] = input.shape;
    if (input.type !== 'float32' || input.shape.length !== 4 || (fixed(c) ?? 3) !== 3) {
      throw new InputError(
        `model ${layout.model} input ${input.name} is ${input.type} [${input.shape.join(', ')}], expected float32 [batch, 3, H, W]`,
      );
    }
    for (const d of [h, w]) {
      if (fixed(d) !== undefined && d !== config.imgSize) {
        throw new InputError(`model ${layout.model} takes ${h}×${w} images, but imgSize is ${config.imgSize}`);
      }
    }
    // Workers feed the model through the pixel graph spliced in front of it: what cannot take it is refused here.
    try {
      checkPixelInput(await fs.readFile(modelFile), config.imgSize);
    } catch (error) {
      if (!(error instanceof FusionError || error instanceof ProtobufError)) throw error;
      throw new InputError(`model ${layout.model} cannot take tessera's pixel input: ${error.message}`);
    }
    const outputName = resolveOutputName(session.outputNames, config.output);
    if (outputName === undefined) {
      throw new InputError(
        `model ${layout.model} has no output ${JSON.stringify(config.output)}; its outputs are ${describeOutputs(session.outputNames)}`,
      );
    }
    const blank = new ort.Tensor('float32', new Float32Array(3 * config.imgSize * config.imgSize), [
      1,
      3,
      config.imgSize,
      config.imgSize,
    ]);
    const result = (await session.run({ [input.name]: blank }, [outputName]))[outputName]!;
    if (result.dims.length !== 4) {
      throw new InputError(
        `model output ${outputName} has shape [${result.dims.join(', ')}] at imgSize ${config.imgSize}, expected 4-D [batch, channels, height, width]`,
      );
    }
    const [, channels, gh, gw] = result.dims as [number, number, number, number];
    return { outputName, channels, grid: [gh, gw], seconds: (performance.now() - started) / 1000 };
  } finally {
    await session.release();
  }
}
