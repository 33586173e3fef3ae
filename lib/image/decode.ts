import path from 'node:path';
import sharp from 'sharp';
import { InputError } from '../core/errors.ts';
import { jpegTurbo } from './jpeg-turbo.ts';
import { rgbToChwFloats, type Normalize } from './model-input.ts';
import { applyOcclusion, type Occlusion } from './occlusion.ts';

/** Refuse images over this many pixels before decoding them (decompression bombs). */
export const MAX_INPUT_PIXELS = 100_000_000;

/** An image that is refused or cannot be decoded: one row of errors.csv, not the run's end. */
export class ImageInputError extends InputError {
  override name = 'ImageInputError';
}

/**
 * `<imagesDir>/<imageId>`, refusing ids that would leave the image folder (`../`, absolute paths).
 * Symlinks are checked by the caller after resolving them (ImageFiles in extract/image-files.ts
 * compares the real path with the image folder's).
 */
export function resolveImagePath(imagesDir: string, imageId: string): string {
  if (imageId === '' || imageId.includes('\0'))
    throw new ImageInputError(`invalid image id ${JSON.stringify(imageId)}`);
  if (path.isAbsolute(imageId)) throw new ImageInputError(`image id ${JSON.stringify(imageId)} is an absolute path`);
  const root = path.resolve(imagesDir);
  const resolved = path.resolve(root, imageId);
  if (!resolved.startsWith(root + path.sep)) {
    throw new ImageInputError(`image id ${JSON.stringify(imageId)} points outside the image folder`);
  }
  return resolved;
}

/**
 * Decodes one image (a file, or its bytes already read) to RGB (grayscale, alpha and CMYK become
 * sRGB RGB; alpha is dropped as PIL's convert('RGB') does), resized to size × size when it is not
 * already (sharp leaves an image of that size untouched), paints the optional occlusion hole, and
 * writes the pixels as uint8 HWC into `target` at `offset`. A plain JPEG already at that size is
 * decoded by libjpeg-turbo straight into `target` (jpeg-turbo.ts: the same pixels, a fifth of the
 * CPU), on libuv's pool or, `blocking`, on this thread (a decode thread's); anything else takes one
 * call into libvips: no separate metadata read.
 */
export async function decodeRgbInto(
  file: string | Buffer,
  size: number,
  target: Uint8Array,
  offset: number,
  occlusion?: Occlusion,
  { blocking = false }: { blocking?: boolean } = {},
): Promise<void> {
  const bytes = typeof file === 'string' ? undefined : file;
  const turbo = bytes && jpegTurbo();
  if (
    bytes &&
    turbo &&
    (blocking
      ? turbo.decodeIntoBlocking(bytes, size, target, offset)
      : await turbo.decodeInto(bytes, size, target, offset))
  ) {
    if (occlusion) applyOcclusion(target.subarray(offset, offset + 3 * size * size), size, occlusion);
    return;
  }
  const data = await decodeRgbWithSharp(file, size);
  if (occlusion) applyOcclusion(data, size, occlusion);
  target.set(data, offset);
}

/** The image as RGB uint8 HWC at size × size, decoded by libvips whatever its format. */
export async function decodeRgbWithSharp(file: string | Buffer, size: number): Promise<Buffer> {
  const { data, info } = await sharp(file, {
    failOn: 'error',
    limitInputPixels: MAX_INPUT_PIXELS,
    sequentialRead: true,
  })
    .resize(size, size, { fit: 'fill' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== size || info.height !== size) {
    throw new ImageInputError(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
  }
  return data;
}

/** One image decoded and preprocessed into `target` (float32 CHW) at `offset`: both steps above. */
export async function decodeImageInto(
  file: string | Buffer,
  size: number,
  normalize: Normalize,
  target: Float32Array,
  offset: number,
  occlusion?: Occlusion,
): Promise<void> {
  const rgb = new Uint8Array(3 * size * size);
  await decodeRgbInto(file, size, rgb, 0, occlusion);
  rgbToChwFloats(rgb, 1, size, normalize, target.subarray(offset, offset + rgb.length));
}
