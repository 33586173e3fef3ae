import { z } from 'zod';
import { RunCountsSchema, RunTimingsSchema } from '../run-folder/records.ts';

/** What extractVectors returns: paths and counts, never data (also `result` in `tessera status --json`). */
export const RunSummarySchema = z.object({
  workflowId: z.string(),
  out: z.string(),
  /** vectors.parquet, or null when the run extracted only the validation split. */
  vectors: z.string().nullable(),
  /** validation-vectors.parquet when the run extracted the validation split. */
  validationVectors: z.string().nullable(),
  manifest: z.string(),
  counts: RunCountsSchema,
  /** Seconds per stage; `extract` sums shard times, `total` is the workflow's own wall time. */
  timings: RunTimingsSchema,
  /** When the run was given reuse sources: those used, and why the others were skipped. */
  reuse: z.object({ sources: z.array(z.string()), skipped: z.array(z.string()) }).optional(),
  /** Earlier outputs of the run's template removed by keepRuns. */
  removedRuns: z.array(z.string()).optional(),
});
export type RunSummary = z.infer<typeof RunSummarySchema>;
