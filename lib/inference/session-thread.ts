/**
 * Runs one onnxruntime session on its own thread: `session.run` blocks the thread that calls it
 * (onnxruntime issue #26968), so keeping it here leaves the worker's event loop free for
 * heartbeats, cancellation and image decoding.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { ModelDescription, SessionSpec, ThreadReply, ThreadRequest } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('session-thread must run in a worker thread');
const spec = workerData as SessionSpec;

function send(reply: ThreadReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

function pickOutput(outputNames: readonly string[], output: number | string): string {
  if (typeof output === 'number') {
    const name = outputNames[output];
    if (name === undefined) {
      throw new Error(`output index ${output} does not exist: the model has ${outputNames.length} outputs (${outputNames.join(', ')})`);
    }
    return name;
  }
  if (!outputNames.includes(output)) {
    throw new Error(`output ${JSON.stringify(output)} does not exist: the model's outputs are ${outputNames.join(', ')}`);
  }
  return output;
}

async function load(): Promise<{ session: ort.InferenceSession; model: ModelDescription }> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [spec.executionProvider],
    graphOptimizationLevel: 'all',
  };
  if (spec.intraOpThreads !== undefined) options.intraOpNumThreads = spec.intraOpThreads;
  const session = await ort.InferenceSession.create(spec.modelPath, options);
  const inputName = session.inputNames[0];
  if (inputName === undefined) throw new Error('the model has no input');
  const outputName = pickOutput(session.outputNames, spec.output);
  return { session, model: { inputName, outputName, outputNames: [...session.outputNames] } };
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
  port!.on('message', async (request: ThreadRequest) => {
    try {
      const feeds = { [model.inputName]: new ort.Tensor('float32', request.input, request.dims) };
      const results = await session.run(feeds, [model.outputName]);
      const tensor = results[model.outputName]!;
      if (tensor.type !== 'float32') throw new Error(`output ${model.outputName} is ${tensor.type}, expected float32`);
      const output = tensor.data as Float32Array;
      send({ kind: 'result', id: request.id, output, dims: [...tensor.dims], input: request.input }, [
        output.buffer as ArrayBuffer,
        request.input.buffer as ArrayBuffer,
      ]);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      send({ kind: 'run-failed', id: request.id, message, input: request.input }, [request.input.buffer as ArrayBuffer]);
    }
  });
}

void main();
