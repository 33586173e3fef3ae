import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { InputError } from '../core/errors.ts';
import { LocalStore } from './local-store.ts';
import { formatLocation, type Location } from './location.ts';
import type { ConditionalWrites } from './object-store.ts';
import { s3ClientFromEnvironment } from './s3-client.ts';
import { describeS3Error } from './s3-errors.ts';
import { S3Store } from './s3-store.ts';

/** The store of a location: one S3 client per process serves every S3 location it opens. */
export class Stores {
  private client: S3Client | undefined;

  constructor(private readonly makeClient: () => S3Client = s3ClientFromEnvironment) {}

  open(location: Location): LocalStore | S3Store {
    if (location.kind === 'local') return new LocalStore(location.path);
    return this.openS3(location);
  }

  openS3(location: Extract<Location, { kind: 's3' }>): S3Store {
    this.client ??= this.makeClient();
    return new S3Store(this.client, location.bucket, location.key);
  }

  close(): void {
    this.client?.destroy();
    this.client = undefined;
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
