import { constants as fsConstants, readFileSync, closeSync, openSync, realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { errorMessage, InputError } from '../core/errors.ts';
import { sha256Bytes } from '../core/hashing.ts';
import { MAX_INPUT_PIXELS, resolveImagePath } from '../image/decode.ts';
import type { ImageSource } from './image-source.ts';

const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW;

/**
 * Where a symlinked image (or image sub-folder) may lead besides the image folder: the folders
 * the worker serves (real paths), or anywhere for the embedded run, whose own command named the
 * data (a subset folder of links into a large image store is the usual way to carve a subset).
 */
export type LinkTargets = readonly string[] | 'anywhere';

/**
 * Reads image files, never one outside the image folder: each folder's real path is resolved once
 * per reader (not every image's), and the file itself is opened without following a symlink; a
 * symlinked file is then resolved in full and refused when it leads outside. A few syscalls per image.
 *
 * `read` awaits each syscall on libuv's pool; `readBlocking` makes them on the calling thread, for
 * the decode threads, which exist to wait on files and decoders (a pool round trip per syscall
 * cost more CPU than the read itself: ~150 µs against ~20 µs per image here).
 */
export class ImageFiles implements ImageSource {
  readonly kind = 'local';
  readonly concurrency = 1;
  private readonly folders = new Map<string, Promise<string>>();
  private readonly foldersNow = new Map<string, string>();

  /** `root`: the image folder's real path. */
  constructor(
    private readonly root: string,
    private readonly linkTargets: LinkTargets = [],
  ) {}

  get where(): string {
    return this.root;
  }

  /** Read as decoding reads them, with the same refusals, so a refused image hashes as null here too. */
  async currentHash(imageId: string): Promise<string | null> {
    try {
      return sha256Bytes(await this.read(imageId, () => {}));
    } catch {
      return null;
    }
  }

  /** The file's bytes; `file` (for error reports) is its path, resolved when it is a symlink. */
  async read(imageId: string, onResolved: (file: string) => void): Promise<Buffer> {
    const file = resolveImagePath(this.root, imageId);
    onResolved(file);
    let handle: fs.FileHandle;
    try {
      let folder = this.folders.get(path.dirname(file));
      if (!folder)
        this.folders.set(
          path.dirname(file),
          (folder = fs.realpath(path.dirname(file)).then((real) => this.inside(real))),
        );
      handle = await fs.open(path.join(await folder, path.basename(file)), OPEN_FLAGS);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
        const real = this.inside(await fs.realpath(file), 'file');
        onResolved(real);
        return fs.readFile(real);
      }
      throw nameAsListed(error, file);
    }
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  /** `read` on this thread, blocking it. */
  readBlocking(imageId: string, onResolved: (file: string) => void): Buffer {
    const file = resolveImagePath(this.root, imageId);
    onResolved(file);
    let fd: number;
    try {
      let folder = this.foldersNow.get(path.dirname(file));
      if (folder === undefined)
        this.foldersNow.set(path.dirname(file), (folder = this.inside(realpathSync.native(path.dirname(file)))));
      fd = openSync(path.join(folder, path.basename(file)), OPEN_FLAGS);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
        const real = this.inside(realpathSync.native(file), 'file');
        onResolved(real);
        return readFileSync(real);
      }
      throw nameAsListed(error, file);
    }
    try {
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * `real` when it lies inside the image folder (a folder may be the image folder itself) or where
   * links may lead; an InputError otherwise.
   */
  private inside(real: string, kind: 'folder' | 'file' = 'folder'): string {
    if ((kind === 'folder' && real === this.root) || real.startsWith(this.root + path.sep)) return real;
    if (this.linkTargets === 'anywhere') return real;
    if (this.linkTargets.some((target) => real === target || real.startsWith(target + path.sep))) return real;
    throw new InputError(`image resolves outside the image folder and the folders this worker may use (${real})`);
  }
}

/** A missing or unreadable file named as the CSV names it, not by its resolved folder. */
function nameAsListed(error: unknown, file: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR')
    Object.assign(error as object, { path: file, code: code === 'ENOTDIR' ? 'ENOENT' : code });
  return error;
}

/**
 * A reason for errors.csv that says what is wrong with the file. libvips' own message can be
 * vague ("Unknown error" under load), so a failed decode is classified from the file itself.
 */
export async function describeImageError(error: unknown, file: string | undefined, bytes?: Buffer): Promise<string> {
  const code = (error as NodeJS.ErrnoException).code;
  const missing = (error as NodeJS.ErrnoException).path;
  if (code === 'ENOENT') return `image file ${missing} does not exist`;
  if (code === 'EACCES') return `image file ${missing} is not readable (permission denied)`;
  if (code === 'EISDIR') return `image ${file} is a folder, not a file`;
  const message = errorMessage(error);
  const input = bytes ?? file;
  if (input === undefined || error instanceof InputError) return message; // ImageInputError included: it says what is wrong
  const size = bytes
    ? bytes.byteLength
    : await fs.stat(file!).then(
        (s) => s.size,
        () => undefined,
      );
  if (size === 0) return 'image file is empty (0 bytes)';
  const header = await sharp(input, { limitInputPixels: false })
    .metadata()
    .catch(() => undefined);
  if (!header?.format)
    return `not an image in a format sharp decodes (JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG): ${message}`;
  if ((header.width ?? 0) * (header.height ?? 0) > MAX_INPUT_PIXELS) {
    return `image of ${header.width}×${header.height} has more than ${MAX_INPUT_PIXELS.toLocaleString('en-US')} pixels, refused before decoding`;
  }
  return `${header.format} image is truncated or corrupt (decoder: ${message})`;
}
