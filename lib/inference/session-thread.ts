/**
 * Runs one onnxruntime session on its own thread: `session.run` blocks the thread that calls it
 * (onnxruntime issue #26968), so keeping it here leaves the worker's event loop free for
 * heartbeats, cancellation and image decoding.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { rgbToChwFloats } from '../image/model-input.ts';
import { describeOutputs, resolveOutputName } from './output-name.ts';
import type { ModelDescription, PixelBatch, SessionSpec, ThreadReply, ThreadRequest } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('session-thread must run in a worker thread');
const spec = workerData as SessionSpec;

function send(reply: ThreadReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

async function load(): Promise<{ session: ort.InferenceSession; model: ModelDescription }> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [spec.executionProvider],
    graphOptimizationLevel: 'all',
    // The memory-pattern planner pre-allocates per input shape; with two shapes (full and last
    // partial slice) it only adds memory: measured no faster here.
    enableMemPattern: false,
    // Threads of the model's pool sleep between operators instead of spinning: the decoders and
    // the writer share these cores, and a spinning pool takes their CPU.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  if (spec.intraOpThreads !== undefined) options.intraOpNumThreads = spec.intraOpThreads;
  const session = await ort.InferenceSession.create(spec.modelPath, options);
  const inputName = session.inputNames[0];
  if (inputName === undefined) throw new Error('the model has no input');
  const outputName = resolveOutputName(session.outputNames, spec.output);
  if (outputName === undefined) {
    throw new Error(`the model has no output ${JSON.stringify(spec.output)}; its outputs are ${describeOutputs(session.outputNames)}`);
  }
  return { session, model: { inputName, outputName, outputNames: [...session.outputNames] } };
}

/** Runs [N, C, H, W] as slices of at most spec.microBatch images; returns one NCHW output. */
async function runInSlices(session: ort.InferenceSession, model: ModelDescription, input: Float32Array, dims: number[]) {
  const [images, ...imageDims] = dims as [number, ...number[]];
  const perImage = imageDims.reduce((a, b) => a * b, 1);
  const slice = Math.max(1, Math.min(spec.microBatch ?? images, images));
  let output: Float32Array | undefined;
  let outDims: number[] = [];
  for (let first = 0; first < images; first += slice) {
    const count = Math.min(slice, images - first);
    const view = input.subarray(first * perImage, (first + count) * perImage);
    const results = await session.run({ [model.inputName]: new ort.Tensor('float32', view, [count, ...imageDims]) }, [model.outputName]);
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
  // The float input of the largest batch so far, reused: memory touched for the first time is slow.
  let floats = new Float32Array(0);
  const modelInput = ({ pixels, images, size, normalize }: PixelBatch): Float32Array => {
    const length = images * 3 * size * size;
    if (floats.length < length) floats = new Float32Array(length);
    const input = floats.subarray(0, length);
    rgbToChwFloats(pixels, images, size, normalize, input);
    return input;
  };
  // Each request answers itself (result or run-failed) and never rejects: the listener only starts it.
  const answer = async ({ id, batch }: ThreadRequest) => {
    try {
      const dims = [batch.images, 3, batch.size, batch.size];
      const { output, dims: outputDims } = await runInSlices(session, model, modelInput(batch), dims);
      send({ kind: 'result', id, output, dims: outputDims, pixels: batch.pixels }, [output.buffer as ArrayBuffer, batch.pixels.buffer as ArrayBuffer]);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      send({ kind: 'run-failed', id, message, pixels: batch.pixels }, [batch.pixels.buffer as ArrayBuffer]);
    }
  };
  // One request at a time, in order: a batch runs in slices with awaits between them, and the
  // next request must not overwrite the float input (reused) while slices of this one remain.
  let queue = Promise.resolve();
  port!.on('message', (request: ThreadRequest) => {
    queue = queue.then(() => answer(request));
  });
}

void main();
