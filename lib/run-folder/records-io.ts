import type { z } from 'zod';
import { InputError } from '../core/errors.ts';
import { readJsonIfExists, writeJsonAtomic, writeJsonAtomicSync } from './atomic-files.ts';

/**
 * Typed reads and writes of the records in records.ts: what is read back is parsed by its schema
 * (never cast), and what is written is parsed first, so it carries its format version.
 */

/** A record that is damaged, or of a format this version does not read: no retry repairs it. */
export class RunFolderRecordError extends InputError {
  override name = 'RunFolderRecordError';
}

function describeProblem(file: string, raw: unknown, error: z.ZodError): string {
  const written = typeof raw === 'object' && raw !== null && 'format' in raw ? raw.format : undefined;
  const formatIssue = error.issues.find((issue) => issue.path[0] === 'format');
  if (formatIssue && typeof written === 'number') {
    return `${file} is of format ${written}, which this tessera version does not read (written by another version): use that version, or another --out`;
  }
  const first = error.issues[0];
  const where = first && first.path.length > 0 ? ` at ${first.path.join('.')}` : '';
  return `${file} is not a tessera record of its kind (damaged?${where}: ${first?.message ?? 'invalid'}): remove it, or use another --out`;
}

/** The record in `file`, or undefined when there is none. */
export async function readRecord<S extends z.ZodType>(file: string, schema: S): Promise<z.output<S> | undefined> {
  let raw: unknown;
  try {
    raw = await readJsonIfExists(file);
  } catch (error) {
    throw new RunFolderRecordError(
      `${file} cannot be read as JSON (${(error as Error).message}): remove it, or use another --out`,
    );
  }
  if (raw === undefined) return undefined;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new RunFolderRecordError(describeProblem(file, raw, parsed.error));
  return parsed.data;
}

/** The record a finished step wrote: its absence means that step did not finish. */
export async function requireRecord<S extends z.ZodType>(
  file: string,
  schema: S,
  writtenBy: string,
): Promise<z.output<S>> {
  const record = await readRecord(file, schema);
  if (record === undefined) throw new Error(`${file} is missing: ${writtenBy} did not finish`);
  return record;
}

/** Parses `value` by its schema (adding its format version) and writes it atomically. */
export async function writeRecord<S extends z.ZodType>(
  file: string,
  schema: S,
  value: z.input<S>,
): Promise<z.output<S>> {
  const record = schema.parse(value);
  await writeJsonAtomic(file, record);
  return record;
}

/** writeRecord for a process about to exit, whose pending promises would never settle. */
export function writeRecordSync<S extends z.ZodType>(file: string, schema: S, value: z.input<S>): z.output<S> {
  const record = schema.parse(value);
  writeJsonAtomicSync(file, record);
  return record;
}
