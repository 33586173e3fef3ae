import path from 'node:path';
import sharp from 'sharp';
import { InputError } from '../core/errors.ts';
import { applyOcclusion, type Occlusion } from './occlusion.ts';

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export type Normalize = 'none' | 'imagenet';

/** Refuse images over this many pixels before decoding them (decompression bombs). */
export const MAX_INPUT_PIXELS = 100_000_000;

/** An image that is refused or cannot be decoded: one row of errors.csv, not the run's end. */
export class ImageInputError extends InputError {
  override name = 'ImageInputError';
}

/**
 * `<imagesDir>/<imageId>`, refusing ids that would leave the image folder (`../`, absolute paths).
 * Symlinks are checked by the caller after resolving them (extract-shard.ts decodeBatch compares
 * the realpath with the image folder's).
 */
export function resolveImagePath(imagesDir: string, imageId: string): string {
  if (imageId === '' || imageId.includes('\0')) throw new ImageInputError(`invalid image id ${JSON.stringify(imageId)}`);
  if (path.isAbsolute(imageId)) throw new ImageInputError(`image id ${JSON.stringify(imageId)} is an absolute path`);
  const root = path.resolve(imagesDir);
  const resolved = path.resolve(root, imageId);
  if (!resolved.startsWith(root + path.sep)) {
    throw new ImageInputError(`image id ${JSON.stringify(imageId)} points outside the image folder`);
  }
  return resolved;
}

/**
 * Decodes one image (a file, or its bytes already read) to RGB (grayscale, alpha and CMYK become sRGB RGB; alpha is dropped as
 * PIL's convert('RGB') does), resizes it to size × size when it is not already, paints the
 * optional occlusion hole, and writes it as float32 CHW into `target` at `offset` (x / 255, then
 * optional ImageNet normalisation).
 */
export async function decodeImageInto(
  file: string | Buffer,
  size: number,
  normalize: Normalize,
  target: Float32Array,
  offset: number,
  occlusion?: Occlusion,
): Promise<void> {
  let pipeline = sharp(file, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS, sequentialRead: true });
  const meta = await pipeline.metadata();
  if (meta.width !== size || meta.height !== size) {
    pipeline = pipeline.resize(size, size, { fit: 'fill' });
  }
  const { data, info } = await pipeline
    .toColourspace('srgb')
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== size || info.height !== size) {
    throw new ImageInputError(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
  }
  if (occlusion) applyOcclusion(data, size, occlusion);
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    const base = offset + c * plane;
    // Divide (not multiply by 1/255) so values match numpy's `x.astype(float32) / 255` bit for bit.
    for (let p = 0; p < plane; p++) target[base + p] = data[p * 3 + c]! / 255;
    if (normalize === 'imagenet') {
      const mean = IMAGENET_MEAN[c]!;
      const std = IMAGENET_STD[c]!;
      for (let p = base; p < base + plane; p++) target[p] = (target[p]! - mean) / std;
    }
  }
}
