import path from 'node:path';
import { InputError } from '../core/errors.ts';
import { mapLimited } from '../core/map-limited.ts';
import { sha256Bytes } from '../core/hashing.ts';
import { ImageInputError } from '../image/decode.ts';
import type { S3Store } from '../storage/s3-store.ts';
import type { HashedImage, ImageSource } from './image-source.ts';

/** An image fetched for decoding: its bytes and the ETag of that version, or why there are none. */
export type FetchedImage = { bytes: Uint8Array; tag: string } | { failure: string };

/**
 * GETs in flight per batch. Each object is a round trip of latency before its bytes: enough in
 * flight that the decoder never waits (a 30 KB photo is ~1 ms on loopback, tens on a real store).
 */
export const FETCHES_PER_BATCH = 32;

/** Bytes of objects hashed and kept for the decoder (S3Images.hashedBytes), at most. */
const HASHED_BYTES_KEPT = 64 * 1024 * 1024;

/**
 * Images under an S3 prefix. Bytes are fetched ahead of decoding (`readAhead`); the lineage hashes
 * the bytes decoded, and the ETag of the version fetched is recorded beside the sha256 so that a
 * later check (a no-op re-run, the attach check) asks the store with a HEAD, not a download.
 */
export class S3Images implements ImageSource {
  readonly kind = 's3';
  readonly concurrency = FETCHES_PER_BATCH;

  /**
   * Objects downloaded to be hashed (their ETag had changed), kept until decoding fetches them:
   * an image a re-run must extract again is downloaded once, not twice. Bounded in bytes.
   */
  private readonly hashedBytes = new Map<string, { bytes: Uint8Array; tag: string }>();
  private hashedBytesSize = 0;

  constructor(private readonly store: S3Store) {}

  get where(): string {
    return this.store.root;
  }

  /** The object key of an image id: inside the prefix, as a file inside the image folder must be. */
  keyOf(imageId: string): string {
    if (imageId === '' || imageId.includes('\0'))
      throw new ImageInputError(`invalid image id ${JSON.stringify(imageId)}`);
    if (imageId.startsWith('/')) throw new ImageInputError(`image id ${JSON.stringify(imageId)} is an absolute path`);
    const key = path.posix.normalize(imageId);
    if (key === '.' || key === '..' || key.startsWith('../') || key.endsWith('/'))
      throw new ImageInputError(`image id ${JSON.stringify(imageId)} points outside the image prefix`);
    return key;
  }

  /**
   * One image's bytes. A missing object, a refused one or an invalid id is a failure (a row of
   * errors.csv); the store unreachable or failing after the SDK's retries throws (the shard is retried).
   */
  async fetch(imageId: string): Promise<FetchedImage> {
    const kept = this.hashedBytes.get(imageId);
    if (kept) {
      this.hashedBytes.delete(imageId);
      this.hashedBytesSize -= kept.bytes.byteLength;
      return kept;
    }
    let key: string;
    try {
      key = this.keyOf(imageId);
    } catch (error) {
      return { failure: (error as Error).message };
    }
    try {
      const read = await this.store.readTagged(key);
      // Worded as a missing file is: errors.csv reads the same whichever store the images are in.
      return read ?? { failure: `image file ${this.store.describe(key)} does not exist` };
    } catch (error) {
      if (error instanceof InputError) return { failure: error.message };
      throw error;
    }
  }

  async currentHash(imageId: string, recorded?: HashedImage): Promise<string | null> {
    if (recorded?.tag && recorded.sha256) {
      const now = await this.statOf(imageId);
      if (now === recorded.tag) return recorded.sha256;
    }
    const fetched = await this.fetch(imageId);
    if (!('bytes' in fetched)) return null;
    if (this.hashedBytesSize + fetched.bytes.byteLength <= HASHED_BYTES_KEPT) {
      this.hashedBytes.set(imageId, fetched);
      this.hashedBytesSize += fetched.bytes.byteLength;
    }
    return sha256Bytes(fetched.bytes);
  }

  private async statOf(imageId: string): Promise<string | undefined> {
    try {
      return (await this.store.stat(this.keyOf(imageId)))?.tag;
    } catch (error) {
      if (error instanceof InputError) return undefined;
      throw error;
    }
  }

  /**
   * Fetches batch after batch ahead of the decoder: asking for batch b starts batch b+1 too, so
   * one batch's downloads overlap the previous one's decode and inference. Memory holds two batches.
   */
  readAhead(batches: readonly (readonly string[])[]): (b: number) => Promise<FetchedImage[]> {
    const started = new Map<number, Promise<FetchedImage[]>>();
    const start = (b: number) => {
      if (b >= batches.length || started.has(b)) return;
      const fetching = mapLimited(batches[b]!, FETCHES_PER_BATCH, (imageId) => this.fetch(imageId));
      fetching.catch(() => undefined); // awaited by batch(b); a failure there is the shard's
      started.set(b, fetching);
    };
    return (b) => {
      start(b);
      start(b + 1);
      const fetching = started.get(b)!;
      started.delete(b);
      return fetching;
    };
  }
}

/**
 * A batch's fetched bytes in one block of shared memory, so that every decode thread sees them
 * without a copy per thread: image `slot` is `bytes[offsets[slot] .. offsets[slot + 1])`.
 */
export interface FetchedBatch {
  bytes: Uint8Array;
  offsets: number[];
  /** Why an image has no bytes, by slot (null where it has). */
  failures: (string | null)[];
}

export function packFetched(fetched: readonly FetchedImage[]): FetchedBatch {
  const total = fetched.reduce((sum, image) => sum + ('bytes' in image ? image.bytes.byteLength : 0), 0);
  const bytes = new Uint8Array(new SharedArrayBuffer(total));
  const offsets = [0];
  const failures: (string | null)[] = [];
  for (const image of fetched) {
    const at = offsets.at(-1)!;
    if ('bytes' in image) bytes.set(image.bytes, at);
    offsets.push(at + ('bytes' in image ? image.bytes.byteLength : 0));
    failures.push('failure' in image ? image.failure : null);
  }
  return { bytes, offsets, failures };
}
