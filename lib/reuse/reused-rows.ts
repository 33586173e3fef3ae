import { DuckDBInstance, type DuckDBBlobValue } from '@duckdb/node-api';
import { sqlString } from '../core/sql-string.ts';
import type { ReuseHit } from './reuse-index.ts';
import type { ReuseSource } from './reuse-source.ts';

/** Source images closer than this (a row group of the default model holds 256) are read in one range. */
const GAP_IMAGES = 256;

/**
 * The tile vectors of reused images, read from their sources' vectors files: per image (keyed as
 * the caller keys `wanted`), its tiles' vectors in tile order. A source's file is ordered by `i`
 * (= source ordinal × tiles + tile), so nearby images are read as one range of `i`, which DuckDB
 * narrows to the row groups holding it. An image whose rows are not all there (it failed to
 * decode in the source run) is left out: the caller extracts it.
 */
export interface ReusedTiles {
  /** Per tile, in tile order (`i` mod tiles): its vector and grid cell. */
  vectors: Uint8Array[];
  x: Int32Array;
  y: Int32Array;
}

export async function readReusedVectors<K>(wanted: ReadonlyMap<K, ReuseHit>): Promise<Map<K, ReusedTiles>> {
  const bySource = new Map<ReuseSource, { key: K; ordinal: number }[]>();
  for (const [key, hit] of wanted) {
    const list = bySource.get(hit.source) ?? [];
    list.push({ key, ordinal: hit.sourceOrdinal });
    bySource.set(hit.source, list);
  }
  const found = new Map<K, ReusedTiles>();
  if (bySource.size === 0) return found;
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    for (const [source, images] of bySource) {
      const tiles = source.tilesPerImage;
      const byOrdinal = new Map<number, K[]>();
      for (const { key, ordinal } of images) byOrdinal.set(ordinal, [...(byOrdinal.get(ordinal) ?? []), key]);
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
            if (!tilesOf) read.set(ordinal, (tilesOf = { vectors: new Array<Uint8Array | undefined>(tiles).fill(undefined), x: new Int32Array(tiles), y: new Int32Array(tiles) }));
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
  return found;
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
