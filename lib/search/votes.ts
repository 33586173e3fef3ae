import { similarityOf } from './ann-engine.ts';
import type { Neighbours } from './exact-search.ts';
import type { IndexedImage, Metric } from './records.ts';

/**
 * How a query image's tiles become a ranking of classes and training images. The rule, as
 * docs/search.md states it:
 *
 * each query tile takes its k nearest training tiles; from each query tile, a training image gets
 * one vote, the similarity of its nearest tile among those k (so an image matching one query tile
 * with many of its own tiles counts once), and a class gets one vote, that of its best image; an
 * image's and a class's scores are their votes summed over the query tiles and divided by the
 * number of query tiles. Similarity is 1 − distance for cos and ip, 1 / (1 + distance) for l2.
 * Ties rank the smaller class id (the earlier image) first.
 */
export const VOTE_RULE =
  'per query tile, its k nearest tiles; each training image votes once per query tile with the similarity of its ' +
  'nearest tile among them, each class with its best image; scores summed over query tiles / query tiles';

export interface TileMatch {
  /** The query tile's grid cell and the matching training tile's, with their distance. */
  query: [number, number];
  tile: [number, number];
  distance: number;
}

export interface RankedImage {
  ordinal: number;
  file: string;
  target: number;
  score: number;
  /** Its nearest tile for each query tile that voted for it, nearest first. */
  matches: TileMatch[];
}

export interface Ranking {
  classes: { target: number; score: number }[];
  images: RankedImage[];
}

/** What turns a key back into an image and a grid cell (from the index's record). */
export interface KeyLookup {
  images: Map<number, IndexedImage>;
  tilesPerImage: number;
  grid: [number, number];
  metric: Metric;
}

const cellOf = (tile: number, width: number): [number, number] => [Math.floor(tile / width), tile % width];

/** Classes and images ranked by the vote rule from each query tile's neighbours (in tile order). */
export function rankByVotes(neighbours: Neighbours, lookup: KeyLookup, top: number): Ranking {
  const { tilesPerImage, grid, metric } = lookup;
  const queryTiles = neighbours.keys.length;
  const images = new Map<number, RankedImage>();
  const classes = new Map<number, number>();
  for (let q = 0; q < queryTiles; q++) {
    const keys = neighbours.keys[q]!;
    const distances = neighbours.distances[q]!;
    // Nearest first: the first key seen of an image is its nearest among this tile's neighbours.
    const votedImages = new Set<number>();
    const classVotes = new Map<number, number>();
    for (let n = 0; n < keys.length; n++) {
      const key = keys[n]!;
      const ordinal = Math.floor(key / tilesPerImage);
      if (votedImages.has(ordinal)) continue;
      votedImages.add(ordinal);
      const image = lookup.images.get(ordinal);
      if (!image) throw new Error(`key ${key} names image ${ordinal}, which the index's record does not list`);
      const similarity = similarityOf(metric, distances[n]!);
      let ranked = images.get(ordinal);
      if (!ranked) images.set(ordinal, (ranked = { ordinal, file: image[1], target: image[2], score: 0, matches: [] }));
      ranked.score += similarity;
      ranked.matches.push({
        query: cellOf(q % tilesPerImage, grid[1]),
        tile: cellOf(key % tilesPerImage, grid[1]),
        distance: distances[n]!,
      });
      classVotes.set(image[2], Math.max(classVotes.get(image[2]) ?? -Infinity, similarity));
    }
    for (const [target, vote] of classVotes) classes.set(target, (classes.get(target) ?? 0) + vote);
  }
  const perTile = (score: number) => (queryTiles > 0 ? score / queryTiles : 0);
  return {
    classes: [...classes]
      .map(([target, score]) => ({ target, score: perTile(score) }))
      .sort((a, b) => b.score - a.score || a.target - b.target)
      .slice(0, top),
    images: [...images.values()]
      .map((image) => ({
        ...image,
        score: perTile(image.score),
        matches: image.matches.sort((a, b) => a.distance - b.distance),
      }))
      .sort((a, b) => b.score - a.score || a.ordinal - b.ordinal)
      .slice(0, top),
  };
}

/** Hotel-ID's average precision at 5: 1 / rank of the true class among the first five, else 0. */
export function averagePrecisionAt5(rankedClasses: readonly number[], truth: number): number {
  const rank = rankedClasses.slice(0, 5).indexOf(truth);
  return rank < 0 ? 0 : 1 / (rank + 1);
}

/** Of each query's exact k nearest keys, the share its ANN answer found (recall@k), over all queries. */
export function recallAtK(ann: Neighbours, exact: Neighbours, k: number): number {
  let found = 0;
  let wanted = 0;
  exact.keys.forEach((truth, q) => {
    const answered = new Set(ann.keys[q]!.slice(0, k));
    const top = truth.slice(0, k);
    wanted += top.length;
    for (const key of top) if (answered.has(key)) found++;
  });
  return wanted > 0 ? found / wanted : 1;
}
