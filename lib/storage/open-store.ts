import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sha256Bytes } from '../core/hashing.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import { InputError } from '../core/errors.ts';
import { LocalStore } from './local-store.ts';
import { formatLocation, parseLocation, type Location } from './location.ts';
import type { ConditionalWrites } from './object-store.ts';
import { s3ClientFromEnvironment } from './s3-client.ts';
import { describeS3Error } from './s3-errors.ts';
import { S3Store } from './s3-store.ts';

/** An object copied to local disk: where, and the sha256 and ETag of the version copied. */
export interface LocalObject {
  file: string;
  sha256: string;
  tag: string;
}

/**
 * The store of a location: one S3 client per process serves every S3 location it opens. Objects
 * that must be files (a model, which onnxruntime opens by path) are copied into a temp folder of
 * its own, removed by close().
 */
export class Stores {
  private client: S3Client | undefined;
  private readonly copies = new Map<string, Promise<LocalObject>>();
  private copiesFolder: string | undefined;

  constructor(private readonly makeClient: () => S3Client = s3ClientFromEnvironment) {}

  open(location: Location): LocalStore | S3Store {
    if (location.kind === 'local') return new LocalStore(location.path);
    return this.openS3(location);
  }

  openS3(location: Extract<Location, { kind: 's3' }>): S3Store {
    this.client ??= this.makeClient();
    return new S3Store(this.client, location.bucket, location.key);
  }

  /**
   * `uri` (an s3:// object) as a local file, downloaded once per version: each call asks the
   * store for the object's ETag (a HEAD) and downloads again only when it changed. A missing
   * object is an input error naming it.
   */
  async localFile(uri: string, what = 'object'): Promise<LocalObject> {
    const location = parseLocation(uri);
    if (location.kind !== 's3') throw new InputError(`${uri} is not an s3:// URI`);
    const store = this.openS3(location);
    const head = await store.stat('');
    if (!head) throw new InputError(`${what} ${uri} does not exist`);
    const key = `${uri}\0${head.tag}`;
    let copy = this.copies.get(key);
    if (!copy) {
      copy = this.download(uri, store, what);
      this.copies.set(key, copy);
      copy.catch(() => this.copies.delete(key));
    }
    return copy;
  }

  private async download(uri: string, store: ReturnType<Stores['openS3']>, what: string): Promise<LocalObject> {
    const read = await store.readTagged('');
    if (!read) throw new InputError(`${what} ${uri} does not exist`);
    const sha256 = sha256Bytes(read.bytes);
    this.copiesFolder ??= fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-objects-'));
    const file = path.join(this.copiesFolder, `${sha256}${path.posix.extname(uri)}`);
    fs.writeFileSync(file, read.bytes);
    return { file, sha256, tag: read.tag };
  }

  close(): void {
    this.client?.destroy();
    this.client = undefined;
    if (this.copiesFolder) fs.rmSync(this.copiesFolder, { recursive: true, force: true });
    this.copiesFolder = undefined;
    this.copies.clear();
  }
}

/** `work` with the caller's stores, or with stores of its own, closed after (a one-off call). */
export async function withStores<T>(stores: Stores | undefined, work: (stores: Stores) => Promise<T>): Promise<T> {
  if (stores) return work(stores);
  const own = new Stores();
  try {
    return await work(own);
  } finally {
    own.close();
  }
}

/**
 * Whether the store really honours conditional writes: some servers accept `If-None-Match: *` and
 * ignore it, and the output lease would then race silently. A second create of one key must fail.
 */
export async function probeConditionalWrites(
  store: ConditionalWrites & { delete(key: string): Promise<void> },
  location: Location,
): Promise<void> {
  const key = `.tessera-probe-${randomBytes(8).toString('hex')}`;
  const uri = formatLocation(location);
  const refuse = (why: string) =>
    new InputError(
      `${uri}: the store ${why}, so it cannot hold one run per output prefix; ` +
        'use a store with conditional writes (AWS S3, MinIO, Ceph RGW, R2) for --out',
    );
  try {
    const first = await store.createIfAbsent(key, new Uint8Array([1]));
    if (!first) throw refuse('refused to create a new probe object conditionally');
    const second = await store.createIfAbsent(key, new Uint8Array([2]));
    if (second) throw refuse('accepted a second If-None-Match: * write of one object (it ignores conditional writes)');
  } catch (error) {
    if (error instanceof InputError) throw error;
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 501 || status === 400) throw refuse(`does not support conditional writes (HTTP ${status})`);
    throw new InputError(describeS3Error(uri, error), { cause: error });
  } finally {
    await store.delete(key).catch(() => {});
  }
}
