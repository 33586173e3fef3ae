/**
 * Runs one onnxruntime session on its own thread: `session.run` blocks the thread that calls it
 * (onnxruntime issue #26968), so keeping it here leaves the worker's event loop free for
 * heartbeats, cancellation and image decoding.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { sha256Bytes } from '../core/hashing.ts';
import { describeOutputs, resolveOutputName } from './output-name.ts';
import { FUSED_INPUT, fusePixelGraph } from './fused-model.ts';
import {
  pixelTransfer,
  type ModelDescription,
  type PixelBatch,
  type SessionSpec,
  type ThreadReply,
  type ThreadRequest,
} from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('session-thread must run in a worker thread');
const spec = workerData as SessionSpec;

function send(reply: ThreadReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

function sessionOptions(sessionConfig: Record<string, string> = {}): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [spec.executionProvider],
    graphOptimizationLevel: 'all',
    // The memory-pattern planner pre-allocates per input shape; with two shapes (full and last
    // partial slice) it only adds memory: measured no faster here.
    enableMemPattern: false,
    // Threads of the model's pool sleep between operators instead of spinning: the decoders and
    // the writer share these cores, and a spinning pool takes their CPU.
    extra: { session: { intra_op: { allow_spinning: '0' }, ...sessionConfig } },
  };
  if (spec.intraOpThreads !== undefined) options.intraOpNumThreads = spec.intraOpThreads;
  return options;
}

/**
 * The model with the pixel graph in front (fused-model.ts), loaded from memory: external weights
 * are found beside the model file, as when onnxruntime loads the file itself.
 */
async function load(): Promise<{ session: ort.InferenceSession; model: ModelDescription }> {
  const bytes = await fs.readFile(spec.modelPath);
  // The engine is keyed by this sha256 and every shard it serves names it: the bytes loaded must
  // be those bytes, not a file replaced after it was hashed (a later run could find it again).
  const expected = spec.modelSha256;
  const loaded = expected === undefined ? undefined : sha256Bytes(bytes);
  if (expected !== undefined && loaded !== expected) {
    throw new Error(
      `the file changed after it was hashed (sha256 ${expected.slice(0, 12)}… expected, ${loaded!.slice(0, 12)}… read)`,
    );
  }
  const fused = fusePixelGraph(bytes, spec.normalize, spec.imgSize);
  const options = sessionOptions({
    model_external_initializers_file_folder_path: path.dirname(path.resolve(spec.modelPath)),
  });
  const session = await ort.InferenceSession.create(fused.bytes, options);
  const outputName = resolveOutputName(session.outputNames, spec.output);
  if (outputName === undefined) {
    throw new Error(
      `the model has no output ${JSON.stringify(spec.output)}; its outputs are ${describeOutputs(session.outputNames)}`,
    );
  }
  return { session, model: { inputName: fused.modelInput, outputName, outputNames: [...session.outputNames] } };
}

/**
 * Runs a batch's images as slices of at most spec.microBatch images; returns one NCHW output.
 * `inputOf(first, count)` gives the model's input tensor for images first … first+count−1.
 */
async function runInSlices(
  session: ort.InferenceSession,
  model: ModelDescription,
  images: number,
  inputOf: (first: number, count: number) => Promise<ort.Tensor>,
) {
  const slice = Math.max(1, Math.min(spec.microBatch ?? images, images));
  let output: Float32Array | undefined;
  let outDims: number[] = [];
  for (let first = 0; first < images; first += slice) {
    const count = Math.min(slice, images - first);
    const results = await session.run({ [FUSED_INPUT]: await inputOf(first, count) }, [model.outputName]);
    const tensor = results[model.outputName]!;
    if (tensor.type !== 'float32') throw new Error(`output ${model.outputName} is ${tensor.type}, expected float32`);
    const data = tensor.data as Float32Array;
    if (count === images) return { output: data, dims: [...tensor.dims] };
    const perOutput = data.length / count;
    output ??= new Float32Array(images * perOutput);
    output.set(data, first * perOutput);
    outDims = [images, ...tensor.dims.slice(1)];
  }
  return { output: output!, dims: outDims };
}

function earlier(a: ThreadRequest, b: ThreadRequest): boolean {
  return a.place !== b.place ? a.place < b.place : a.id < b.id;
}

async function main(): Promise<void> {
  let loaded: Awaited<ReturnType<typeof load>>;
  try {
    loaded = await load();
  } catch (error) {
    send({ kind: 'load-failed', message: error instanceof Error ? error.message : String(error) });
    return;
  }
  const { session, model } = loaded;
  send({ kind: 'ready', model });
  const perImage = 3 * spec.imgSize * spec.imgSize;
  // onnxruntime-node takes no tensor over shared memory (it asks N-API for an ArrayBuffer): a slice
  // of a shared batch is copied into this thread's own buffer first (~20 µs per 256² image).
  let own = new Uint8Array(0);
  const inputOf =
    ({ pixels }: PixelBatch) =>
    async (first: number, count: number): Promise<ort.Tensor> => {
      let data = pixels.subarray(first * perImage, (first + count) * perImage);
      if (data.buffer instanceof SharedArrayBuffer) {
        if (own.length < data.length) own = new Uint8Array(data.length);
        own.set(data);
        data = own.subarray(0, data.length);
      }
      return new ort.Tensor('uint8', data, [count, spec.imgSize, spec.imgSize, 3]);
    };
  // Each request answers itself (result or run-failed) and never rejects: the listener only starts it.
  const answer = async ({ id, batch }: ThreadRequest) => {
    try {
      const { output, dims: outputDims } = await runInSlices(session, model, batch.images, inputOf(batch));
      send({ kind: 'result', id, output, dims: outputDims, pixels: batch.pixels }, [
        output.buffer as ArrayBuffer,
        ...pixelTransfer(batch.pixels),
      ]);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      send({ kind: 'run-failed', id, message, pixels: batch.pixels }, pixelTransfer(batch.pixels));
    }
  };
  // One request at a time (a batch runs in slices with awaits between them): of those waiting, the
  // earliest shard's first, so a shard started at another's tail waits until that one has no batch ready.
  const waiting: ThreadRequest[] = [];
  let running = false;
  const runNext = async () => {
    running = true;
    try {
      while (waiting.length > 0) {
        const next = waiting.reduce((best, request, at) => (earlier(request, waiting[best]!) ? at : best), 0);
        await answer(waiting.splice(next, 1)[0]!);
      }
    } finally {
      running = false;
    }
  };
  port!.on('message', (request: ThreadRequest) => {
    waiting.push(request);
    if (!running) void runNext();
  });
}

void main();
