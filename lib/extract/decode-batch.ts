import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { RunConfig, Split } from '../core/run-config.ts';
import { errorMessage, InputError } from '../core/errors.ts';
import { sha256Bytes } from '../core/hashing.ts';
import { decodeRgbInto, MAX_INPUT_PIXELS, resolveImagePath } from '../image/decode.ts';
import { occlusionFor } from '../image/occlusion.ts';
import type { ImageLineage, RejectedRow, ShardImage } from '../run-folder/records.ts';

export interface DecodedBatch {
  images: ShardImage[];
  /** The decoded images' pixels, uint8 HWC, back to back in `images` order. */
  pixels: Uint8Array;
  errors: RejectedRow[];
  /** Every image of the batch, in plan order, with the sha256 of the bytes decoded (or null). */
  lineage: ImageLineage[];
}

/**
 * Reads image files, never one outside the image folder: each folder's real path is resolved once
 * (not every image's), and the file itself is opened without following a symlink; a symlinked
 * file is then resolved in full and refused when it leads outside. A few syscalls per image.
 */
export class ImageFiles {
  private readonly folders = new Map<string, Promise<string>>();

  /** `root`: the image folder's real path. */
  constructor(private readonly root: string) {}

  /** The file's bytes; `file` (for error reports) is its path, resolved when it is a symlink. */
  async read(imageId: string, onResolved: (file: string) => void): Promise<Buffer> {
    const file = resolveImagePath(this.root, imageId);
    onResolved(file);
    let handle: fs.FileHandle;
    try {
      const folder = await this.realFolder(path.dirname(file));
      handle = await fs.open(path.join(folder, path.basename(file)), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') return this.readSymlinked(file, onResolved);
      // Name the file as the CSV does, not by its resolved folder.
      if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') Object.assign(error as object, { path: file, code: code === 'ENOTDIR' ? 'ENOENT' : code });
      throw error;
    }
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  private realFolder(folder: string): Promise<string> {
    let real = this.folders.get(folder);
    if (!real) {
      real = fs.realpath(folder).then((resolved) => {
        if (resolved !== this.root && !resolved.startsWith(this.root + path.sep)) throw new InputError(`image resolves outside the image folder (${resolved})`);
        return resolved;
      });
      this.folders.set(folder, real);
    }
    return real;
  }

  private async readSymlinked(file: string, onResolved: (file: string) => void): Promise<Buffer> {
    const real = await fs.realpath(file);
    onResolved(real);
    if (!real.startsWith(this.root + path.sep)) throw new InputError(`image resolves outside the image folder (${real})`);
    return fs.readFile(real);
  }
}

/**
 * Decodes a batch into its slots of `pixels` (a buffer reused batch after batch: memory a process
 * touches for the first time is slow here), then closes the gaps left by images that failed.
 */
export async function decodeBatch(images: ShardImage[], config: RunConfig, split: Split, files: ImageFiles, pixels: Uint8Array): Promise<DecodedBatch> {
  const perImage = 3 * config.imgSize * config.imgSize;
  const slots = images.map((image, slot) => ({ image, slot }));
  const hashes: (string | null)[] = images.map(() => null);
  const failures = await mapLimited(slots, Math.max(2, os.availableParallelism()), async ({ image, slot }) => {
    let file: string | undefined;
    try {
      // Read once: the bytes hashed for the shard's lineage are the very bytes decoded.
      const bytes = await files.read(image.imageId, (resolved) => (file = resolved));
      hashes[slot] = sha256Bytes(bytes);
      const hole = split === 'val' ? occlusionFor(config.seed, image.imageId, config.imgSize) : undefined;
      await decodeRgbInto(bytes, config.imgSize, pixels, slot * perImage, hole);
      return undefined;
    } catch (error) {
      return describeImageError(error, file);
    }
  });
  const lineage = images.map((image, slot): ImageLineage => [image.ordinal, image.imageId, image.target, hashes[slot]!]);
  const decoded: ShardImage[] = [];
  const errors: RejectedRow[] = [];
  images.forEach((image, slot) => {
    const failure = failures[slot];
    if (failure === undefined) {
      if (decoded.length !== slot) pixels.copyWithin(decoded.length * perImage, slot * perImage, (slot + 1) * perImage);
      decoded.push(image);
    } else {
      errors.push({ imageId: image.imageId, classValue: String(image.target), split, stage: 'extract', reason: failure, position: image.ordinal });
    }
  });
  return { images: decoded, pixels, errors, lineage };
}

/**
 * A reason for errors.csv that says what is wrong with the file. libvips' own message can be
 * vague ("Unknown error" under load), so a failed decode is classified from the file itself.
 */
async function describeImageError(error: unknown, file: string | undefined): Promise<string> {
  const code = (error as NodeJS.ErrnoException).code;
  const missing = (error as NodeJS.ErrnoException).path;
  if (code === 'ENOENT') return `image file ${missing} does not exist`;
  if (code === 'EACCES') return `image file ${missing} is not readable (permission denied)`;
  if (code === 'EISDIR') return `image ${file} is a folder, not a file`;
  const message = errorMessage(error);
  if (!file || error instanceof InputError) return message; // ImageInputError included: it says what is wrong
  if ((await fs.stat(file).then((s) => s.size, () => undefined)) === 0) return 'image file is empty (0 bytes)';
  const header = await sharp(file, { limitInputPixels: false }).metadata().catch(() => undefined);
  if (!header?.format) return `not an image in a format sharp decodes (JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG): ${message}`;
  if ((header.width ?? 0) * (header.height ?? 0) > MAX_INPUT_PIXELS) {
    return `image of ${header.width}×${header.height} has more than ${MAX_INPUT_PIXELS.toLocaleString('en-US')} pixels, refused before decoding`;
  }
  return `${header.format} image is truncated or corrupt (decoder: ${message})`;
}

/** `fn` over `items`, at most `limit` at a time; results in `items` order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const k = next++;
      results[k] = await fn(items[k]!);
    }
  });
  await Promise.all(runners);
  return results;
}
