import type { FileHandle } from 'node:fs/promises';

/** `length` bytes of `handle` from `offset`, however many reads that takes; names `file` if it ends first. */
export async function readAt(
  handle: FileHandle,
  offset: number,
  length: number,
  file: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const buffer = new Uint8Array(length);
  for (let done = 0; done < length;) {
    const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
    if (bytesRead === 0) throw new Error(`${file} ended at byte ${offset + done}, before ${offset + length}`);
    done += bytesRead;
  }
  return buffer;
}
