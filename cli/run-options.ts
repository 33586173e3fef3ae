import { z } from 'zod';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { StringValue } from '@temporalio/common';
import { RunConfigSchema, parseRunConfig, type RunConfig } from '../lib/core/run-config.ts';
import { DEFAULT_MODEL } from '../lib/core/project-paths.ts';
import { isUri, joinUri } from '../lib/core/uri.ts';
import { uriNotSupported } from '../lib/run-folder/confinement.ts';

export const configKeys = Object.keys(RunConfigSchema.shape) as (keyof typeof RunConfigSchema.shape)[];

export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Options whose values are folders: given relative to the caller's directory, sent absolute. */
const PATH_OPTIONS = ['data', 'out', 'model', 'reuse'] as const;

/**
 * parseArgs option specs for every schema field: `--kebab-case VALUE`, a bare switch for booleans,
 * and repeatable for lists (`--reuse A --reuse B`, `--splits train,val`).
 */
export function configFlagSpecs(): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const isBoolean = (key: (typeof configKeys)[number]) => RunConfigSchema.shape[key].safeParse(true).success;
  return Object.fromEntries(
    configKeys.map((key) => [
      kebabCase(key),
      isBoolean(key)
        ? { type: 'boolean' }
        : takesArrays(RunConfigSchema.shape[key])
          ? { type: 'string', multiple: true }
          : { type: 'string' },
    ]),
  );
}

function takesArrays(field: {
  safeParse(value: unknown): { success: boolean; error?: { issues: { code: string }[] } };
}): boolean {
  // An array field accepts [] or refuses it only for its length; any other field refuses its type.
  const result = field.safeParse([]);
  return result.success || result.error!.issues.every((i) => i.code === 'too_small');
}

/**
 * A numeric flag becomes a number when the field takes numbers (`--output 4` is level 4, while
 * `--csv 2024.csv` stays text); an out-of-range number is then reported by the schema as such.
 */
function flagValue(key: (typeof configKeys)[number], text: string): unknown {
  const field = RunConfigSchema.shape[key];
  if (takesArrays(field))
    return (PATH_OPTIONS as readonly string[]).includes(key) ? [text] : text.split(',').map((item) => item.trim()); // --splits train,val
  const asNumber = Number(text);
  if (text.trim() === '' || !Number.isFinite(asNumber)) return text;
  const result = field.safeParse(asNumber);
  const takesNumbers =
    result.success || !result.error.issues.some((i) => i.code === 'invalid_type' || i.code === 'invalid_union');
  return takesNumbers ? asNumber : text;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The text of an s3:// config file, fetched before the config is built (buildRunConfig is
 * synchronous); undefined for a local file, which buildRunConfig reads itself. The AWS SDK loads
 * only here, when a config lives in a bucket.
 */
export async function readConfigText(configFile: string | undefined): Promise<string | undefined> {
  if (!configFile || !isUri(configFile)) return undefined;
  const [{ withStores }, { parseLocation }] = await Promise.all([
    import('../lib/storage/open-store.ts'),
    import('../lib/storage/location.ts'),
  ]);
  try {
    const location = parseLocation(configFile);
    if (location.kind !== 's3') throw new Error('only s3:// URIs name a config file in a bucket');
    const bytes = await withStores(undefined, (stores) => stores.openS3(location).read(''));
    if (bytes === undefined) throw new Error('no such object');
    return Buffer.from(bytes).toString('utf8');
  } catch (error) {
    throw new UsageError(`cannot read config file ${configFile}: ${(error as Error).message}`);
  }
}

/**
 * The run config from (lowest to highest precedence) the schema defaults, `--config FILE` and
 * flags, validated by the one schema. Paths become absolute against the caller's directory,
 * because workers may run elsewhere; the default model is tessera's own exported model.
 */
export function buildRunConfig(
  flags: Record<string, string | boolean | (string | boolean)[] | undefined>,
  configFile?: string,
  /** The file's text when it was read already: an s3:// config (readConfigText). */
  configText?: string,
): RunConfig {
  let fromFile: Record<string, unknown> = {};
  if (configFile) {
    let text: string;
    try {
      text = configText ?? fs.readFileSync(configFile, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read config file ${configFile}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`config file ${configFile} is not valid JSON: ${(error as Error).message}`);
    }
    const object = z.record(z.string(), z.unknown()).safeParse(parsed);
    if (!object.success || Array.isArray(parsed))
      throw new UsageError(`config file ${configFile} must hold a JSON object of run options`);
    fromFile = object.data;
  }
  const fromFlags: Record<string, unknown> = {};
  for (const key of configKeys) {
    const value = flags[kebabCase(key)];
    if (typeof value === 'string') fromFlags[key] = flagValue(key, value);
    if (Array.isArray(value))
      fromFlags[key] = value.flatMap((text) =>
        typeof text === 'string' ? (flagValue(key, text) as unknown[]) : [text],
      );
    if (typeof value === 'boolean') fromFlags[key] = value;
  }
  const merged: Record<string, unknown> = { model: DEFAULT_MODEL, ...fromFile, ...fromFlags };
  // Relative paths in a config file are relative to it: its folder, or its prefix in a bucket.
  const base =
    configFile && fromFile
      ? isUri(configFile)
        ? configFile.slice(0, configFile.lastIndexOf('/'))
        : path.dirname(path.resolve(configFile))
      : process.cwd();
  const resolve = (from: string, value: string) =>
    isUri(value) || (isUri(from) && path.isAbsolute(value))
      ? value
      : isUri(from)
        ? joinUri(from, value)
        : path.resolve(from, value);
  for (const key of PATH_OPTIONS) {
    const value = merged[key];
    // Said now, before anything starts (a URI would otherwise become a folder named `s3:`).
    for (const text of Array.isArray(value) ? value : [value])
      if (typeof text === 'string' && isUri(text) && key !== 'data' && key !== 'model')
        throw new UsageError(uriNotSupported(`--${key}`, text).message);
    const from = key in fromFlags ? process.cwd() : base;
    if (typeof value === 'string' && value !== '') merged[key] = resolve(from, value);
    if (Array.isArray(value))
      merged[key] = value.map((item: unknown) =>
        typeof item === 'string' && item !== '' ? resolve(from, item) : item,
      );
  }
  const missing = configKeys.filter(
    (key) => merged[key] === undefined && !RunConfigSchema.shape[key].safeParse(undefined).success,
  );
  if (missing.length > 0)
    throw new UsageError(
      missing.map((key) => `--${kebabCase(key)} is required`).join('; ') +
        ` (or ${missing.map((key) => JSON.stringify(key)).join(', ')} in --config)`,
    );
  const parsed = parseRunConfig(merged);
  if (!parsed.ok)
    throw new UsageError(parsed.message.replace(/\b([a-z]+[A-Z]\w*)(?=:)/g, (m) => `${m} (--${kebabCase(m)})`));
  return parsed.config;
}

/**
 * The parser Temporal's SDK reads durations with (`ms`, pinned to the SDK's version), loaded by
 * require: its package.json `exports` hide its type declarations from NodeNext resolution.
 */
const ms: (value: StringValue) => number = createRequire(import.meta.url)('ms');

/** A duration flag checked before anything is sent: `90s`, `15m`, `24h`, `7d`, `1 day`. */
export function durationFlag(name: string, text: string, options: { allowZero?: boolean } = {}): number {
  // The `ms` package is the one Temporal's SDK parses durations with: what passes here, it reads alike.
  let millis = Number.NaN;
  try {
    millis = ms(text as StringValue);
  } catch {
    // an empty string: reported below
  }
  if (Number.isNaN(millis))
    throw new UsageError(`--${name} must be a duration such as 30m, 24h or 7d, got ${JSON.stringify(text)}`);
  if (!(millis > 0) && !(options.allowZero && millis === 0))
    throw new UsageError(`--${name} must be longer than 0, got ${JSON.stringify(text)}`);
  return millis;
}
