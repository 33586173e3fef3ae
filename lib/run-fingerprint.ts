import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from './config.ts';
import { InputError } from './errors.ts';
import { readJsonIfExists, writeJsonAtomic } from './atomic-files.ts';
import { runLayout } from './run-layout.ts';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Options that change what a run writes; the rest (parallelism, force) do not. */
const OUTPUT_FIELDS = [
  'data', 'csv', 'images', 'idColumn', 'classColumn', 'imgSize', 'valSamples', 'seed', 'output',
  'shardSize', 'executionProvider', 'normalize', 'splits',
] as const;

export interface RunFingerprint {
  config: Partial<Record<(typeof OUTPUT_FIELDS)[number], unknown>>;
  modelSha256: string;
}

export async function fingerprintOf(config: RunConfig): Promise<RunFingerprint> {
  const layout = runLayout(config);
  let modelSha256: string;
  try {
    modelSha256 = await sha256File(layout.model);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? `model file ${layout.model} does not exist` : `cannot read model file ${layout.model}: ${(error as Error).message}`);
  }
  const normalized = { ...config, data: layout.data };
  return { config: Object.fromEntries(OUTPUT_FIELDS.map((field) => [field, normalized[field]])), modelSha256 };
}

/** Everything a run derived in its output folder, except the embedded server's state. */
async function removeRunOutputs(config: RunConfig): Promise<void> {
  const layout = runLayout(config);
  const derived = [
    layout.trainingCsv, layout.validationCsv, layout.errorsCsv, layout.manifest, layout.classesCsv,
    layout.split('train').vectors, layout.split('val').vectors, layout.split('train').shards, layout.split('val').shards,
    layout.classMapping, path.join(layout.work, 'plans'), path.join(layout.work, 'shards'),
  ];
  for (const target of derived) await fs.rm(target, { recursive: true, force: true });
}

/**
 * An output folder belongs to one run: the same options and model resume it; different ones are
 * refused (their shards would mix with this run's) unless `force`, which clears the old outputs.
 */
export async function claimOutputFolder(config: RunConfig): Promise<void> {
  const layout = runLayout(config);
  const file = path.join(layout.work, 'run.json');
  const current = await fingerprintOf(config);
  const previous = (await readJsonIfExists(file)) as RunFingerprint | undefined;
  if (previous && JSON.stringify(previous) !== JSON.stringify(current)) {
    const changed = OUTPUT_FIELDS.filter((f) => JSON.stringify(previous.config[f]) !== JSON.stringify(current.config[f])).map(String);
    if (previous.modelSha256 !== current.modelSha256) changed.push('model (sha256)');
    if (!config.force) {
      throw new InputError(
        `output folder ${layout.out} holds another run's files (different ${changed.join(', ')}): ` +
          'use another --out, or --force to replace them',
      );
    }
    await removeRunOutputs(config);
  }
  await fs.mkdir(layout.work, { recursive: true });
  await writeJsonAtomic(file, current);
}

/** The fingerprint preflight recorded for this output folder (model hash included). */
export async function readFingerprint(config: RunConfig): Promise<RunFingerprint> {
  const file = path.join(runLayout(config).work, 'run.json');
  const fingerprint = (await readJsonIfExists(file)) as RunFingerprint | undefined;
  if (!fingerprint) throw new Error(`${file} is missing: preflight did not finish`);
  return fingerprint;
}
