import { annNeighbours } from './ann-engine.ts';
import { DEFAULT_NEIGHBOURS } from './evaluate.ts';
import { keyLookup, openIndex, type OpenedIndex } from './open-index.ts';
import { QueryEmbedder } from './query-embedder.ts';
import { rankByVotes, type KeyLookup, type Ranking } from './votes.ts';

export interface SearchAnswer extends Ranking {
  query: string;
  /** The feature grid (rows, columns): where a match's tile lies in its image. */
  grid: [number, number];
  /** Model time and index time for this image, in milliseconds. */
  timings: { embedMs: number; searchMs: number };
}

export interface SearcherOptions {
  neighbours?: number;
  /** usearch's threads per query batch (0: all cores). */
  threads?: number;
  intraOpThreads?: number;
}

/**
 * An output's index and model, opened once, answering query images: each image's tiles through
 * the model, each tile's nearest tiles from the index, classes and images ranked by the vote rule.
 */
export class Searcher {
  private constructor(
    readonly opened: OpenedIndex,
    private readonly embedder: QueryEmbedder,
    private readonly lookup: KeyLookup,
    private readonly options: SearcherOptions,
  ) {}

  static async open(outFolder: string, options: SearcherOptions = {}): Promise<Searcher> {
    const opened = await openIndex(outFolder);
    const embedder = await QueryEmbedder.open(opened.manifest, { intraOpThreads: options.intraOpThreads });
    return new Searcher(opened, embedder, keyLookup(opened), options);
  }

  /** k of the vote rule: neighbours per query tile. */
  get neighbours(): number {
    return this.options.neighbours ?? DEFAULT_NEIGHBOURS;
  }

  /** The top classes and images for one query image's bytes; `name` is how errors call it. */
  async search(
    bytes: Uint8Array,
    name: string,
    { top = 5, maxPixels }: { top?: number; maxPixels?: number } = {},
  ): Promise<SearchAnswer> {
    const started = performance.now();
    const tiles = await this.embedder.embed(bytes, name, { maxPixels });
    const embedMs = performance.now() - started;
    if (
      tiles.dimensions !== this.opened.record.dimensions ||
      tiles.vectors.length / tiles.dimensions !== this.lookup.tilesPerImage
    )
      throw new Error(
        `the model gave ${tiles.grid.join('×')} tiles of ${tiles.dimensions}; the index holds ${this.lookup.grid.join('×')} of ${this.opened.record.dimensions}`,
      );
    const { searchMs, ...ranking } = this.rank(tiles.vectors, top);
    return { ...ranking, query: name, grid: this.lookup.grid, timings: { embedMs, searchMs } };
  }

  /** Ranks a query's tile vectors (as extraction lays them out), timing the index's part. */
  rank(vectors: Float32Array, top: number): Ranking & { searchMs: number } {
    const started = performance.now();
    const neighbours = annNeighbours(this.opened.index, vectors, this.neighbours, this.options.threads);
    const ranking = rankByVotes(neighbours, this.lookup, top);
    return { ...ranking, searchMs: performance.now() - started };
  }

  close(): Promise<void> {
    return this.embedder.close();
  }
}
