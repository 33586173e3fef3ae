import fs from 'node:fs/promises';
import type { RunConfig } from '../core/run-config.ts';
import { InputError } from '../core/errors.ts';
import { sha256File } from '../core/hashing.ts';
import { isUri } from '../core/uri.ts';
import { withStores, type Stores } from '../storage/open-store.ts';
import type { OutputLayout, RunLayout } from './layout.ts';
import { removeOwnOutputs } from './output-folder.ts';
import { RunOptionsRecordSchema, type RunOptionsRecord } from './records.ts';
import { readRecord, requireRecord, writeRecord } from './records-io.ts';

/**
 * Options that change what a run writes. The data's location and content (data, csv, images) are
 * not among them: a data change is never refused, because shard lineage re-extracts exactly what
 * it changed. Parallelism and force change nothing that is written.
 */
export const OUTPUT_OPTIONS = [
  'idColumn',
  'classColumn',
  'imgSize',
  'valSamples',
  'seed',
  'output',
  'shardSize',
  'executionProvider',
  'normalize',
  'splits',
] as const;

async function modelHash(model: string, stores: Stores): Promise<string> {
  if (isUri(model)) return (await stores.localFile(model, 'model file')).sha256;
  try {
    return await sha256File(model);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      code === 'ENOENT'
        ? `model file ${model} does not exist`
        : `cannot read model file ${model}: ${(error as Error).message}`,
    );
  }
}

export async function runOptionsOf(config: RunConfig, layout: RunLayout, stores?: Stores): Promise<RunOptionsRecord> {
  const modelSha256 = await withStores(stores, (own) => modelHash(layout.model, own));
  return { format: 1, config: Object.fromEntries(OUTPUT_OPTIONS.map((field) => [field, config[field]])), modelSha256 };
}

/** The options (and the model) in which two records differ, as `seed (42 → 7)`. */
export function runOptionChanges(previous: RunOptionsRecord, current: RunOptionsRecord): string[] {
  const changed: string[] = [];
  for (const field of OUTPUT_OPTIONS) {
    const [was, now] = [JSON.stringify(previous.config[field]), JSON.stringify(current.config[field])];
    if (was !== now) changed.push(`${field} (${was ?? 'unset'} → ${now})`);
  }
  if (previous.modelSha256 !== current.modelSha256)
    changed.push(`model (sha256 ${previous.modelSha256.slice(0, 12)}… → ${current.modelSha256.slice(0, 12)}…)`);
  return changed;
}

export function readRunOptionsIfAny(layout: OutputLayout): Promise<RunOptionsRecord | undefined> {
  return readRecord(layout.runOptions, RunOptionsRecordSchema);
}

/**
 * An output folder holds one run's options and model: the same ones resume it (whatever its data
 * now holds); different ones are refused, naming what differs, unless `force`, which removes the
 * old run's files (only the files tessera writes) first.
 */
export async function claimRunOptions(
  config: RunConfig,
  layout: RunLayout,
  stores?: Stores,
): Promise<RunOptionsRecord> {
  const current = await runOptionsOf(config, layout, stores);
  const previous = await readRunOptionsIfAny(layout);
  const changed = previous ? runOptionChanges(previous, current) : [];
  if (changed.length > 0) {
    if (!config.force) {
      throw new InputError(
        `output folder ${layout.out} holds a run with other options: ${changed.join(', ')}. ` +
          'Use the same options, another --out, or --force to replace that run',
      );
    }
    await removeOwnOutputs(layout);
  }
  await fs.mkdir(layout.work, { recursive: true });
  return writeRecord(layout.runOptions, RunOptionsRecordSchema, current);
}

/** The options and model sha256 preflight recorded for this output folder. */
export function readRunOptions(layout: OutputLayout): Promise<RunOptionsRecord> {
  return requireRecord(layout.runOptions, RunOptionsRecordSchema, 'preflight');
}
