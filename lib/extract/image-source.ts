import fs from 'node:fs/promises';
import { InputError } from '../core/errors.ts';
import { isUri } from '../core/uri.ts';
import type { Stores } from '../storage/open-store.ts';
import { parseLocation } from '../storage/location.ts';
import { ImageFiles, type LinkTargets } from './image-files.ts';
import { S3Images } from './s3-images.ts';

/** What an image's bytes were when they were hashed: the sha256, and the store's tag of that version. */
export interface HashedImage {
  sha256: string | null;
  tag?: string;
}

/**
 * Where a run's images are: a local folder (ImageFiles) or an S3 prefix (S3Images). Decoding reads
 * them its own way (decode threads from files, a read-ahead of objects); the checks that ask whether
 * an image is still what was hashed go through here.
 */
export interface ImageSource {
  readonly kind: 'local' | 's3';
  /** The image folder or prefix, as messages name it. */
  readonly where: string;
  /** Checks at once for one source: files one by one (the disk is the limit), objects many (latency is). */
  readonly concurrency: number;
  /**
   * The sha256 of the bytes `imageId` names now, or null when it cannot be read. `recorded`: what
   * was hashed before; an object whose tag is still the recorded one is not downloaded again (a
   * file always is: `cp -p` and `rsync -t` defeat size and mtime).
   */
  currentHash(imageId: string, recorded?: HashedImage): Promise<string | null>;
}

/**
 * The run's image source. A local folder is resolved to its real path (decode threads check every
 * file against it); a missing one is an input error naming it.
 */
export async function openImageSource(images: string, linkTargets: LinkTargets, stores: Stores): Promise<ImageSource> {
  if (isUri(images)) {
    const location = parseLocation(images);
    if (location.kind === 's3') return new S3Images(stores.openS3(location));
  }
  const root = await fs.realpath(images).catch(() => {
    throw new InputError(`image folder ${images} does not exist`);
  });
  return new ImageFiles(root, linkTargets);
}

/**
 * One image's bytes, for showing it (tessera serve's matches, the report's thumbnails): from the
 * folder with its confinement, or from the store. A missing or refused image is an InputError.
 */
export async function readImage(source: ImageSource, imageId: string): Promise<Uint8Array> {
  if (source instanceof S3Images) {
    const fetched = await source.fetch(imageId);
    if ('failure' in fetched) throw new InputError(fetched.failure);
    return fetched.bytes;
  }
  if (source instanceof ImageFiles) return source.read(imageId, () => {});
  throw new TypeError(`no reader for images of kind ${source.kind}`);
}
