import type { Manifest } from '../run-folder/records.ts';
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
