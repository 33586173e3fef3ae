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

function norms(vectors: Float32Array, dimensions: number): Float64Array {
  const count = vectors.length / dimensions;
  const out = new Float64Array(count);
  for (let r = 0; r < count; r++) {
    let sum = 0;
    for (let c = r * dimensions; c < (r + 1) * dimensions; c++) sum += vectors[c]! * vectors[c]!;
    out[r] = Math.sqrt(sum);
  }
  return out;
}

/** One distance, as usearch defines it for `metric`, from a dot product or the vectors. */
function distance(
  metric: Metric,
  a: Float32Array,
  aAt: number,
  b: Float32Array,
  bAt: number,
  dimensions: number,
  normA: number,
  normB: number,
): number {
  let sum = 0;
  if (metric === 'l2') {
    for (let c = 0; c < dimensions; c++) {
      const diff = a[aAt + c]! - b[bAt + c]!;
      sum += diff * diff;
    }
    return sum;
  }
  for (let c = 0; c < dimensions; c++) sum += a[aAt + c]! * b[bAt + c]!;
  if (metric === 'ip') return 1 - sum;
  return normA === 0 || normB === 0 ? 1 : 1 - sum / (normA * normB);
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
  const queryNorms = norms(queries, dimensions);
  const kept = Array.from({ length: count }, () => new TopK(k));
  for await (const page of streamTilePages(file)) {
    if (page.dimensions !== dimensions)
      throw new Error(`${file} holds ${page.dimensions}-dimensional vectors, the queries ${dimensions}`);
    const tileNorms = norms(page.vectors, dimensions);
    for (let t = 0; t < page.keys.length; t++) {
      const key = page.keys[t]!;
      for (let q = 0; q < count; q++)
        kept[q]!.offer(
          key,
          distance(
            metric,
            queries,
            q * dimensions,
            page.vectors,
            t * dimensions,
            dimensions,
            queryNorms[q]!,
            tileNorms[t]!,
          ),
        );
    }
  }
  return {
    keys: kept.map((top) => top.keys.slice(0, top.size)),
    distances: kept.map((top) => top.distances.slice(0, top.size)),
  };
}
