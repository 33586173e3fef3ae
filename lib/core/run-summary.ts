import { z } from 'zod';

/**
 * The run workflow's result, beside its input (run-config.ts): what extractVectors returns, what
 * `tessera status --json` shows as `result`, and the counts and timings manifest.json records.
 */

/** Counts of one run. */
export const RunCountsSchema = z.object({
  inputRows: z.number().int(),
  trainingImages: z.number().int(),
  validationImages: z.number().int(),
  extractedImages: z.number().int(),
  rows: z.number().int(),
  /** Validation images and rows extracted (splits includes "val"), else 0. */
  validationExtractedImages: z.number().int(),
  validationRows: z.number().int(),
  /** Of the extracted images, those whose vectors were copied from an earlier output (--reuse). */
  reusedImages: z.number().int(),
  validationReusedImages: z.number().int(),
  errors: z.number().int(),
  shards: z.number().int(),
  tilesPerImage: z.number().int(),
  channels: z.number().int(),
});
export type RunCounts = z.infer<typeof RunCountsSchema>;

/**
 * Seconds per stage. `extract` is wall time from the first shard handed out to the last one done:
 * the shards' own seconds overlap (a worker takes its next shard in the last one's tail, several
 * workers run at once), so their sum would not measure it. `compact` is what compaction added
 * after the last shard; `total` the workflow's own wall time.
 */
export const RunTimingsSchema = z.object({
  split: z.number(),
  plan: z.number(),
  extract: z.number(),
  compact: z.number(),
  total: z.number(),
});
export type RunTimings = z.infer<typeof RunTimingsSchema>;

/** What extractVectors returns: paths and counts, never data. */
export const RunSummarySchema = z.object({
  workflowId: z.string(),
  out: z.string(),
  /** vectors.parquet, or null when the run extracted only the validation split. */
  vectors: z.string().nullable(),
  /** validation-vectors.parquet when the run extracted the validation split. */
  validationVectors: z.string().nullable(),
  manifest: z.string(),
  counts: RunCountsSchema,
  timings: RunTimingsSchema,
  /** When the run was given reuse sources: those used, and why the others were skipped. */
  reuse: z.object({ sources: z.array(z.string()), skipped: z.array(z.string()) }).optional(),
  /** Earlier outputs of the run's template removed by keepRuns. */
  removedRuns: z.array(z.string()).optional(),
});
export type RunSummary = z.infer<typeof RunSummarySchema>;
