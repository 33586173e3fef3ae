import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { ByteWriter } from 'hyparquet-writer';

/**
 * hyparquet-writer's output to a file, hashed as it is written: the shard's sha256 (its lineage
 * proof) costs no second read of the file. Writes through one descriptor in chunks of a few MB,
 * and `close()` fsyncs before closing, so a rename after it publishes a complete file.
 */
export class HashingFileWriter extends ByteWriter {
  private readonly fd: number;
  private readonly hash = createHash('sha256');
  private closed = false;

  constructor(
    readonly file: string,
    private readonly chunkBytes = 4 << 20,
  ) {
    super(chunkBytes + (1 << 20));
    this.fd = fs.openSync(file, 'w');
  }

  override ensure(size: number): void {
    if (this.index > this.chunkBytes) this.flushChunk();
    super.ensure(size);
  }

  override finish(): void {
    this.flushChunk();
  }

  override getBuffer(): ArrayBuffer {
    throw new Error('a file writer keeps no buffer');
  }

  override getBytes(): Uint8Array<ArrayBuffer> {
    throw new Error('a file writer keeps no buffer');
  }

  /** fsyncs and closes the file; returns the sha256 of every byte written. */
  close(): string {
    this.flushChunk();
    fs.fsyncSync(this.fd);
    this.release();
    return this.hash.digest('hex');
  }

  /** Closes the file without syncing it (it is being removed). */
  release(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private flushChunk(): void {
    const chunk = new Uint8Array(this.buffer, 0, this.index);
    for (let written = 0; written < chunk.length;) written += fs.writeSync(this.fd, chunk, written);
    this.hash.update(chunk);
    this.index = 0;
  }
}
