import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Body, ConditionalWrites, ObjectStore, StoredObject, WriteResult } from './object-store.ts';
import {
  describeS3Error,
  isPermanentS3Error,
  isTransientS3Error,
  s3InputError,
  statusOf,
  StoreUnavailableError,
} from './s3-errors.ts';

/** Parts of a multipart upload: S3's minimum is 5 MiB; 8 MiB keeps 10,000 parts ≥ 78 GiB. */
const PART_SIZE = 8 * 1024 * 1024;
/** Tries of a GET whose body failed after its answer began. */
const BODY_ATTEMPTS = 5;
/** Parts in flight per upload. */
const UPLOAD_QUEUE = 4;

const base64Sha256 = (body: Uint8Array) => createHash('sha256').update(body).digest('base64');

/** A prefix of an S3 bucket (or an S3-compatible store) as an object store. */
export class S3Store implements ObjectStore, ConditionalWrites {
  readonly root: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {
    this.root = prefix === '' ? `s3://${bucket}` : `s3://${bucket}/${prefix}`;
  }

  describe(key: string): string {
    return key === '' ? this.root : `${this.root}/${key}`;
  }

  private keyOf(key: string): string {
    return this.prefix === '' ? key : key === '' ? this.prefix : `${this.prefix}/${key}`;
  }

  /** Runs a request; a failure a retry cannot fix becomes an input error naming the object. */
  private async send<T>(key: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (isPermanentS3Error(error)) throw s3InputError(this.describe(key), error, await this.endpoint());
      if (isTransientS3Error(error))
        throw new StoreUnavailableError(describeS3Error(this.describe(key), error, await this.endpoint()), {
          cause: error,
        });
      throw error;
    }
  }

  /** The endpoint this client sends to, for messages: the one it was made with, not the process's. */
  private async endpoint(): Promise<string> {
    const endpoint = await this.client.config.endpoint?.().catch(() => undefined);
    if (!endpoint) return 'AWS S3';
    const port = endpoint.port === undefined ? '' : `:${endpoint.port}`;
    return `${endpoint.protocol}//${endpoint.hostname}${port}${endpoint.path === '/' ? '' : endpoint.path}`;
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    return (await this.readTagged(key))?.bytes;
  }

  /** The object's content with the ETag of that very version (what a later HEAD compares against). */
  async readTagged(key: string): Promise<{ bytes: Uint8Array; tag: string } | undefined> {
    try {
      return await this.getBytes(key);
    } catch (error) {
      if (statusOf(error) === 404 && (error as Error).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    if (length <= 0) return new Uint8Array(0);
    try {
      return (await this.getBytes(key, `bytes=${offset}-${offset + length - 1}`)).bytes;
    } catch (error) {
      if (statusOf(error) === 416) return new Uint8Array(0); // from past the end
      throw error;
    }
  }

  /**
   * GET with its body read whole. The SDK retries a request until its answer begins; a body cut
   * off or stalled afterwards (a reset connection, a silent socket) is retried here, from the start.
   */
  private async getBytes(key: string, range?: string): Promise<{ bytes: Uint8Array; tag: string }> {
    for (let attempt = 1; ; attempt++) {
      const answer = await this.send(key, () =>
        this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key), Range: range })),
      );
      try {
        return { bytes: await answer.Body!.transformToByteArray(), tag: answer.ETag ?? '' };
      } catch (error) {
        if (attempt >= BODY_ATTEMPTS)
          throw new StoreUnavailableError(`${this.describe(key)}: the object's body failed ${attempt} times`, {
            cause: error,
          });
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const head = await this.send(key, () =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) })),
      );
      return { key, size: head.ContentLength ?? 0, tag: head.ETag ?? '' };
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      await this.checkBucket(key); // a HEAD's 404 has no body: a missing bucket looks like a missing key
      return undefined;
    }
  }

  private bucketSeen = false;

  /** Throws NoSuchBucket (as an input error naming `key`) unless the bucket exists; asks once. */
  private async checkBucket(key: string): Promise<void> {
    if (this.bucketSeen) return;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      if (statusOf(error) === 404) {
        const missing = Object.assign(new Error(`no bucket ${this.bucket}`), { name: 'NoSuchBucket' });
        throw s3InputError(this.describe(key), missing, await this.endpoint());
      }
      throw error;
    }
    this.bucketSeen = true;
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const rootKey = this.prefix === '' ? '' : `${this.prefix}/`;
    let token: string | undefined;
    do {
      const page = await this.send(prefix, () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: rootKey + prefix, ContinuationToken: token }),
        ),
      );
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined || !item.Key.startsWith(rootKey)) continue;
        yield { key: item.Key.slice(rootKey.length), size: item.Size ?? 0, tag: item.ETag ?? '' };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * One checked PUT for a buffer; for a stream, an upload that goes multipart past one part, each
   * part with a SHA-256 checksum the store verifies. The object appears only when complete; a
   * failed upload is aborted (no parts left behind).
   */
  async write(key: string, body: Body): Promise<WriteResult> {
    const hash = createHash('sha256');
    if (body instanceof Uint8Array) {
      const { tag } = await this.put(key, body);
      return { size: body.byteLength, tag, sha256: hash.update(body).digest('hex') };
    }
    let size = 0;
    const hashed = Readable.from(
      (async function* () {
        for await (const chunk of body) {
          hash.update(chunk);
          size += chunk.byteLength;
          yield chunk;
        }
      })(),
    );
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.keyOf(key), Body: hashed, ChecksumAlgorithm: 'SHA256' },
      partSize: PART_SIZE,
      queueSize: UPLOAD_QUEUE,
      leavePartsOnError: false,
    });
    const done = await this.send(key, () => upload.done());
    return { size, tag: done.ETag ?? '', sha256: hash.digest('hex') };
  }

  async delete(key: string): Promise<void> {
    await this.send(key, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) })),
    );
  }

  createIfAbsent(key: string, body: Uint8Array): Promise<StoredObject | undefined> {
    return this.conditionalPut(key, body, { IfNoneMatch: '*' });
  }

  replaceIfMatch(key: string, body: Uint8Array, tag: string): Promise<StoredObject | undefined> {
    return this.conditionalPut(key, body, { IfMatch: tag });
  }

  /** One PUT with the body's SHA-256, which the store checks before it stores anything. */
  private async put(key: string, body: Uint8Array, condition = {}): Promise<StoredObject> {
    const put = await this.send(key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.keyOf(key),
          Body: body,
          ChecksumSHA256: base64Sha256(body),
          ...condition,
        }),
      ),
    );
    return { key, size: body.byteLength, tag: put.ETag ?? '' };
  }

  /** 412: the condition failed; 409: another conditional write to the key is in progress. */
  private async conditionalPut(
    key: string,
    body: Uint8Array,
    condition: { IfNoneMatch: string } | { IfMatch: string },
  ): Promise<StoredObject | undefined> {
    try {
      return await this.put(key, body, condition);
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 409 || (status === 404 && 'IfMatch' in condition)) return undefined;
      throw error;
    }
  }
}
