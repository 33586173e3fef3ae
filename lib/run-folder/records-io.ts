import type { z } from 'zod';
import { InputError } from '../core/errors.ts';
import { readJsonIfExists, writeJsonAtomic, writeJsonAtomicSync } from './atomic-files.ts';
import type { OutputLayout } from './layout.ts';
import {
  ClassMappingSchema,
  CompactionRecordSchema,
  FolderMarkerSchema,
  ManifestSchema,
  RunOptionsRecordSchema,
  SplitRecordSchema,
  WorkflowRecordSchema,
} from './records.ts';

/**
 * Typed reads and writes of the records in records.ts: what is read back is parsed by its schema
 * (never cast), and what is written is parsed first, so it carries its format version.
 */

/** A record that is damaged, or of a format this version does not read: no retry repairs it. */
export class RunFolderRecordError extends InputError {
  override name = 'RunFolderRecordError';
}

/**
 * A record of a format this version does not read (none recorded: a pre-release version's; another
 * number: another version's). The folder is refused as it is: nothing in it is rewritten or removed,
 * --force included (docs/compatibility.md).
 */
export class RecordFormatError extends RunFolderRecordError {
  override name = 'RecordFormatError';
}

function formatProblem(file: string, raw: unknown, error?: z.ZodError): RecordFormatError | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  if (!('format' in raw))
    return new RecordFormatError(
      `${file} records no format version, which this tessera version does not read (written by a pre-release version): use that version, or another --out`,
    );
  if (error?.issues.some((issue) => issue.path[0] === 'format'))
    return new RecordFormatError(
      `${file} is of format ${JSON.stringify(raw.format)}, which this tessera version does not read (written by another version): use that version, or another --out`,
    );
  return undefined;
}

function damaged(file: string, error: z.ZodError): RunFolderRecordError {
  const first = error.issues[0];
  const where = first && first.path.length > 0 ? ` at ${first.path.join('.')}` : '';
  return new RunFolderRecordError(
    `${file} is not a tessera record of its kind (damaged?${where}: ${first?.message ?? 'invalid'}): remove it, or use another --out`,
  );
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
  const unread = formatProblem(file, raw);
  if (unread) throw unread;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw formatProblem(file, raw, parsed.error) ?? damaged(file, parsed.error);
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

/**
 * Refuses, naming the file, a folder holding a record of a format this version does not read,
 * before anything in it is written or removed (a resumed run, --force, keepRuns). A damaged
 * record is left to the step that writes it again.
 */
export async function refuseUnreadRecords(layout: OutputLayout): Promise<void> {
  const records: [string, z.ZodType][] = [
    [layout.marker, FolderMarkerSchema],
    [layout.runOptions, RunOptionsRecordSchema],
    [layout.splitRecord, SplitRecordSchema],
    [layout.classMapping, ClassMappingSchema],
    [layout.workflowRecord, WorkflowRecordSchema],
    [layout.manifest, ManifestSchema],
    [layout.split('train').compaction, CompactionRecordSchema],
    [layout.split('val').compaction, CompactionRecordSchema],
  ];
  for (const [file, schema] of records) {
    await readRecord(file, schema).catch((error: unknown) => {
      if (error instanceof RecordFormatError) throw error;
    });
  }
}
