/** Counts of one run, as the workflow returns them and manifest.json records them. */
export interface RunCounts {
  inputRows: number;
  trainingImages: number;
  validationImages: number;
  extractedImages: number;
  rows: number;
  errors: number;
  shards: number;
  tilesPerImage: number;
  channels: number;
}

/** What extractVectors returns: paths and counts, never data. */
export interface RunSummary {
  workflowId: string;
  out: string;
  vectors: string;
  manifest: string;
  counts: RunCounts;
  /** Seconds per stage; `extract` sums shard times, `total` is the workflow's own wall time. */
  timings: Record<string, number>;
}
