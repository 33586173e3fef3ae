import { createHash } from 'node:crypto';

export interface Occlusion {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Names how holes are drawn below; part of a validation shard's extraction key (lib/lineage.ts). */
export const OCCLUSION_SCHEME = 'sha256-seed-id-v1';

/** The notebook's validation occlusion: one hole, filled with pure red. */
export const OCCLUSION_FILL = [255, 0, 0] as const;

/**
 * The hole for one validation image, as the notebook's CoarseDropout draws it (one hole, height
 * and width each in [size/4, size/2], anywhere inside the image), but derived from the seed and
 * the image id instead of a global random stream, so every re-run and every retry of a shard
 * punches the same hole.
 */
export function occlusionFor(seed: number, imageId: string, size: number): Occlusion {
  const digest = createHash('sha256').update(`tessera-occlusion\0${seed}\0${imageId}`).digest();
  const draw = (k: number, min: number, max: number) => min + (digest.readUInt32LE(k * 4) % (max - min + 1));
  const low = Math.floor(size / 4);
  const high = Math.floor(size / 2);
  const height = draw(0, low, high);
  const width = draw(1, low, high);
  return { height, width, top: draw(2, 0, size - height), left: draw(3, 0, size - width) };
}

/** Paints the hole into interleaved RGB uint8 pixels of a size × size image. */
export function applyOcclusion(rgb: Uint8Array, size: number, hole: Occlusion): void {
  for (let y = hole.top; y < hole.top + hole.height; y++) {
    for (let x = hole.left; x < hole.left + hole.width; x++) {
      const o = (y * size + x) * 3;
      rgb[o] = OCCLUSION_FILL[0];
      rgb[o + 1] = OCCLUSION_FILL[1];
      rgb[o + 2] = OCCLUSION_FILL[2];
    }
  }
}
