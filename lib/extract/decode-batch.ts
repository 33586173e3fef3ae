import type { RunConfig, Split } from '../core/run-config.ts';
import type { ImageLineage, RejectedRow, ShardImage } from '../run-folder/records.ts';
import type { DecodeThreads } from './decode-threads.ts';
import type { LinkTargets } from './image-files.ts';
import { packFetched, type FetchedImage } from './s3-images.ts';

export interface DecodedBatch {
  images: ShardImage[];
  /** The decoded images' pixels, uint8 HWC, back to back in `images` order. */
  pixels: Uint8Array;
  errors: RejectedRow[];
  /** Every image of the batch, in plan order, with the sha256 of the bytes decoded (or null). */
  lineage: ImageLineage[];
  /** Images fetched from object storage: the ETag of the version decoded, by image id. */
  tags: [string, string][];
}

/**
 * Decodes a batch on the decode threads into its slots of `pixels` (shared memory reused batch
 * after batch: memory a process touches for the first time is slow here), then closes the gaps
 * left by images that failed. `root` is the image folder's real path; `fetched`, when given, the
 * images' bytes already fetched from object storage (the threads then read no file).
 */
export async function decodeBatch(
  images: ShardImage[],
  config: RunConfig,
  split: Split,
  {
    decoders,
    root,
    linkTargets,
    place,
    fetched,
  }: { decoders: DecodeThreads; root: string; linkTargets: LinkTargets; place?: number; fetched?: FetchedImage[] },
  pixels: Uint8Array,
): Promise<DecodedBatch> {
  const perImage = 3 * config.imgSize * config.imgSize;
  const outcomes = await decoders.decode(
    {
      root,
      linkTargets,
      size: config.imgSize,
      occlusionSeed: split === 'val' ? config.seed : null,
      imageIds: images.map((image) => image.imageId),
      ...(fetched ? { fetched: packFetched(fetched) } : {}),
    },
    pixels,
    place,
  );
  const lineage = images.map((image, slot): ImageLineage => [
    image.ordinal,
    image.imageId,
    image.target,
    outcomes[slot]!.sha256,
  ]);
  const decoded: ShardImage[] = [];
  const errors: RejectedRow[] = [];
  images.forEach((image, slot) => {
    const failure = outcomes[slot]!.failure;
    if (failure === undefined) {
      if (decoded.length !== slot) pixels.copyWithin(decoded.length * perImage, slot * perImage, (slot + 1) * perImage);
      decoded.push(image);
    } else {
      errors.push({
        imageId: image.imageId,
        classValue: String(image.target),
        split,
        stage: 'extract',
        reason: failure,
        position: image.ordinal,
      });
    }
  });
  const tags: [string, string][] = [];
  fetched?.forEach((image, slot) => {
    if ('tag' in image && image.tag !== '') tags.push([images[slot]!.imageId, image.tag]);
  });
  return { images: decoded, pixels, errors, lineage, tags };
}
