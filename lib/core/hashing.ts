import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * sha256 of a file's bytes, streamed (a model or a vectors file can be gigabytes), in 1 MB reads:
 * each read is a trip through libuv's pool. EfficientNet-B0's 21 MB here: 28 → 11 ms (stream's
 * default 64 KB reads against 1 MB; medians of 3), hashed by every shard and every verification.
 */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function sha256Bytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
