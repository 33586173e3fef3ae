/** Messages between DecodeThreads (decode-threads.ts) and its threads (decode-thread.ts). */
import type { LinkTargets } from './image-files.ts';
import type { FetchedBatch } from './s3-images.ts';

/**
 * A batch to decode: every thread gets the same request and takes images from it one at a time
 * (`next`, shared: the next slot to take), so a slow file or a sharp fallback holds up one thread,
 * not a share of the batch. Image `slot` lands at `slot × 3 × size²` of `pixels` (shared), uint8 HWC.
 */
export interface DecodeRequest {
  id: number;
  /** The image folder's real path: no image is read from outside it, or from outside `linkTargets` through a link. */
  root: string;
  linkTargets: LinkTargets;
  size: number;
  /** Validation images get the seed's occlusion hole (occlusion.ts); null for training images. */
  occlusionSeed: number | null;
  imageIds: string[];
  /** The images' bytes already fetched (from object storage): the thread reads no file then. */
  fetched?: FetchedBatch;
  pixels: Uint8Array;
  next: Int32Array;
}

/** One image's outcome: the sha256 of the bytes read (null when none were), and why it failed if it did. */
export interface DecodedImage {
  slot: number;
  sha256: string | null;
  failure?: string;
}

export type DecodeReply =
  /** Sent once, when the thread has loaded: the decoder that will make a plain JPEG's pixels. */
  | { kind: 'ready'; decoder: string }
  /** The images this thread took from request `id`. */
  | { kind: 'decoded'; id: number; images: DecodedImage[] }
  /** Something other than an image went wrong (a bug, not a bad file): the request fails. */
  | { kind: 'failed'; id: number; message: string };
