import type { RunCounts, RunTimings } from '../run-folder/records.ts';

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
  timings: RunTimings;
}
