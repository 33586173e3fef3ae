import type { Metric } from './records.ts';
import { streamTilePages } from './tile-stream.ts';

/**
 * Exact k-nearest-neighbour search, tessera's own: every query against every tile of a vectors
 * file, streamed page by page (memory: the queries and one page), with usearch's distances
 * (ann-engine.ts), so that the ANN's recall is measured against the true neighbours.
 */
export interface Neighbours {
  /** Per query, its k nearest keys (`i`) and their distances, nearest first. */
  keys: Int32Array[];
  distances: Float32Array[];
}

/** A kept neighbour list: sorted ascending by distance, at most k entries, ties by smaller key. */
class TopK {
  readonly keys: Int32Array;
  readonly distances: Float32Array;
  size = 0;

  constructor(readonly k: number) {
    this.keys = new Int32Array(k);
    this.distances = new Float32Array(k).fill(Infinity);
  }

  offer(key: number, distance: number): void {
    if (this.size === this.k && distance >= this.distances[this.k - 1]!) return;
    let at = Math.min(this.size, this.k - 1);
    while (at > 0 && this.distances[at - 1]! > distance) {
      this.distances[at] = this.distances[at - 1]!;
      this.keys[at] = this.keys[at - 1]!;
      at--;
    }
    this.distances[at] = distance;
    this.keys[at] = key;
    if (this.size < this.k) this.size++;
  }
}

/**
 * The rows as the metric compares them: unit vectors for cos (1 − cosine is then 1 − dot), the
 * vectors as they are for ip and l2. A zero vector stays zero (its cosine distance is 1, as usearch's).
 */
function prepared(vectors: Float32Array, dimensions: number, metric: Metric): Float32Array {
  if (metric !== 'cos') return vectors;
  const out = new Float32Array(vectors.length);
  for (let at = 0; at < vectors.length; at += dimensions) {
    let sum = 0;
    for (let c = at; c < at + dimensions; c++) sum += vectors[c]! * vectors[c]!;
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    for (let c = at; c < at + dimensions; c++) out[c] = vectors[c]! * scale;
  }
  return out;
}

/** Distances of every query to one tile, into `out` (the hot path: one plain loop per metric). */
function distancesTo(
  metric: Metric,
  queries: Float32Array,
  tile: Float32Array,
  tileAt: number,
  dimensions: number,
  out: Float64Array,
): void {
  if (metric === 'l2') {
    for (let q = 0; q < out.length; q++) out[q] = squaredDistance(queries, q * dimensions, tile, tileAt, dimensions);
  } else {
    for (let q = 0; q < out.length; q++) out[q] = 1 - dot(queries, q * dimensions, tile, tileAt, dimensions);
  }
}

/** Four running sums: V8 keeps them in registers and overlaps the multiplications. */
function dot(a: Float32Array, aAt: number, b: Float32Array, bAt: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let c = 0;
  for (; c + 3 < n; c += 4) {
    s0 += a[aAt + c]! * b[bAt + c]!;
    s1 += a[aAt + c + 1]! * b[bAt + c + 1]!;
    s2 += a[aAt + c + 2]! * b[bAt + c + 2]!;
    s3 += a[aAt + c + 3]! * b[bAt + c + 3]!;
  }
  for (; c < n; c++) s0 += a[aAt + c]! * b[bAt + c]!;
  return s0 + s1 + s2 + s3;
}

function squaredDistance(a: Float32Array, aAt: number, b: Float32Array, bAt: number, n: number): number {
  let sum = 0;
  for (let c = 0; c < n; c++) {
    const diff = a[aAt + c]! - b[bAt + c]!;
    sum += diff * diff;
  }
  return sum;
}

/** The `k` nearest tiles of `file` to each of the `queries` (rows of `dimensions` floats). */
export async function exactNearest(
  file: string,
  queries: Float32Array,
  dimensions: number,
  k: number,
  metric: Metric,
): Promise<Neighbours> {
  const count = queries.length / dimensions;
  const compared = prepared(queries, dimensions, metric);
  const kept = Array.from({ length: count }, () => new TopK(k));
  const distances = new Float64Array(count);
  for await (const page of streamTilePages(file)) {
    if (page.dimensions !== dimensions)
      throw new Error(`${file} holds ${page.dimensions}-dimensional vectors, the queries ${dimensions}`);
    const tiles = prepared(page.vectors, dimensions, metric);
    for (let t = 0; t < page.keys.length; t++) {
      distancesTo(metric, compared, tiles, t * dimensions, dimensions, distances);
      const key = page.keys[t]!;
      for (let q = 0; q < count; q++) kept[q]!.offer(key, distances[q]!);
    }
  }
  return {
    keys: kept.map((top) => top.keys.slice(0, top.size)),
    distances: kept.map((top) => top.distances.slice(0, top.size)),
  };
}
