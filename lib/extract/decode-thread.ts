/**
 * A decode thread: reads, hashes and decodes the images it takes from each request, blocking on
 * each file and each libjpeg-turbo call. A pool of these (decode-threads.ts) replaces a round trip
 * to libuv's pool per syscall and per decode, and keeps the file bytes out of the worker's main
 * heap, whose garbage collection every allocation there makes dearer.
 */
import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../core/errors.ts';
import { sha256Bytes } from '../core/hashing.ts';
import { decodeRgbInto } from '../image/decode.ts';
import { jpegDecoderName } from '../image/jpeg-turbo.ts';
import { occlusionFor } from '../image/occlusion.ts';
import type { DecodedImage, DecodeReply, DecodeRequest } from './decode-protocol.ts';
import { describeImageError, ImageFiles } from './image-files.ts';

const port = parentPort;
if (!port) throw new Error('decode-thread must run in a worker thread');

function send(reply: DecodeReply): void {
  port!.postMessage(reply);
}

/**
 * Images sharp decodes at once per thread. A plain JPEG blocks the thread while libjpeg-turbo
 * decodes it; anything else (another size or format: photos as cameras write them) is a libvips
 * call on libuv's pool that this thread only waits for, so two lanes keep two of those in flight.
 */
const LANES = 2;

async function decodeImages({
  root,
  linkTargets,
  size,
  occlusionSeed,
  imageIds,
  fetched,
  pixels,
  next,
}: DecodeRequest): Promise<DecodedImage[]> {
  // Folder checks are cached per request: a folder swapped for a symlink is seen by the next batch.
  const files = new ImageFiles(root, linkTargets);
  const perImage = 3 * size * size;
  const decoded: DecodedImage[] = [];
  const lane = async () => {
    for (let slot = Atomics.add(next, 0, 1); slot < imageIds.length; slot = Atomics.add(next, 0, 1)) {
      const imageId = imageIds[slot]!;
      let file: string | undefined;
      let sha256: string | null = null;
      let bytes: Buffer | undefined;
      const failure = fetched?.failures[slot];
      if (failure) {
        decoded.push({ slot, sha256, failure });
        continue;
      }
      try {
        // Read once: the bytes hashed for the shard's lineage are the very bytes decoded.
        bytes = fetched
          ? Buffer.from(fetched.bytes.subarray(fetched.offsets[slot], fetched.offsets[slot + 1]))
          : files.readBlocking(imageId, (resolved) => (file = resolved));
        sha256 = sha256Bytes(bytes);
        const hole = occlusionSeed === null ? undefined : occlusionFor(occlusionSeed, imageId, size);
        await decodeRgbInto(bytes, size, pixels, slot * perImage, hole, { blocking: true });
        decoded.push({ slot, sha256 });
      } catch (error) {
        decoded.push({ slot, sha256, failure: await describeImageError(error, file, fetched && bytes) });
      }
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  return decoded;
}

send({ kind: 'ready', decoder: jpegDecoderName() });
// One request at a time, in order: each waits on its files and decoders, not on another request.
let queue = Promise.resolve();
port.on('message', (request: DecodeRequest) => {
  queue = queue.then(async () => {
    try {
      send({ kind: 'decoded', id: request.id, images: await decodeImages(request) });
    } catch (error) {
      send({ kind: 'failed', id: request.id, message: errorMessage(error) });
    }
  });
});
