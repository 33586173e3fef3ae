import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { RunConfig, Split } from '../core/run-config.ts';
import { jpegDecoderName } from '../image/jpeg-turbo.ts';
import { PIXEL_GRAPH } from '../inference/fused-model.ts';
import { OCCLUSION_SCHEME } from '../image/occlusion.ts';
import { PREPROCESSING } from '../image/model-input.ts';
import { mapLimited } from '../core/map-limited.ts';
import type { ImageSource } from './image-source.ts';
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

/**
 * The first image (as [imageId, sha256, tag?] recorded) whose bytes are not the recorded ones now,
 * or undefined when all still are. Checked `images.concurrency` at a time.
 */
export async function firstChangedImage(
  images: ImageSource,
  recorded: Iterable<readonly [string, string | null, string | undefined]>,
): Promise<string | undefined> {
  let changed: string | undefined;
  await mapLimited([...recorded], images.concurrency, async ([imageId, sha256, tag]) => {
    if (changed !== undefined) return;
    if ((await images.currentHash(imageId, { sha256, tag })) !== sha256) changed ??= imageId;
  });
  return changed;
}

/**
 * Why a shard recorded with `recorded` cannot stand for `planned` images under `key` now, or
 * undefined when it can. Reads every image file of the shard: no size or mtime shortcut, which
 * `cp -p` and `rsync -t` defeat; an object whose ETag is the one recorded when it was hashed is
 * not downloaded again (`tags`: the shard's recorded ETags by image id).
 */
export async function lineageMismatch(
  recorded: ShardLineage,
  key: ExtractionKey,
  planned: readonly { ordinal: number; imageId: string; target: number }[],
  images: ImageSource,
  tags: Readonly<Record<string, string>> = {},
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
  const changedImage = await firstChangedImage(
    images,
    recorded.images.map(([, imageId, , sha256]) => [imageId, sha256, tags[imageId]] as const),
  );
  return changedImage === undefined ? undefined : `image ${changedImage} changed since it was extracted`;
}
