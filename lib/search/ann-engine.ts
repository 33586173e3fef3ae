import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { BatchMatches, Index, MetricKind, ScalarKind } from 'usearch';
import type { Neighbours } from './exact-search.ts';
import type { IndexSettings, Metric, Precision } from './records.ts';

/**
 * usearch (HNSW) as tessera uses it: its metric and scalar names, its distances, and the size an
 * index will take. Distances are usearch's for every metric, and tessera's exact search
 * (exact-search.ts) computes the same ones: cos 1 − cosine, ip 1 − dot product, l2 the squared
 * Euclidean distance.
 */

const USEARCH_METRIC: Record<Metric, MetricKind> = { cos: MetricKind.Cos, l2: MetricKind.L2sq, ip: MetricKind.IP };
const USEARCH_SCALAR: Record<Precision, ScalarKind> = { f32: ScalarKind.F32, f16: ScalarKind.F16, i8: ScalarKind.I8 };
const SCALAR_BYTES: Record<Precision, number> = { f32: 4, f16: 2, i8: 1 };

/** The package's version, from its package.json (which its exports do not list), two folders above its entry. */
export const USEARCH_VERSION: string = (
  JSON.parse(
    fs.readFileSync(
      path.join(path.dirname(createRequire(import.meta.url).resolve('usearch')), '..', '..', '..', 'package.json'),
      'utf8',
    ),
  ) as { version: string }
).version;

export function newIndex(dimensions: number, settings: IndexSettings): Index {
  return new Index({
    dimensions,
    metric: USEARCH_METRIC[settings.metric],
    quantization: USEARCH_SCALAR[settings.precision],
    connectivity: settings.connectivity,
    expansion_add: settings.expansionAdd,
    expansion_search: settings.expansionSearch,
    multi: false,
  });
}

/**
 * An index file opened for queries, memory-mapped (usearch's view): the operating system pages it
 * in as searches touch it, so a process serving queries holds only what it uses.
 */
export function viewIndex(file: string, dimensions: number, settings: IndexSettings): Index {
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist`);
  const index = newIndex(dimensions, settings);
  index.view(file);
  return index;
}

/**
 * Bytes an index of `entries` vectors takes in memory while it is built, roughly: each vector at
 * its precision, its base-level neighbour list (2 × connectivity slots of 4 bytes), its key and
 * node header, with a quarter more for the upper levels and the allocator. Used to refuse a build
 * that cannot fit before it starts.
 */
export function estimateIndexBytes(entries: number, dimensions: number, settings: IndexSettings): number {
  const perEntry = dimensions * SCALAR_BYTES[settings.precision] + 2 * settings.connectivity * 4 + 8 + 16;
  return Math.ceil(entries * perEntry * 1.25);
}

/** A distance as a vote's weight, higher for nearer tiles: a similarity for cos and ip, 1 / (1 + d) for l2. */
export function similarityOf(metric: Metric, distance: number): number {
  return metric === 'l2' ? 1 / (1 + distance) : 1 - distance;
}

/** Each query's k nearest keys by the index, as exact search returns them (Neighbours). */
export function annNeighbours(index: Index, queries: Float32Array, k: number, threads = 0): Neighbours {
  const count = queries.length / index.dimensions();
  const found = index.search(queries, k, threads);
  const batch =
    found instanceof BatchMatches
      ? found
      : new BatchMatches(found.keys, found.distances, new BigUint64Array([BigInt(found.keys.length)]), k);
  const keys: Int32Array[] = [];
  const distances: Float32Array[] = [];
  for (let q = 0; q < count; q++) {
    const n = Number(batch.counts[q]);
    keys.push(Int32Array.from(batch.keys.subarray(q * k, q * k + n), (key) => Number(key)));
    distances.push(batch.distances.slice(q * k, q * k + n));
  }
  return { keys, distances };
}
