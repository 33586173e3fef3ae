import { DuckDBInstance, type DuckDBBlobValue } from '@duckdb/node-api';
import { sqlString } from '../core/sql-string.ts';
import type { ReuseHit } from './reuse-index.ts';
import type { ReuseSource } from './reuse-source.ts';
import { readParquetFooter } from '../parquet/concatenate.ts';
import { readImagePages } from '../parquet/image-pages.ts';
import { FINAL_CODEC, type EncodedVectorPage } from '../parquet/tile-writer.ts';

/** Source images closer than this (a row group of the default model holds 256) are read in one range. */
const GAP_IMAGES = 256;

/**
 * The tile vectors of reused images, read from their sources' vectors files: per image (keyed as
 * the caller keys `wanted`), its tiles' vectors in tile order. Where the source holds the image
 * as a page of its own (what tessera writes), the page's bytes are taken as they are, to be
 * copied into the shard: no decompression, no compression. Other images are decoded through
 * DuckDB: a source's file is ordered by `i` (= source ordinal × tiles + tile), so nearby images
 * are read as one range of `i`, which DuckDB narrows to the row groups holding it. An image whose
 * rows are not all there (it failed to decode in the source run) is left out: the caller
 * extracts it.
 */
export type ReusedTiles = { x: Int32Array; y: Int32Array } & ({ page: EncodedVectorPage } | { vectors: Uint8Array[] });

export async function readReusedVectors<K>(wanted: ReadonlyMap<K, ReuseHit>): Promise<Map<K, ReusedTiles>> {
  const bySource = new Map<ReuseSource, Map<number, K[]>>();
  for (const [key, hit] of wanted) {
    const byOrdinal = bySource.get(hit.source) ?? new Map<number, K[]>();
    byOrdinal.set(hit.sourceOrdinal, [...(byOrdinal.get(hit.sourceOrdinal) ?? []), key]);
    bySource.set(hit.source, byOrdinal);
  }
  const found = new Map<K, ReusedTiles>();
  const toDecode = new Map<ReuseSource, Map<number, K[]>>();
  for (const [source, byOrdinal] of bySource) {
    const pages = await readImagePages(
      source.vectors,
      await readParquetFooter(source.vectors),
      source.tilesPerImage,
      new Set(byOrdinal.keys()),
    );
    const rest = new Map<number, K[]>();
    for (const [ordinal, keys] of byOrdinal) {
      const page = pages.get(ordinal);
      // Copied only into a file of the same codec (shards are written in the vectors file's).
      if (page?.page.codec === FINAL_CODEC && page.page.uncompressedSize === source.tilesPerImage * source.channels * 4)
        for (const key of keys) found.set(key, page);
      else rest.set(ordinal, keys);
    }
    if (rest.size > 0) toDecode.set(source, rest);
  }
  if (toDecode.size > 0) await decodeReusedVectors(toDecode, found);
  return found;
}

/** Images' vectors decoded from their sources through DuckDB, into `found`. */
async function decodeReusedVectors<K>(
  bySource: ReadonlyMap<ReuseSource, ReadonlyMap<number, K[]>>,
  found: Map<K, ReusedTiles>,
): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    for (const [source, byOrdinal] of bySource) {
      const tiles = source.tilesPerImage;
      const read = new Map<number, { vectors: (Uint8Array | undefined)[]; x: Int32Array; y: Int32Array }>();
      for (const [low, high] of ranges([...byOrdinal.keys()])) {
        const reader = await connection.stream(
          `SELECT i, vector, x, y FROM read_parquet(${sqlString(source.vectors)}) WHERE i >= ${low * tiles} AND i < ${(high + 1) * tiles}`,
        );
        for (let chunk = await reader.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await reader.fetchChunk()) {
          const [iColumn, vectorColumn, xColumn, yColumn] = [0, 1, 2, 3].map((k) => chunk.getColumnVector(k));
          for (let r = 0; r < chunk.rowCount; r++) {
            const i = Number(iColumn!.getItem(r));
            const ordinal = Math.floor(i / tiles);
            if (!byOrdinal.has(ordinal)) continue;
            let tilesOf = read.get(ordinal);
            if (!tilesOf)
              read.set(
                ordinal,
                (tilesOf = {
                  vectors: new Array<Uint8Array | undefined>(tiles).fill(undefined),
                  x: new Int32Array(tiles),
                  y: new Int32Array(tiles),
                }),
              );
            const tile = i % tiles;
            // Copied: the chunk's memory is DuckDB's and is reused by the next chunk.
            tilesOf.vectors[tile] = (vectorColumn!.getItem(r) as DuckDBBlobValue).bytes.slice();
            tilesOf.x[tile] = Number(xColumn!.getItem(r));
            tilesOf.y[tile] = Number(yColumn!.getItem(r));
          }
        }
      }
      for (const [ordinal, { vectors, x, y }] of read) {
        if (!vectors.every((v) => v !== undefined && v.length === source.channels * 4)) continue;
        for (const key of byOrdinal.get(ordinal)!) found.set(key, { vectors: vectors as Uint8Array[], x, y });
      }
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Sorted ordinals grouped into [low, high] ranges, a new range where the gap is wider than GAP_IMAGES. */
export function ranges(ordinals: number[]): [number, number][] {
  const sorted = [...ordinals].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const ordinal of sorted) {
    const last = out.at(-1);
    if (last && ordinal - last[1] <= GAP_IMAGES) last[1] = ordinal;
    else out.push([ordinal, ordinal]);
  }
  return out;
}
