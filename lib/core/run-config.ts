import { z } from 'zod';
import { isUri } from './uri.ts';

/**
 * The one schema for a run's options. The CLI flags, the JSON config file and the Temporal
 * workflow input are all parsed by it, so `temporal workflow start --input` gets the same
 * validation and defaults as `tessera run`.
 *
 * Relative paths are resolved by the worker against its working directory; tessera's CLI always
 * sends absolute paths.
 */
export const SPLITS = ['train', 'val'] as const;
export type Split = (typeof SPLITS)[number];

/**
 * The default model, relative to tessera's own folder (not the worker's working directory):
 * project-paths.ts's DEFAULT_MODEL is where it lies, and the run layout resolves it there.
 */
export const DEFAULT_MODEL_FILE = 'models/efficientnet-lite0.onnx';

/** `/abs/path` or `C:\\abs\\path`. */
const ABSOLUTE_PATH = /^(\/|[A-Za-z]:[\\/])/;

/**
 * A folder or file of a run. The workflow input reaches workers on other machines, where a
 * relative path would resolve against whatever their working directory is: it is refused, by name.
 * (tessera's CLI resolves the relative paths a user types before it sends them.)
 */
const location = z
  .string()
  .min(1)
  .refine(
    (value) => ABSOLUTE_PATH.test(value) || isUri(value),
    'a relative path means nothing to a worker on another machine: give an absolute path (or an s3:// URI)',
  );

export const RunConfigSchema = z
  .object({
    /** Dataset folder holding the CSV and the image folder. */
    data: location,
    /** Output folder (training.csv, validation.csv, shards/, vectors.parquet, …). */
    out: location,
    /** ONNX model file. */
    model: z
      .union([z.literal(DEFAULT_MODEL_FILE), location], {
        error: 'a relative path means nothing to a worker on another machine: give an absolute path (or an s3:// URI)',
      })
      .default(DEFAULT_MODEL_FILE),
    /** CSV file name inside `data`. */
    csv: z.string().min(1).default('train.csv'),
    /** Image folder inside `data`; an image's file is `<images>/<image_id>`. */
    images: z.string().min(1).default('images'),
    idColumn: z.string().min(1).default('image_id'),
    classColumn: z.string().min(1).default('hotel_id'),
    /** Images are resized to imgSize × imgSize when they are not already that size. */
    imgSize: z.number().int().min(8).max(4096).default(256),
    batchSize: z.number().int().min(1).max(4096).default(32),
    /** Validation rows picked per class (as pandas' groupby().sample(valSamples)). */
    valSamples: z.number().int().min(0).default(1),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(42),
    /** The model's 4-D feature output: an index into its outputs (feature level) or a name. */
    output: z.union([z.number().int().min(0), z.string().min(1)]).default(4),
    /**
     * Images per shard. 1024 images at the default model is 65,536 rows (~85 MB): a retry redoes
     * at most ~40 s of CPU work (about 1 s on a GPU), per-activity overhead stays a few percent
     * even on a GPU, and 1,000,000 images stay under 1,000 shard activities.
     */
    shardSize: z.number().int().min(1).max(1_000_000).default(1024),
    /** Shards scheduled at once; each inference worker still runs as many as its own limit. */
    parallelShards: z.number().int().min(1).max(1000).default(8),
    executionProvider: z.enum(['cpu', 'cuda']).default('cpu'),
    /** `none` as in the notebook (ToFloat only); `imagenet` subtracts ImageNet mean, divides by std. */
    normalize: z.enum(['none', 'imagenet']).default('none'),
    /**
     * Which splits to extract. `val` extracts validation.csv into validation-vectors.parquet with
     * the notebook's occlusion (one red hole per image, fixed by seed and image id).
     */
    splits: z
      .array(z.enum(SPLITS))
      .min(1)
      .refine((list) => new Set(list).size === list.length, 'each split at most once')
      .default(['train']),
    /**
     * An activity whose worker has been silent this long (killed, lost its machine) is given to
     * another worker. Every activity heartbeats at least every few seconds while it works.
     */
    heartbeatSeconds: z.number().int().min(2).max(3600).default(30),
    /** Replace the outputs of a different earlier run in `out` instead of refusing to start. */
    force: z.boolean().default(false),
    /**
     * Keep the shard files once vectors.parquet is verified and the manifest written. By default
     * they are removed, so a finished folder holds one copy of the vectors; a later run on it
     * copies unchanged images' vectors from the compacted output instead.
     */
    keepShards: z.boolean().default(false),
    /**
     * Earlier output folders whose vectors are copied for every image whose bytes (sha256) and
     * extraction key match; only the rest is extracted. Each source is verified first and skipped
     * with a warning when damaged or made otherwise. The result is the same as without it.
     */
    reuse: z.array(location).default([]),
    /**
     * With an `out` holding {scheduledTime} (a schedule's runs): also reuse the newest finished
     * earlier output of the same template. `tessera schedule create` sets it unless --full.
     */
    reuseEarlierRuns: z.boolean().default(false),
    /**
     * With an `out` holding {scheduledTime}: once this run has finished, remove the finished outputs
     * of the same template older than the newest keepRuns (this one included). Unset keeps all.
     */
    keepRuns: z.number().int().min(1).optional(),
    /**
     * After the manifest: build (or keep, when current) the index of vectors.parquet in out/index/,
     * with tessera index's default settings (docs/search.md).
     */
    index: z.boolean().default(false),
    /**
     * After the index (implied): score it on the run's occluded validation images into
     * evaluation.json, so that a schedule records retrieval quality run after run. Needs splits train,val.
     */
    evaluate: z.boolean().default(false),
  })
  .strict();

export type RunConfigInput = z.input<typeof RunConfigSchema>;
export type RunConfig = z.output<typeof RunConfigSchema>;

/** Every bad field in one readable message, e.g. `batchSize: Too small: expected number to be >=1`. */
export function formatConfigIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(input)'}: ${issue.message}`)
    .join('; ');
}

export type ConfigParseResult = { ok: true; config: RunConfig } | { ok: false; message: string };

export function parseRunConfig(input: unknown): ConfigParseResult {
  const result = RunConfigSchema.safeParse(input);
  if (result.success) return { ok: true, config: result.data };
  return { ok: false, message: `invalid run config: ${formatConfigIssues(result.error)}` };
}
