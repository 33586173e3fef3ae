import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { moduleBeside, startTypeScriptThread } from '../core/typescript-thread.ts';
import { jpegDecoderName } from '../image/jpeg-turbo.ts';
import type { DecodedImage, DecodeReply, DecodeRequest } from './decode-protocol.ts';

const threadUrl = moduleBeside('./decode-thread', import.meta.url);

export type DecodeBatchRequest = Omit<DecodeRequest, 'id' | 'pixels' | 'next'>;

/** A batch's pixel buffer the decode threads can write into: shared memory, never copied. */
export function sharedPixels(bytes: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(bytes));
}

interface Pending {
  /** The shard's place in line (DecodeThreads.decode). */
  place: number;
  /** Held back (not yet sent) while a shard of an earlier place has a batch in the threads. */
  held?: { message: DecodeRequest; running: Running };
  images: (DecodedImage | undefined)[];
  /** Threads yet to reply. */
  replies: number;
  resolve: (images: DecodedImage[]) => void;
  reject: (error: Error) => void;
}

interface Running {
  threads: Worker[];
  ready: Promise<void>;
  /** Stops this pool: its start and its requests fail with `error`, its threads are terminated. */
  stop: (error: Error) => Promise<void>;
}

/**
 * The worker process's decode threads (decode-thread.ts), half the cores by default: every batch
 * goes to all of them, and each takes images from it until none are left. Started on first use
 * (or `start()`), started afresh after a thread dies, stopped for good by `close()`. Every thread
 * must decode with this process's decoder, the one its extraction keys name.
 */
export class DecodeThreads {
  private running: Running | undefined;
  private closed = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /**
   * Half the cores by default: a thread decodes a plain 256² JPEG in ~0.3 ms (~3,000 images/s),
   * keeps two sharp decodes in flight otherwise, and costs ~40 MB; on 2 cores one thread fed the
   * null model as fast as two.
   */
  constructor(readonly threadCount = Math.max(1, Math.ceil(os.availableParallelism() / 2))) {}

  /** Starts the threads now, so that the first batch need not wait for them. */
  async start(): Promise<void> {
    await this.threads().ready;
  }

  /**
   * The batch's images decoded into `pixels` (from sharedPixels()), outcomes in slot order.
   * `place`: the shard's place in line. A batch is held back while a shard of an earlier place has
   * one in the threads, so a shard started in another's tail decodes on what that one leaves idle.
   */
  async decode(request: DecodeBatchRequest, pixels: Uint8Array, place = 0): Promise<DecodedImage[]> {
    if (!(pixels.buffer instanceof SharedArrayBuffer))
      throw new TypeError('decode threads write into shared memory: allocate the pixels with sharedPixels()');
    if (pixels.length < request.imageIds.length * 3 * request.size * request.size)
      throw new RangeError(
        `no room for ${request.imageIds.length} images of ${request.size}² in ${pixels.length} bytes`,
      );
    if (request.imageIds.length === 0) return [];
    const running = this.threads();
    await running.ready;
    // Stopped while this call waited (a thread died, or close()): its threads would never answer.
    if (this.running !== running)
      throw new Error('decode threads stopped before the batch was sent; the shard is retried');
    const id = this.nextId++;
    const message: DecodeRequest = { ...request, id, pixels, next: new Int32Array(new SharedArrayBuffer(4)) };
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        place,
        images: new Array(request.imageIds.length),
        replies: running.threads.length,
        resolve,
        reject,
      };
      this.pending.set(id, pending);
      // Behind any earlier place, sent or held: a later shard does not jump a held earlier one.
      if (this.earlierPending(place)) pending.held = { message, running };
      else this.send(message, running);
    });
  }

  private send(message: DecodeRequest, running: Running): void {
    for (const thread of running.threads) thread.postMessage(message);
  }

  private earlierPending(place: number): boolean {
    for (const pending of this.pending.values()) if (pending.place < place) return true;
    return false;
  }

  /** Whether a batch of an earlier place than `place` is in the threads (sent, not yet done). */
  private earlierInThreads(place: number): boolean {
    for (const pending of this.pending.values()) if (!pending.held && pending.place < place) return true;
    return false;
  }

  /**
   * Sends held batches that nothing earlier holds back any more. Called a turn of the event loop
   * after a batch is done, so that the shard it belonged to has asked for its next batch first.
   */
  private sendHeld(): void {
    const held = [...this.pending.entries()]
      .filter(([, pending]) => pending.held)
      .sort(([a, p], [b, q]) => p.place - q.place || a - b);
    for (const [id, pending] of held) {
      if (this.earlierInThreads(pending.place)) continue;
      const { message, running } = pending.held!;
      pending.held = undefined;
      if (this.running === running) {
        this.send(message, running);
      } else {
        this.pending.delete(id);
        pending.reject(new Error('decode threads stopped before the batch was sent; the shard is retried'));
      }
    }
  }

  /** Stops the threads; every request still waiting fails, and none is taken after. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running?.stop(new Error('decode threads closed'));
  }

  private threads(): Running {
    if (this.closed) throw new Error('decode threads are closed');
    if (this.running) return this.running;
    const expected = jpegDecoderName();
    const threads = Array.from({ length: this.threadCount }, () => startTypeScriptThread(threadUrl, undefined));
    const ready = threads.map(() => {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<void>((yes, no) => ((resolve = yes), (reject = no)));
      return { promise, resolve, reject };
    });
    const running: Running = {
      threads,
      ready: Promise.all(ready.map((r) => r.promise)).then(() => undefined),
      stop: async (error) => {
        if (this.running !== running) return; // stopped already
        this.running = undefined;
        for (const r of ready) r.reject(error);
        this.failPending(error);
        await Promise.allSettled(threads.map((thread) => thread.terminate()));
      },
    };
    threads.forEach((thread, k) => {
      thread.on('message', (reply: DecodeReply) => {
        if (reply.kind !== 'ready') return this.onReply(reply);
        if (reply.decoder === expected) return ready[k]!.resolve();
        void running.stop(
          new Error(
            `a decode thread decodes JPEGs with ${reply.decoder}, this process with ${expected}: its pixels would not be the ones the extraction key names`,
          ),
        );
      });
      thread.on('error', (error) => void running.stop(error));
      thread.on('exit', (code) => void running.stop(new Error(`decode thread exited with code ${code}`)));
    });
    running.ready.catch(() => undefined);
    this.running = running;
    return running;
  }

  private onReply(reply: Exclude<DecodeReply, { kind: 'ready' }>): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    if (reply.kind === 'failed') {
      this.pending.delete(reply.id);
      pending.reject(new Error(`decode thread failed: ${reply.message}`));
      setImmediate(() => this.sendHeld());
      return;
    }
    for (const image of reply.images) pending.images[image.slot] = image;
    if (--pending.replies > 0) return;
    this.pending.delete(reply.id);
    if (this.pending.size > 0) setImmediate(() => this.sendHeld());
    const missing = pending.images.findIndex((image) => image === undefined);
    if (missing >= 0) pending.reject(new Error(`decode threads returned no outcome for image ${missing} of the batch`));
    else pending.resolve(pending.images as DecodedImage[]);
  }

  private failPending(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
