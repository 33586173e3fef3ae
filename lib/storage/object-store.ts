/**
 * The one storage interface every stage uses for run data: a folder on local disk or a prefix in
 * an S3-compatible store. Keys are '/'-separated and relative to the store's root.
 */
export interface StoredObject {
  key: string;
  size: number;
  /**
   * Changes whenever the content may have: S3's ETag, or the file's size, mtime and inode. Lineage
   * never trusts it for what a vector was made from; it only lets a check skip re-reading bytes
   * that were hashed when the same tag was recorded.
   */
  tag: string;
}

export type Body = Uint8Array | AsyncIterable<Uint8Array>;

export interface WriteResult {
  size: number;
  tag: string;
  /** Hex sha256 of the bytes written, computed in flight. */
  sha256: string;
}

export interface ObjectStore {
  /** The root as the user named it (`s3://bucket/prefix` or a folder), for messages. */
  readonly root: string;
  /** Where `key` is, as the user would name it: for messages and records. */
  describe(key: string): string;
  /** The object's whole content; undefined when it does not exist. */
  read(key: string): Promise<Uint8Array | undefined>;
  /** `length` bytes from `offset` (fewer at the end of the object). */
  readRange(key: string, offset: number, length: number): Promise<Uint8Array>;
  stat(key: string): Promise<StoredObject | undefined>;
  /** Every object under `prefix` ('' for all), in key order. */
  list(prefix: string): AsyncIterable<StoredObject>;
  /**
   * Writes `body` so that `key` shows either its old content or the whole new one, never a part:
   * a temp file renamed into place, or an upload (multipart for large bodies) that the store
   * completes only with every part checked against its checksum.
   */
  write(key: string, body: Body): Promise<WriteResult>;
  /** Removes the object (nothing when it does not exist). */
  delete(key: string): Promise<void>;
}

/**
 * Writes that succeed only on the state the writer last saw: what one-run-per-output needs when
 * machines share nothing but the store. Stores that ignore the conditions are refused by probing.
 */
export interface ConditionalWrites {
  /** Creates `key` unless it exists; undefined when it did. */
  createIfAbsent(key: string, body: Uint8Array): Promise<StoredObject | undefined>;
  /** Replaces `key` if its tag is still `tag`; undefined when it changed or is gone. */
  replaceIfMatch(key: string, body: Uint8Array, tag: string): Promise<StoredObject | undefined>;
}

/** Reads an async iterable of chunks into one buffer. */
export async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}
