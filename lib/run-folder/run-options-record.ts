import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { RunConfig } from '../core/run-config.ts';
import { InputError } from '../core/errors.ts';
import { readJsonIfExists, writeJsonAtomic } from './atomic-files.ts';
import { sha256File } from '../extract/lineage.ts';
import { removeOwnOutputs } from './output-folder.ts';
import { runLayout } from './layout.ts';

/**
 * Options that change what a run writes. The data's location and content (data, csv, images) are
 * not among them: a data change is never refused, because shard lineage re-extracts exactly what
 * it changed. Parallelism and force change nothing that is written.
 */
export const OUTPUT_OPTIONS = [
  'idColumn', 'classColumn', 'imgSize', 'valSamples', 'seed', 'output', 'shardSize', 'executionProvider', 'normalize', 'splits',
] as const;

/** .tessera/run.json. Folders of earlier versions also hold data, csv and images in `config`: ignored. */
const RunFingerprintSchema = z.object({
  config: z.record(z.string(), z.unknown()),
  modelSha256: z.string(),
});
export type RunFingerprint = z.infer<typeof RunFingerprintSchema>;

async function modelHash(model: string): Promise<string> {
  try {
    return await sha256File(model);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? `model file ${model} does not exist` : `cannot read model file ${model}: ${(error as Error).message}`);
  }
}

export async function fingerprintOf(config: RunConfig): Promise<RunFingerprint> {
  const modelSha256 = await modelHash(runLayout(config).model);
  return { config: Object.fromEntries(OUTPUT_OPTIONS.map((field) => [field, config[field]])), modelSha256 };
}

/** The options (and the model) in which two fingerprints differ, as `seed (42 → 7)`. */
export function fingerprintChanges(previous: RunFingerprint, current: RunFingerprint): string[] {
  const changed: string[] = [];
  for (const field of OUTPUT_OPTIONS) {
    const [was, now] = [JSON.stringify(previous.config[field]), JSON.stringify(current.config[field])];
    if (was !== now) changed.push(`${field} (${was ?? 'unset'} → ${now})`);
  }
  if (previous.modelSha256 !== current.modelSha256) changed.push(`model (sha256 ${previous.modelSha256.slice(0, 12)}… → ${current.modelSha256.slice(0, 12)}…)`);
  return changed;
}

function fingerprintFile(config: RunConfig): string {
  return path.join(runLayout(config).work, 'run.json');
}

export async function readFingerprintIfAny(config: RunConfig): Promise<RunFingerprint | undefined> {
  const file = fingerprintFile(config);
  const raw = await readJsonIfExists(file);
  if (raw === undefined) return undefined;
  const parsed = RunFingerprintSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(`${file} is not a tessera run record (damaged?): remove it, or use another --out`);
  return parsed.data;
}

/**
 * An output folder holds one run's options and model: the same ones resume it (whatever its data
 * now holds); different ones are refused, naming what differs, unless `force`, which removes the
 * old run's files (only the files tessera writes) first.
 */
export async function claimRunOptions(config: RunConfig): Promise<RunFingerprint> {
  const layout = runLayout(config);
  const current = await fingerprintOf(config);
  const previous = await readFingerprintIfAny(config);
  const changed = previous ? fingerprintChanges(previous, current) : [];
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
  await writeJsonAtomic(fingerprintFile(config), current);
  return current;
}

/** The fingerprint preflight recorded for this output folder (model hash included). */
export async function readFingerprint(config: RunConfig): Promise<RunFingerprint> {
  const fingerprint = await readFingerprintIfAny(config);
  if (!fingerprint) throw new Error(`${fingerprintFile(config)} is missing: preflight did not finish`);
  return fingerprint;
}
