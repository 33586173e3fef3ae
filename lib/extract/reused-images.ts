import type { Split } from '../core/run-config.ts';
import { allocateTileRows, COPIED_PAGE, type EncodedVectorPage, type TileRows } from '../parquet/tile-writer.ts';
import type { ImageLineage, ReusedImages, ShardImage } from '../run-folder/records.ts';
import type { ReuseHit, ReuseIndex } from '../reuse/reuse-index.ts';
import { readReusedVectors, type ReusedTiles } from '../reuse/reused-rows.ts';
import { mapLimited } from '../core/map-limited.ts';
import type { ImageSource } from './image-source.ts';

export interface ReusedShardImages {
  /** By ordinal: the image's tiles, copied from a source. */
  tiles: Map<number, ReusedTiles>;
  /** By ordinal: the lineage of each reused image (the bytes hashed now). */
  lineage: Map<number, ImageLineage>;
  /** Reused objects whose recorded ETag still held: carried into the new shard's report. */
  tags: Map<string, string>;
  /** How many images came from each source folder. */
  from: ReusedImages[];
  channels: number | null;
}

/**
 * The images of a shard whose vectors an earlier output already holds: each file is hashed as it
 * is now and looked up by its bytes (and, for validation images, its id) under this run's key.
 * The rest (new, changed, unreadable, or absent from every source) is for the caller to extract.
 */
export async function findReusedImages(
  planned: readonly ShardImage[],
  split: Split,
  index: ReuseIndex,
  files: ImageSource,
): Promise<ReusedShardImages> {
  const hits = new Map<number, ReuseHit>();
  const hashes = new Map<number, string>();
  const tags = new Map<string, string>();
  await mapLimited(planned, Math.max(8, files.concurrency), async (image) => {
    const recorded = index.recorded(image.imageId);
    const sha256 = await files.currentHash(image.imageId, recorded);
    if (sha256 === null) return; // extraction reports why it cannot be read
    // A tag older than the object (same bytes uploaded again) costs the next check a download, never a wrong vector.
    if (recorded && recorded.sha256 === sha256) tags.set(image.imageId, recorded.tag);
    const hit = index.find(split, sha256, image.imageId);
    if (hit) {
      hits.set(image.ordinal, hit);
      hashes.set(image.ordinal, sha256);
    }
  });
  const tiles = await readReusedVectors(hits);
  const lineage = new Map<number, ImageLineage>();
  const counts = new Map<string, number>();
  for (const image of planned) {
    if (!tiles.has(image.ordinal)) continue;
    lineage.set(image.ordinal, [image.ordinal, image.imageId, image.target, hashes.get(image.ordinal)!]);
    const folder = hits.get(image.ordinal)!.source.folder;
    counts.set(folder, (counts.get(folder) ?? 0) + 1);
  }
  const channels = index.sources.find((source) => counts.has(source.folder))?.channels ?? null;
  return { tiles, lineage, tags, from: [...counts].map(([source, images]) => ({ source, images })), channels };
}

/** The rows of reused images, `i` from each image's ordinal now, target and id as planned now. */
export function reusedTileRows(images: readonly ShardImage[], reused: ReadonlyMap<number, ReusedTiles>): TileRows {
  const tilesPerImage = images.length === 0 ? 0 : reused.get(images[0]!.ordinal)!.x.length;
  const rows = allocateTileRows(images.length * tilesPerImage);
  const copiedPages = new Map<number, EncodedVectorPage>();
  images.forEach((image, k) => {
    const tiles = reused.get(image.ordinal)!;
    if ('page' in tiles) copiedPages.set(k * tilesPerImage, tiles.page);
    for (let t = 0; t < tilesPerImage; t++) {
      const r = k * tilesPerImage + t;
      rows.i[r] = image.ordinal * tilesPerImage + t;
      rows.vector[r] = 'page' in tiles ? COPIED_PAGE : tiles.vectors[t]!;
      rows.target[r] = image.target;
      rows.file[r] = image.imageId;
      rows.x[r] = tiles.x[t]!;
      rows.y[r] = tiles.y[t]!;
    }
  });
  if (copiedPages.size > 0) rows.copiedPages = copiedPages;
  return rows;
}

/** Two row sets, each ordered by `i`, as one ordered by `i` (copied pages move with their rows). */
export function mergeTileRows(a: TileRows, b: TileRows): TileRows {
  if (b.i.length === 0) return a;
  if (a.i.length === 0) return b;
  const rows = allocateTileRows(a.i.length + b.i.length);
  const copiedPages = new Map<number, EncodedVectorPage>();
  let [p, q] = [0, 0];
  for (let r = 0; r < rows.i.length; r++) {
    const fromA = q >= b.i.length || (p < a.i.length && a.i[p]! < b.i[q]!);
    const [source, k] = fromA ? [a, p++] : [b, q++];
    const page = source.copiedPages?.get(k);
    if (page) copiedPages.set(r, page);
    rows.i[r] = source.i[k]!;
    rows.vector[r] = source.vector[k]!;
    rows.target[r] = source.target[k]!;
    rows.file[r] = source.file[k]!;
    rows.x[r] = source.x[k]!;
    rows.y[r] = source.y[k]!;
  }
  if (copiedPages.size > 0) rows.copiedPages = copiedPages;
  return rows;
}
