import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { RunConfig, Split } from '../core/run-config.ts';
import { jpegDecoderName } from '../image/jpeg-turbo.ts';
import { PIXEL_GRAPH } from '../inference/fused-model.ts';
import { OCCLUSION_SCHEME } from '../image/occlusion.ts';
import { PREPROCESSING } from '../image/model-input.ts';
import { sha256Bytes } from '../core/hashing.ts';
import type { ImageFiles } from './image-files.ts';
import { extractionKeyChanges, type ExtractionKey, type ShardLineage } from '../run-folder/records.ts';

/**
 * Lineage: what a shard's vectors are provably made from. A vector is a pure function of the
 * image's bytes and the extraction key below, so a shard written earlier is reused only when the
 * key and every image's ordinal, id, target and bytes (by sha256) are what they are now, and the
 * shard file is the one that was written (by sha256). Anything else is extracted again.
 */

/** The key of `split` for this worker process (its onnxruntime, sharp/libvips and libjpeg-turbo builds). */
export function extractionKey(config: RunConfig, split: Split, modelSha256: string): ExtractionKey {
  return {
    modelSha256,
    output: config.output,
    imgSize: config.imgSize,
    normalize: config.normalize,
    preprocessing: PREPROCESSING[config.normalize],
    occlusion: split === 'val' ? { scheme: OCCLUSION_SCHEME, seed: config.seed } : null,
    executionProvider: config.executionProvider,
    onnxruntime: ort.env.versions.node ?? ort.env.versions.common ?? 'unknown',
    sharp: sharp.versions.sharp,
    libvips: sharp.versions.vips,
    jpegDecoder: jpegDecoderName(),
    pixelGraph: PIXEL_GRAPH,
  };
}

/** One digest for a shard's whole lineage, for the manifest. */
export function lineageDigest(lineage: ShardLineage): string {
  return createHash('sha256').update(JSON.stringify(lineage)).digest('hex');
}

/** The bytes an image id names now, or null when it cannot be read (missing, a folder, outside the image folder, …). */
export async function currentImageHash(images: ImageFiles, imageId: string): Promise<string | null> {
  try {
    // Read as decoding reads them, with the same refusals, so a refused image hashes as null here too.
    return sha256Bytes(await images.read(imageId, () => {}));
  } catch {
    return null;
  }
}

/**
 * Why a shard recorded with `recorded` cannot stand for `planned` images under `key` now, or
 * undefined when it can. Reads every image of the shard: no size or mtime shortcut, which
 * `cp -p` and `rsync -t` defeat.
 */
export async function lineageMismatch(
  recorded: ShardLineage,
  key: ExtractionKey,
  planned: readonly { ordinal: number; imageId: string; target: number }[],
  images: ImageFiles,
): Promise<string | undefined> {
  const changed = extractionKeyChanges(recorded.key, key);
  if (changed.length > 0) return `extraction key changed (${changed.join(', ')})`;
  if (recorded.images.length !== planned.length)
    return `it holds ${recorded.images.length} images, the plan ${planned.length}`;
  for (let k = 0; k < planned.length; k++) {
    const [ordinal, imageId, target] = recorded.images[k]!;
    const now = planned[k]!;
    if (ordinal !== now.ordinal || imageId !== now.imageId || target !== now.target) {
      return `row ${now.ordinal} is now ${now.imageId} (class ${now.target}), was ${imageId} (class ${target}) at row ${ordinal}`;
    }
  }
  for (const [, imageId, , sha256] of recorded.images) {
    if ((await currentImageHash(images, imageId)) !== sha256) return `image ${imageId} changed since it was extracted`;
  }
  return undefined;
}
