import path from 'node:path';
import { DEFAULT_MODEL } from '../core/project-paths.ts';
import { isUri, joinUri } from '../core/uri.ts';
import { DEFAULT_MODEL_FILE, type RunConfig, type Split } from '../core/run-config.ts';

/**
 * Every path of an output folder, in one place, so that no name is spelled twice. `outputLayout`
 * needs only the folder (the embedded run's lease and server state exist before any config is
 * parsed); `runLayout` adds the run's inputs. Both are resolved once per activity and passed along.
 */

export function shardName(shard: number): string {
  return `shard-${String(shard).padStart(5, '0')}`;
}

/** `shard-00012.json`, `shard-00012.parquet`: the shard's number. */
export const SHARD_FILE = /^shard-(\d+)\.(json|parquet)$/;

const SPLIT_NAMES = {
  train: { csv: 'training.csv', shards: 'shards', vectors: 'vectors.parquet' },
  val: { csv: 'validation.csv', shards: 'shards-validation', vectors: 'validation-vectors.parquet' },
} as const satisfies Record<Split, unknown>;

export function outputLayout(outFolder: string) {
  const out = path.resolve(outFolder);
  const work = path.join(out, '.tessera');
  return {
    out,
    trainingCsv: path.join(out, SPLIT_NAMES.train.csv),
    validationCsv: path.join(out, SPLIT_NAMES.val.csv),
    classesCsv: path.join(out, 'classes.csv'),
    errorsCsv: path.join(out, 'errors.csv'),
    manifest: path.join(out, 'manifest.json'),
    /** Every extracted image's bytes (sha256) with its row, shard and target. */
    lineageCsv: path.join(out, 'lineage.csv'),
    /** `tessera report`'s page about the finished run (not one of the run's outputs: the manifest does not list it). */
    report: path.join(out, 'report.html'),
    work,
    /** Says that tessera created this folder: only such a folder is written into. */
    marker: path.join(work, 'folder.json'),
    /** The options and model sha256 the folder's run was started with. */
    runOptions: path.join(work, 'run.json'),
    /** The input CSV's and the split CSVs' sha256, as prepareSplit last wrote them. */
    splitRecord: path.join(work, 'split.json'),
    classMapping: path.join(work, 'classes.json'),
    /** The embedded run's hold on the folder (and where its Temporal server listens). */
    lease: path.join(work, 'lease.json'),
    /** The workflow working in the folder (status finds runs started elsewhere by it). */
    workflowRecord: path.join(work, 'workflow.json'),
    /** How the last embedded `tessera run` ended (status reads it once the run and its server are gone). */
    outcome: path.join(work, 'outcome.json'),
    /** The embedded run's log: the Temporal SDK's and the workers' messages (the terminal gets one line per failure). */
    log: path.join(work, 'tessera.log'),
    /** The embedded Temporal dev server's state: the run's history survives a crash with it. */
    temporalState: path.join(work, 'temporal', 'state.db'),
    duckdbTemp: path.join(work, 'duckdb-tmp'),
    /**
     * The folder's last finished outputs (manifest, lineage.csv, vectors files), set aside when a
     * run starts over on changed inputs: its extraction copies the vectors of unchanged images from
     * there. Removed once the new manifest is written.
     */
    previousOutput: path.join(work, 'previous'),
    /** Records under work/ that belong to one run (--force removes them; marker, lease and server state stay). */
    runRecords: [
      'plans',
      'shards',
      'attempts',
      'duckdb-tmp',
      'previous',
      'classes.json',
      'split.json',
      'compacted-train.json',
      'compacted-val.json',
    ].map((name) => path.join(work, name)),
    /** The files of one split's extraction: `train` → shards/ and vectors.parquet. */
    split(split: Split) {
      const names = SPLIT_NAMES[split];
      const shards = path.join(out, names.shards);
      return {
        csv: path.join(out, names.csv),
        shards,
        vectors: path.join(out, names.vectors),
        compaction: path.join(work, `compacted-${split}.json`),
        plans: path.join(work, 'plans', split),
        plan: (shard: number) => path.join(work, 'plans', split, `${shardName(shard)}.json`),
        planRejects: path.join(work, 'plans', split, 'rejected.json'),
        parquet: (shard: number) => path.join(shards, `${shardName(shard)}.parquet`),
        reports: path.join(work, 'shards', split),
        report: (shard: number) => path.join(work, 'shards', split, `${shardName(shard)}.json`),
        attempts: (shard: number) => path.join(work, 'attempts', split, `${shardName(shard)}.jsonl`),
      };
    },
  };
}

/** Every file a run reads or writes, from its config. */
export function runLayout(config: RunConfig) {
  // A dataset in object storage stays a URI: its CSV and images are objects under its prefix.
  const remote = isUri(config.data);
  const data = remote ? joinUri(config.data, '') : path.resolve(config.data);
  const inside = (name: string) => (remote ? joinUri(data, name) : path.resolve(data, name));
  return {
    ...outputLayout(config.out),
    data,
    inputCsv: inside(config.csv),
    images: inside(config.images),
    // The default names tessera's own model, wherever the worker was started.
    // (A model in object storage stays a URI: workers copy it to local disk, Stores.localFile.)
    model:
      config.model === DEFAULT_MODEL_FILE
        ? DEFAULT_MODEL
        : isUri(config.model)
          ? config.model
          : path.resolve(config.model),
  };
}

export type OutputLayout = ReturnType<typeof outputLayout>;
export type RunLayout = ReturnType<typeof runLayout>;
export type SplitLayout = ReturnType<OutputLayout['split']>;

/** The names written at the top of the output folder, relative to it, as the manifest lists them (shard folders only when kept). */
export function publishedNames(splits: readonly Split[], { shards = true }: { shards?: boolean } = {}) {
  return {
    training: SPLIT_NAMES.train.csv,
    validation: SPLIT_NAMES.val.csv,
    errors: 'errors.csv',
    classes: 'classes.csv',
    lineage: 'lineage.csv',
    ...(splits.includes('train')
      ? { vectors: SPLIT_NAMES.train.vectors, ...(shards ? { shards: `${SPLIT_NAMES.train.shards}/` } : {}) }
      : {}),
    ...(splits.includes('val')
      ? {
          validationVectors: SPLIT_NAMES.val.vectors,
          ...(shards ? { validationShards: `${SPLIT_NAMES.val.shards}/` } : {}),
        }
      : {}),
  };
}
