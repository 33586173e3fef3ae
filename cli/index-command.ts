import path from 'node:path';
import { InputError } from '../lib/core/errors.ts';
import { buildIndex } from '../lib/search/build-index.ts';
import { IndexSettingsSchema, type IndexSettings } from '../lib/search/records.ts';
import { UsageError } from './run-options.ts';
import { parseCommandArgs, usageOf } from './usage.ts';

/** The flags that choose how an index is built (tessera index, and run --index). */
export const INDEX_SETTING_FLAGS = {
  metric: { type: 'string' },
  'index-precision': { type: 'string' },
  connectivity: { type: 'string' },
  'expansion-add': { type: 'string' },
  'expansion-search': { type: 'string' },
} as const;

/** A command's one output folder, from its positionals: none or several is a usage error. */
export function oneOutputFolder(command: string, positionals: string[]): string {
  if (positionals.length !== 1)
    throw new UsageError(
      `${positionals.length === 0 ? 'needs the output folder of a finished run' : `takes one output folder, got ${positionals.join(', ')}`}\n\n${usageOf(command)}`,
    );
  return positionals[0]!;
}

/** A flag's whole number, or undefined when it was not given. */
export function wholeNumber(flag: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min)
    throw new UsageError(`--${flag} ${value}: expected a whole number, at least ${min}`);
  return number;
}

export function indexSettingsFrom(values: Partial<Record<keyof typeof INDEX_SETTING_FLAGS, string>>): IndexSettings {
  const parsed = IndexSettingsSchema.safeParse({
    metric: values.metric,
    precision: values['index-precision'],
    connectivity: wholeNumber('connectivity', values.connectivity),
    expansionAdd: wholeNumber('expansion-add', values['expansion-add']),
    expansionSearch: wholeNumber('expansion-search', values['expansion-search']),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`index settings: ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Runs a search command, telling an InputError (no index, a stale one, a query that is not an
 * image) as one line, `tessera COMMAND: why`, with exit 1: the user's input, not tessera's fault.
 */
export async function tellingInputErrors(command: string, work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    process.stderr.write(`tessera ${command}: ${error.message}\n`);
    return 1;
  }
}

const megabytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** `tessera index OUT`: builds the index of a finished output's vectors (or says it is current). */
export function indexCommand(args: string[]): Promise<number> {
  return tellingInputErrors('index', () => indexOutput(args));
}

async function indexOutput(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'index',
    args,
    { ...INDEX_SETTING_FLAGS, threads: { type: 'string' }, json: { type: 'boolean' } },
    { allowPositionals: true },
  );
  const out = oneOutputFolder('index', positionals);
  const settings = indexSettingsFrom(values);
  const started = performance.now();
  const { record, built } = await buildIndex(out, settings, { threads: wholeNumber('threads', values.threads) });
  const seconds = (performance.now() - started) / 1000;
  if (values.json) {
    const summary = { built, ...record, seconds: built ? record.seconds : seconds, images: record.images.length };
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    return 0;
  }
  const s = record.settings;
  const vectorBytes = record.entries * record.dimensions * { f32: 4, f16: 2, i8: 1 }[s.precision];
  process.stdout.write(
    [
      built
        ? `tessera index: ${record.entries} tiles indexed in ${seconds.toFixed(1)} s (${(record.entries / seconds).toFixed(0)} tiles/s)`
        : `tessera index: up to date (it indexes vectors.parquet sha256 ${record.vectors.sha256.slice(0, 12)}… with these settings)`,
      `  settings   ${s.metric}, ${s.precision}, connectivity ${s.connectivity}, expansion add ${s.expansionAdd} / search ${s.expansionSearch}`,
      `  size       ${megabytes(record.indexBytes)}: vectors ${megabytes(vectorBytes)} + graph and keys ` +
        `${megabytes(record.indexBytes - vectorBytes)} (vectors.parquet ${megabytes(record.vectors.bytes)})`,
      `  output     ${path.join(path.resolve(out), record.indexFile)}`,
    ].join('\n') + '\n',
  );
  return 0;
}
