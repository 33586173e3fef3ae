/** Counts of one run, as the workflow returns them and manifest.json records them. */
export interface RunCounts {
  inputRows: number;
  trainingImages: number;
  validationImages: number;
  extractedImages: number;
  rows: number;
  /** Validation images and rows extracted (splits includes "val"), else 0. */
  validationExtractedImages: number;
  validationRows: number;
  errors: number;
  shards: number;
  tilesPerImage: number;
  channels: number;
}

/** What extractVectors returns: paths and counts, never data. */
export interface RunSummary {
  workflowId: string;
  out: string;
  /** vectors.parquet, or null when the run extracted only the validation split. */
  vectors: string | null;
  /** validation-vectors.parquet when the run extracted the validation split. */
  validationVectors: string | null;
  manifest: string;
  counts: RunCounts;
  /** Seconds per stage; `extract` sums shard times, `total` is the workflow's own wall time. */
  timings: Record<string, number>;
}
