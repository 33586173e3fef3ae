import { z } from 'zod';
import { RunCountsSchema, RunTimingsSchema } from '../core/run-summary.ts';

/**
 * The schema of every record tessera writes into an output folder and reads back: one zod schema
 * per file, the TypeScript type inferred from it. Each carries a `format` version, bumped whenever
 * the way a record is read changes; a record without one, or of another format, is refused by name
 * (records-io.ts). Records of pre-release versions are not read (docs/compatibility.md). Paths are
 * layout.ts's.
 */

/** `format: N`, filled in when a record is written (records-io.ts refuses a record read without one). */
const format = <N extends number>(n: N) => z.literal(n).default(n);

/**
 * A JSON object kept as parsed: z.record copies into a fresh object, where a key such as
 * "__proto__" (a legal class value) would set the prototype instead of an entry and vanish.
 */
function ownKeysRecord<T>(isValue: (value: unknown) => boolean, what: string) {
  return z.custom<Record<string, T>>(
    (value) =>
      typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every(isValue),
    { message: `expected an object of ${what} per key` },
  );
}

/** .tessera/folder.json: tessera created this folder (only such a folder is written into). */
export const FolderMarkerSchema = z.object({
  format: format(1),
  tessera: z.string(),
  createdAt: z.string(),
});

/** .tessera/run.json: the options that decide what the run writes, and the model's sha256. */
export const RunOptionsRecordSchema = z.object({
  format: format(1),
  config: z.record(z.string(), z.unknown()),
  modelSha256: z.string(),
});
export type RunOptionsRecord = z.infer<typeof RunOptionsRecordSchema>;

/** .tessera/split.json: which bytes the split was made from, and what it wrote. */
export const SplitRecordSchema = z.object({
  format: format(1),
  inputCsv: z.string(),
  inputSha256: z.string(),
  trainingSha256: z.string(),
  validationSha256: z.string(),
});
export type SplitRecord = z.infer<typeof SplitRecordSchema>;

/**
 * .tessera/classes.json: class value (as written in the split CSVs) → int32 target. Integer class
 * ids are their own target; any other class column (strings, floats, ids beyond int32) gets codes
 * 0…K−1 in pandas' group order. Also written, for people, as classes.csv.
 */
export const ClassMappingSchema = z.object({
  format: format(1),
  mode: z.enum(['integer', 'codes']),
  targets: ownKeysRecord<number>((value) => Number.isInteger(value), 'an integer target'),
});
export type ClassMapping = z.infer<typeof ClassMappingSchema>;

/** An input row that will produce no vectors, and why (ends up in errors.csv). */
export const RejectedRowSchema = z.object({
  imageId: z.string(),
  classValue: z.string(),
  /** The split whose CSV holds the row. */
  split: z.enum(['train', 'val']),
  stage: z.enum(['plan', 'extract']),
  reason: z.string(),
  /** The row's ordinal in its split's CSV. */
  position: z.number().int(),
});
export type RejectedRow = z.infer<typeof RejectedRowSchema>;

/** .tessera/plans/<split>/rejected.json: the rows planning could not place (no id or no class). */
export const PlanRejectsSchema = z.object({
  format: format(1),
  rejected: z.array(RejectedRowSchema),
});

/** One image as extraction sees it. `ordinal` is its 0-based row in its split's CSV. */
export const ShardImageSchema = z.object({
  ordinal: z.number().int(),
  imageId: z.string(),
  target: z.number().int(),
});
export type ShardImage = z.infer<typeof ShardImageSchema>;

/** .tessera/plans/<split>/shard-N.json: the images of one shard, consecutive in the split's CSV. */
export const ShardPlanSchema = z.object({
  format: format(1),
  shard: z.number().int(),
  images: z.array(ShardImageSchema),
});
export type ShardPlan = z.infer<typeof ShardPlanSchema>;

/** Everything besides the image bytes that decides a vector, as the extracting worker sees it. */
export const ExtractionKeySchema = z.object({
  modelSha256: z.string(),
  output: z.union([z.number(), z.string()]),
  imgSize: z.number(),
  normalize: z.string(),
  /** tessera's arithmetic from pixels to the model's input (image/model-input.ts), by version. */
  preprocessing: z.number().int(),
  /** Validation images get the notebook's occlusion (scheme and seed); training images none. */
  occlusion: z.object({ scheme: z.string(), seed: z.number() }).nullable(),
  executionProvider: z.string(),
  onnxruntime: z.string(),
  sharp: z.string(),
  libvips: z.string(),
  /**
   * The decoder of plain JPEGs at the model's size (image/jpeg-turbo.ts): libjpeg-turbo's build, or
   * `libvips` where sharp decodes every image.
   */
  jpegDecoder: z.string(),
  /**
   * Where pixels become the model's input: `fused`, the pixel graph spliced in front of the model
   * in one session (inference/fused-model.ts), or `separate`, a session of its own. The same
   * arithmetic, and the same bits on every model tested; recorded all the same, because onnxruntime
   * optimises the two graphs apart and no test covers every model.
   */
  pixelGraph: z.enum(['separate', 'fused']),
});
export type ExtractionKey = z.infer<typeof ExtractionKeySchema>;

/** The fields in which two extraction keys differ. */
export function extractionKeyChanges(was: ExtractionKey, now: ExtractionKey): (keyof ExtractionKey)[] {
  return (Object.keys(now) as (keyof ExtractionKey)[]).filter((k) => JSON.stringify(was[k]) !== JSON.stringify(now[k]));
}

/** One planned image and the sha256 of the bytes it was extracted from (null: unreadable). */
export const ImageLineageSchema = z.tuple([
  z.number().int(), // ordinal in the split's CSV
  z.string(), // image id
  z.number().int(), // target
  z.string().nullable(), // sha256 of the file's bytes
]);
export type ImageLineage = z.infer<typeof ImageLineageSchema>;

export const ShardLineageSchema = z.object({
  key: ExtractionKeySchema,
  images: z.array(ImageLineageSchema),
});
export type ShardLineage = z.infer<typeof ShardLineageSchema>;

/** How many of a shard's (or a run's) images took their vectors from one earlier output folder. */
export const ReusedImagesSchema = z.object({ source: z.string(), images: z.number().int() });
export type ReusedImages = z.infer<typeof ReusedImagesSchema>;

/**
 * .tessera/shards/<split>/shard-N.json, written after the shard's file is published. `lineage`
 * and `parquetSha256` prove what the file holds: a later run reuses the shard only when both
 * still hold (see extract/lineage.ts). A report this version does not read (another format,
 * damaged) proves nothing: its shard is extracted again (shard-records.ts). Format 3: every field
 * of the extraction key and `reusedFrom` are recorded.
 */
export const ShardReportSchema = z.object({
  format: z.literal(3),
  split: z.enum(['train', 'val']),
  shard: z.number().int(),
  images: z.number().int(),
  extracted: z.number().int(),
  rows: z.number().int(),
  channels: z.number().int().nullable(),
  grid: z.tuple([z.number().int(), z.number().int()]).nullable(),
  /** The shard's Parquet file name inside shards/, or null when no image of it decoded. */
  parquet: z.string().nullable(),
  /** sha256 of that file as written. */
  parquetSha256: z.string().nullable(),
  lineage: ShardLineageSchema,
  errors: z.array(RejectedRowSchema),
  seconds: z.number(),
  /** Images whose vectors were copied from an earlier run's output (--reuse), per source folder. */
  reusedFrom: z.array(ReusedImagesSchema),
  /**
   * Images read from object storage: the ETag of each object version hashed, by image id. A later
   * check asks the store for the tag (HEAD) instead of downloading the bytes again; absent for files.
   */
  imageTags: z.record(z.string(), z.string()).optional(),
});
export type ShardReportRecord = z.infer<typeof ShardReportSchema>;

/** `cancelled`: the run was cancelled; `interrupted`: its worker shut down or lost the activity. */
export const AttemptOutcomeSchema = z.enum(['extracted', 'reused', 'cancelled', 'failed', 'interrupted']);
export type AttemptOutcome = z.infer<typeof AttemptOutcomeSchema>;

/** One line of .tessera/attempts/<split>/shard-N.jsonl: an attempt started, or how it ended. */
export const AttemptLineSchema = z.object({
  format: format(1),
  event: z.union([z.literal('started'), AttemptOutcomeSchema]),
  /** Temporal's attempt number of the extractShard activity (1 for the first try). */
  attempt: z.number().int(),
  worker: z.string(),
  at: z.string(),
  seconds: z.number().optional(),
});
export type AttemptLine = z.input<typeof AttemptLineSchema>;

/** One attempt at a shard, its start paired with its end. */
export const ShardAttemptSchema = z.object({
  attempt: z.number().int(),
  worker: z.string(),
  startedAt: z.string(),
  /** `interrupted`: it started and never finished (its worker died or lost the activity). */
  outcome: AttemptOutcomeSchema,
  seconds: z.number().optional(),
});
export type ShardAttempt = z.infer<typeof ShardAttemptSchema>;

/** .tessera/compacted-<split>.json: the published vectors file's sha256 and the shards it holds. */
export const CompactionRecordSchema = z.object({
  format: format(1),
  file: z.string(),
  sha256: z.string(),
  rows: z.number().int(),
  shards: z.array(z.string().nullable()),
});
export type CompactionRecord = z.infer<typeof CompactionRecordSchema>;

export const ManifestShardSchema = z.object({
  split: z.enum(['train', 'val']),
  shard: z.number().int(),
  images: z.number().int(),
  parquet: z.string().nullable(),
  parquetSha256: z.string().nullable(),
  /** sha256 of the shard's lineage: extraction key and every image's row, id, target and bytes. */
  lineageSha256: z.string(),
  /** The shard's extraction key: what a later run's --reuse matches. */
  key: ExtractionKeySchema,
  reusedFrom: z.array(ReusedImagesSchema),
  /** Every attempt at the shard: started when, by which worker, extracted, reused or interrupted. */
  attempts: z.array(ShardAttemptSchema),
});
export type ManifestShard = z.infer<typeof ManifestShardSchema>;

/**
 * manifest.json: what produced the output folder, so a reader can trust or reproduce it. Written
 * last; its absence means the run did not finish. Format 2: every shard's extraction key, the
 * input CSV's sha256, the reuse counts and shardsKept are always recorded.
 */
export const ManifestSchema = z.object({
  format: format(2),
  tessera: z.string(),
  createdAt: z.string(),
  config: z.record(z.string(), z.unknown()),
  model: z.object({ path: z.string(), sha256: z.string() }),
  input: z.object({ csv: z.string(), sha256: z.string(), images: z.string() }),
  workflow: z.object({ id: z.string(), runId: z.string() }),
  counts: RunCountsSchema,
  timings: RunTimingsSchema,
  shards: z.array(ManifestShardSchema),
  /** Per split, the earlier output folders whose vectors this run copied, and for how many images. */
  reuse: z.object({ train: z.array(ReusedImagesSchema), val: z.array(ReusedImagesSchema) }).partial(),
  /** sha256 of every output file (and the rows of the vectors files), by name relative to the folder. */
  outputs: z.record(z.string(), z.object({ sha256: z.string(), rows: z.number().int().optional() })),
  files: z.record(z.string(), z.string()),
  /** Whether the shard files were kept (--keep-shards); by default they are removed once the manifest is written. */
  shardsKept: z.boolean(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/**
 * .tessera/workflow.json: the workflow working in the folder, written by its preflight, so that
 * `tessera status --out` finds a run started elsewhere (Temporal CLI or UI, a schedule) by its id.
 */
export const WorkflowRecordSchema = z.object({
  format: format(1),
  workflowId: z.string(),
  runId: z.string(),
  recordedAt: z.string(),
});
export type WorkflowRecord = z.infer<typeof WorkflowRecordSchema>;

/**
 * .tessera/outcome.json: how the last embedded `tessera run` on the folder ended, written before it
 * releases its lease. A process that crashed writes none: its lease stays, and status says so.
 */
export const RunOutcomeSchema = z.object({
  format: format(1),
  command: z.string(),
  workflowId: z.string().nullable(),
  startedAt: z.string(),
  endedAt: z.string(),
  /** `interrupted`: stopped by a signal (Ctrl-C); the same command resumes it, as after a cancel. */
  outcome: z.enum(['completed', 'failed', 'cancelled', 'interrupted']),
  /** What failed, naming the input; null when it completed. */
  message: z.string().nullable(),
  log: z.string().nullable(),
});
export type RunOutcome = z.infer<typeof RunOutcomeSchema>;

export const LeaseServerSchema = z.object({
  address: z.string(),
  uiUrl: z.string(),
  pid: z.number().int(),
  dbFile: z.string(),
});
export type LeaseServer = z.infer<typeof LeaseServerSchema>;

/** .tessera/lease.json: the embedded run that holds the folder (see lease.ts). */
export const LeaseRecordSchema = z.object({
  format: format(1),
  /** The command line that holds the folder. */
  owner: z.string().default('?'),
  host: z.string(),
  /** The kernel's boot id: the same host name after a reboot, or on another machine, is not this machine. */
  bootId: z.string().nullable().default(null),
  pid: z.number().int(),
  /** The holder's start time in clock ticks since boot: a reused pid is not the holder. */
  pidStart: z.string().nullable().default(null),
  startedAt: z.string(),
  renewedAt: z.string(),
  /** Tells this holder's lease from any other, also one written by the same pid. */
  token: z.string(),
  /** The embedded Temporal dev server, once spawned: `tessera status` finds it, the next run kills a leftover. */
  server: LeaseServerSchema.optional(),
});
export type LeaseRecord = z.infer<typeof LeaseRecordSchema>;
