/**
 * Runs one onnxruntime session on its own thread: `session.run` blocks the thread that calls it
 * (onnxruntime issue #26968), so keeping it here leaves the worker's event loop free for
 * heartbeats, cancellation and image decoding.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { describeOutputs, resolveOutputName } from './output-name.ts';
import { pixelModel, PIXELS_INPUT, PIXELS_OUTPUT } from './pixel-model.ts';
import type { ModelDescription, PixelBatch, SessionSpec, ThreadReply, ThreadRequest } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('session-thread must run in a worker thread');
const spec = workerData as SessionSpec;

function send(reply: ThreadReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

function sessionOptions(): ort.InferenceSession.SessionOptions {
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
  return options;
}

async function load(): Promise<{ session: ort.InferenceSession; model: ModelDescription }> {
  const session = await ort.InferenceSession.create(spec.modelPath, sessionOptions());
  const inputName = session.inputNames[0];
  if (inputName === undefined) throw new Error('the model has no input');
  const outputName = resolveOutputName(session.outputNames, spec.output);
  if (outputName === undefined) {
    throw new Error(`the model has no output ${JSON.stringify(spec.output)}; its outputs are ${describeOutputs(session.outputNames)}`);
  }
  return { session, model: { inputName, outputName, outputNames: [...session.outputNames] } };
}

/**
 * Runs a batch's images as slices of at most spec.microBatch images; returns one NCHW output.
 * `inputOf(first, count)` gives the model's input tensor for images first … first+count−1.
 */
async function runInSlices(session: ort.InferenceSession, model: ModelDescription, images: number, inputOf: (first: number, count: number) => Promise<ort.Tensor>) {
  const slice = Math.max(1, Math.min(spec.microBatch ?? images, images));
  let output: Float32Array | undefined;
  let outDims: number[] = [];
  for (let first = 0; first < images; first += slice) {
    const count = Math.min(slice, images - first);
    const results = await session.run({ [model.inputName]: await inputOf(first, count) }, [model.outputName]);
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
  // Pixels become the model's input in onnxruntime (pixel-model.ts, on the CPU whatever the model's
  // provider: its output is handed over here), one small session per image size and normalisation.
  const pixelSessions = new Map<string, Promise<ort.InferenceSession>>();
  const pixelSession = (size: number, normalize: PixelBatch['normalize']) => {
    const key = `${size}/${normalize}`;
    let session = pixelSessions.get(key);
    if (!session) pixelSessions.set(key, (session = ort.InferenceSession.create(pixelModel(size, normalize), { ...sessionOptions(), executionProviders: ['cpu'] })));
    return session;
  };
  const inputOf = ({ pixels, size, normalize }: PixelBatch) => async (first: number, count: number): Promise<ort.Tensor> => {
    const perImage = 3 * size * size;
    const pixelsTensor = new ort.Tensor('uint8', pixels.subarray(first * perImage, (first + count) * perImage), [count, size, size, 3]);
    return (await (await pixelSession(size, normalize)).run({ [PIXELS_INPUT]: pixelsTensor }))[PIXELS_OUTPUT]!;
  };
  // Each request answers itself (result or run-failed) and never rejects: the listener only starts it.
  const answer = async ({ id, batch }: ThreadRequest) => {
    try {
      const { output, dims: outputDims } = await runInSlices(session, model, batch.images, inputOf(batch));
      send({ kind: 'result', id, output, dims: outputDims, pixels: batch.pixels }, [output.buffer as ArrayBuffer, batch.pixels.buffer as ArrayBuffer]);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      send({ kind: 'run-failed', id, message, pixels: batch.pixels }, [batch.pixels.buffer as ArrayBuffer]);
    }
  };
  // One request at a time, in order: a batch runs in slices with awaits between them.
  let queue = Promise.resolve();
  port!.on('message', (request: ThreadRequest) => {
    queue = queue.then(() => answer(request));
  });
}

void main();
