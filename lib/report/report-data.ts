import type { Manifest } from '../run-folder/records.ts';
import type { Evaluation, IndexRecord } from '../search/records.ts';
import type { ErrorGroup } from './errors-summary.ts';
import type { Timeline } from './timeline.ts';
import type { VectorSample } from './sample-vectors.ts';

/** Everything the page shows, gathered by report.ts and rendered by html.ts (which reads no file). */
export interface ReportData {
  out: string;
  /** When the report was made, and by which tessera version. */
  generatedAt: string;
  tessera: string;
  manifest: Manifest;
  errors: { total: number; groups: ErrorGroup[] };
  classes: ClassRow[];
  timeline: Timeline;
  /** Null when the run has no training vectors (splits: val only). */
  vectors: VectorSummary | null;
  /** The index and its evaluation (search-summary.ts); absent from a run with no training vectors. */
  search?: SearchSummary;
}

/** A picture on the page (a small JPEG as a data: URI), or why there is none. */
export type Thumbnail = { src: string } | { missing: string };

/** One validation query, its top classes and nearest training images by the vote rule. */
export interface ExampleQuery {
  file: string;
  target: number;
  thumbnail: Thumbnail;
  classes: { target: number; score: number }[];
  images: { file: string; target: number; score: number; matchedTiles: number; thumbnail: Thumbnail }[];
}

export interface SearchSummary {
  /** index/index.json's figures, and whether it holds the vectors the manifest lists. */
  index:
    | (Pick<IndexRecord, 'entries' | 'indexBytes' | 'settings' | 'builtAt' | 'seconds' | 'engine' | 'dimensions'> & {
        images: number;
        current: boolean;
      })
    | null;
  /** evaluation.json, and whether it scored these vectors (and these validation vectors). */
  evaluation: (Evaluation & { current: boolean }) | null;
  voteRule: string;
  /** Empty without a current index or validation vectors. */
  examples: ExampleQuery[];
  /** Records that could not be read, or example queries that could not be ranked. */
  problems: string[];
}

export interface ClassRow {
  target: number;
  label: string;
  /** Extracted training images of the class. */
  training: number;
  /** Extracted validation images, or null when the run did not extract the validation split. */
  validation: number | null;
}

export interface ScatterPoint {
  x: number;
  y: number;
  target: number;
  file: string;
}

/** What the sample read (sample-vectors.ts), and what the page computes from it. */
export interface VectorSummary extends Omit<VectorSample, 'images'> {
  file: string;
  tilesPerImage: number;
  sampled: number;
  maxImages: number;
  /** Null with fewer than 3 sampled images. */
  pca: { points: ScatterPoint[]; explained: [number, number] } | null;
  /** Leave-one-out 1-NN under cosine similarity, or null with fewer than 2 sampled images. */
  nearestNeighbour: { accuracy: number; chance: number; images: number; classes: number } | null;
  seconds: number;
}
