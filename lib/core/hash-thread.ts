import { Worker } from 'node:worker_threads';

/**
 * sha256 of several byte streams, computed on threads of their own, so that hashing runs beside
 * the caller's reads and writes instead of after them (compaction hashes every shard and the file
 * it writes: two hashes of every byte, together as costly as the write itself). The caller fills
 * shared buffers from `take()` and hands each over with `update()`, naming which ranges of it go
 * to which stream; each stream is hashed on the thread `laneOf` gives it, and the buffer returns
 * to the pool once every thread that reads it is done. At most `buffers` are out at once, so
 * memory stays bounded however far the caller runs ahead.
 */

const THREAD = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (message) => {
  if (message.kind === 'update') {
    for (const [stream, from, to] of message.parts) {
      let hash = hashes.get(stream);
      if (!hash) hashes.set(stream, (hash = createHash('sha256')));
      hash.update(new Uint8Array(message.buffer, from, to - from));
    }
    parentPort.postMessage({ kind: 'hashed', id: message.id });
  } else {
    const hash = hashes.get(message.stream) ?? createHash('sha256');
    hashes.delete(message.stream);
    parentPort.postMessage({ kind: 'digest', stream: message.stream, hex: hash.digest('hex') });
  }
});
`;

type Reply = { kind: 'hashed'; id: number } | { kind: 'digest'; stream: string; hex: string };
export type HashPart = readonly [stream: string, from: number, to: number];

export class HashThreads {
  private readonly buffers: SharedArrayBuffer[] = [];
  private readonly free: number[] = [];
  /** Per buffer out on the threads: how many threads still read it. */
  private readonly readers = new Map<number, number>();
  private readonly waitingForBuffer: ((id: number) => void)[] = [];
  private readonly waitingForDigest = new Map<string, (hex: string) => void>();
  private failure: Error | undefined;
  private readonly failed: Promise<never>;
  private rejectAll!: (error: Error) => void;

  private constructor(
    private readonly threads: Worker[],
    private readonly laneOf: (stream: string) => number,
    bufferBytes: number,
    buffers: number,
  ) {
    for (let id = 0; id < buffers; id++) {
      this.buffers.push(new SharedArrayBuffer(bufferBytes));
      this.free.push(id);
    }
    this.failed = new Promise<never>((_, reject) => (this.rejectAll = reject));
    this.failed.catch(() => undefined);
    const fail = (error: Error) => {
      this.failure ??= error;
      this.rejectAll(this.failure);
    };
    for (const thread of threads) {
      thread.on('message', (reply: Reply) => this.onReply(reply));
      thread.on('error', fail);
      thread.on('exit', (code) => fail(new Error(`a hashing thread exited with code ${code}`)));
    }
  }

  /** `lanes` threads; `laneOf(stream)` (0 … lanes−1) says which one hashes a stream. */
  static open({
    lanes,
    laneOf,
    bufferBytes = 4 << 20,
    buffers = 4,
  }: {
    lanes: number;
    laneOf: (stream: string) => number;
    bufferBytes?: number;
    buffers?: number;
  }): HashThreads {
    const threads = Array.from({ length: lanes }, () => new Worker(THREAD, { eval: true }));
    return new HashThreads(threads, laneOf, bufferBytes, buffers);
  }

  /** A buffer to fill (its id and its bytes), once one is free. */
  async take(): Promise<{ id: number; bytes: Uint8Array }> {
    if (this.failure) throw this.failure;
    const free = this.free.pop();
    const id =
      free ??
      (await Promise.race([new Promise<number>((resolve) => this.waitingForBuffer.push(resolve)), this.failed]));
    return { id, bytes: new Uint8Array(this.buffers[id]!) };
  }

  /** Hands buffer `id` over: each part adds those bytes of it to its stream, in order. */
  update(id: number, parts: readonly HashPart[]): void {
    if (this.failure) throw this.failure;
    const byLane = new Map<number, HashPart[]>();
    for (const part of parts) {
      const lane = this.laneOf(part[0]);
      const laneParts = byLane.get(lane) ?? [];
      laneParts.push(part);
      byLane.set(lane, laneParts);
    }
    if (byLane.size === 0) return this.release(id);
    this.readers.set(id, byLane.size);
    for (const [lane, laneParts] of byLane)
      this.threads[lane]!.postMessage({ kind: 'update', id, buffer: this.buffers[id], parts: laneParts });
  }

  /** A stream's sha256 (hex), after every update handed over before this call; the stream ends. */
  digest(stream: string): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    const digest = new Promise<string>((resolve) => this.waitingForDigest.set(stream, resolve));
    this.threads[this.laneOf(stream)]!.postMessage({ kind: 'digest', stream });
    const result = Promise.race([digest, this.failed]);
    result.catch(() => undefined); // a caller that gave up before awaiting it leaves no unhandled rejection
    return result;
  }

  async close(): Promise<void> {
    for (const thread of this.threads) {
      thread.removeAllListeners('exit');
      thread.removeAllListeners('error');
      thread.on('error', () => undefined);
    }
    await Promise.all(this.threads.map((thread) => thread.terminate()));
  }

  private onReply(reply: Reply): void {
    if (reply.kind === 'digest') {
      this.waitingForDigest.get(reply.stream)?.(reply.hex);
      this.waitingForDigest.delete(reply.stream);
      return;
    }
    const left = this.readers.get(reply.id)! - 1;
    if (left > 0) this.readers.set(reply.id, left);
    else {
      this.readers.delete(reply.id);
      this.release(reply.id);
    }
  }

  private release(id: number): void {
    const waiting = this.waitingForBuffer.shift();
    if (waiting) waiting(id);
    else this.free.push(id);
  }
}
