import type { Worker } from 'node:worker_threads';
import { InputError } from '../core/errors.ts';
import { moduleBeside, startTypeScriptThread } from '../core/typescript-thread.ts';
import {
  pixelTransfer,
  type ModelDescription,
  type PixelBatch,
  type SessionSpec,
  type ThreadReply,
  type ThreadRequest,
} from './protocol.ts';

export interface InferenceOutput {
  /** The chosen output, NCHW float32. */
  data: Float32Array;
  dims: number[];
  /** The batch's pixel buffer, handed back for reuse. */
  pixels: Uint8Array;
}

/** A model file onnxruntime cannot load, or that lacks the chosen output: the user's input. */
export class ModelLoadError extends InputError {
  override name = 'ModelLoadError';
}

const threadUrl = moduleBeside('./session-thread', import.meta.url);

/**
 * One onnxruntime session on a dedicated thread, reused for every batch of every activity the
 * worker process runs. Requests are queued by the thread's message port, so calls may overlap.
 */
export class InferenceEngine {
  private readonly pending = new Map<number, { resolve: (o: InferenceOutput) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;

  private constructor(
    private readonly thread: Worker,
    readonly spec: SessionSpec,
    readonly model: ModelDescription,
  ) {
    thread.on('message', (reply: ThreadReply) => this.onReply(reply));
    thread.on('error', (error) => this.failAll(error));
    thread.on('exit', (code) => this.failAll(new Error(`inference thread exited with code ${code}`)));
  }

  static async open(spec: SessionSpec): Promise<InferenceEngine> {
    const thread = startTypeScriptThread(threadUrl, spec);
    const first = await new Promise<ThreadReply>((resolve, reject) => {
      thread.once('message', resolve);
      thread.once('error', reject);
      thread.once('exit', (code) => reject(new Error(`inference thread exited with code ${code} while loading`)));
    });
    if (first.kind === 'ready') return new InferenceEngine(thread, spec, first.model);
    await thread.terminate();
    const message = first.kind === 'load-failed' ? first.message : `unexpected reply ${first.kind}`;
    throw new ModelLoadError(`cannot load model ${spec.modelPath} (${spec.executionProvider}): ${message}`);
  }

  /**
   * Runs the model on a batch of decoded images, transferring or sharing the pixel buffer with the
   * thread (no copy) and handing it back; the session does the float conversion, off this thread's event loop.
   * `place`: the shard's place in line (ShardTurn). The session runs a waiting batch of an earlier
   * place before any of a later one, so a shard that starts while another is in its tail (the next
   * slot, workers/next-shard-slots.ts) takes the session only when that one has no batch ready.
   */
  run(batch: PixelBatch, place = 0): Promise<InferenceOutput> {
    if (this.closed) return Promise.reject(new Error('inference engine is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const request: ThreadRequest = { kind: 'run', id, place, batch };
      this.thread.postMessage(request, pixelTransfer(batch.pixels));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.thread.terminate();
  }

  private onReply(reply: ThreadReply): void {
    if (reply.kind !== 'result' && reply.kind !== 'run-failed') return;
    const waiter = this.pending.get(reply.id);
    if (!waiter) return;
    this.pending.delete(reply.id);
    if (reply.kind === 'result') waiter.resolve({ data: reply.output, dims: reply.dims, pixels: reply.pixels });
    else waiter.reject(new Error(`inference failed on ${this.spec.modelPath}: ${reply.message}`));
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}

/** Engines by session spec: one per worker process for each model/provider/output/image size in use. */
export class InferenceEngines {
  private readonly engines = new Map<string, Promise<InferenceEngine>>();
  private closed = false;

  /** `onLoaded`: told of each session this process loads (a worker logs it), with its load time. */
  constructor(private readonly onLoaded?: (spec: SessionSpec, seconds: number) => void) {}

  /** A session; refused once closeAll() ran (a late warm-up must not leave a thread that keeps the process alive). */
  get(spec: SessionSpec): Promise<InferenceEngine> {
    if (this.closed) return Promise.reject(new Error('inference engines are closed: the worker is stopping'));
    const key = JSON.stringify([
      spec.modelPath,
      spec.modelSha256 ?? null,
      spec.executionProvider,
      spec.output,
      spec.imgSize,
      spec.normalize,
      spec.intraOpThreads ?? null,
      spec.microBatch ?? null,
    ]);
    let engine = this.engines.get(key);
    if (!engine) {
      const started = performance.now();
      engine = InferenceEngine.open(spec);
      void engine.then(
        (opened) => this.tellLoaded(opened.spec, (performance.now() - started) / 1000),
        () => undefined,
      );
      // A failed load is not cached: a fixed model file can be retried without a restart.
      engine.catch(() => this.engines.delete(key));
      this.engines.set(key, engine);
    }
    return engine;
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const engines = [...this.engines.values()];
    this.engines.clear();
    await Promise.allSettled(engines.map(async (engine) => (await engine).close()));
  }

  private tellLoaded(spec: SessionSpec, seconds: number): void {
    try {
      this.onLoaded?.(spec, seconds);
    } catch {
      // A log line that cannot be written is no reason to stop a worker.
    }
  }
}
