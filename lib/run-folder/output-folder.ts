import { isUri } from '../core/uri.ts';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isInside as inside, realPathAllowingMissing as realPathOf } from './confinement.ts';
import { removeTempFilesOf } from './atomic-files.ts';
import { InputError } from '../core/errors.ts';
import { outputLayout, type OutputLayout, type RunLayout } from './layout.ts';
import { FolderMarkerSchema } from './records.ts';
import { writeRecord } from './records-io.ts';
import { TESSERA_VERSION } from '../core/version.ts';

/**
 * tessera writes only into a folder it created (or an empty one it then marks), and removes only
 * the files it writes. A user's own files, in the output folder or anywhere else, are never
 * touched: a foreign folder is refused, and --force clears nothing but tessera's own names.
 */

/** Entries of `.tessera/` that the embedded run's lease may create before the folder is claimed. */
/** What an embedded run writes in .tessera before its preflight claims the folder: lease, server state, log, outcome. */
const LEASE_ENTRIES = /^(lease\.json.*|temporal|tessera\.log|outcome\.json.*)$/;

/** --out must be apart from the inputs: writing there could replace or delete them. */
export async function assertOutputApartFromInputs(layout: RunLayout): Promise<void> {
  // A path this process cannot resolve (no permission) is compared as given; reading it fails later, clearly.
  const resolve = (file: string) => realPathOf(file).catch(() => path.resolve(file));
  const out = await resolve(layout.out);
  const inputs: [string, string][] = [
    ['data folder', layout.data],
    ['image folder', layout.images],
    ['input CSV', layout.inputCsv],
  ];
  for (const [what, file] of inputs) {
    if (isUri(file) !== isUri(layout.out)) continue; // a bucket and a disk never overlap
    const input = await resolve(file);
    if (inside(out, input) || inside(input, out)) {
      const relation = out === input ? 'is' : inside(out, input) ? 'is inside' : 'contains';
      throw new InputError(
        `output folder ${layout.out} ${relation} the ${what} ${file}: choose an --out apart from the inputs`,
      );
    }
  }
}

async function isTesseraWork(layout: OutputLayout): Promise<'marked' | 'lease-only' | 'foreign'> {
  const names = await fs.readdir(layout.work).catch(() => undefined);
  if (!names) return 'foreign';
  if (names.includes(path.basename(layout.marker))) return 'marked';
  return names.every((name) => LEASE_ENTRIES.test(name)) ? 'lease-only' : 'foreign';
}

/**
 * Why tessera may not write into `out`, or undefined when it may: it does not exist, is empty
 * (or holds only the lease of the run now starting), or carries tessera's marker. Reads only;
 * `claimOutputFolder` then writes the marker.
 */
export async function outputFolderRefusal(out: string): Promise<string | undefined> {
  const stat = await fs.stat(out).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new InputError(`output folder ${out} cannot be read: ${error.message}`);
  });
  if (!stat) return undefined;
  if (!stat.isDirectory()) return `output ${out} is a file, not a folder`;
  const names = (await fs.readdir(out)).sort();
  const layout = outputLayout(out);
  const workName = path.basename(layout.work);
  const work = names.includes(workName) ? await isTesseraWork(layout) : undefined;
  if (work === 'marked') return undefined;
  const foreign = names.filter((name) => !(name === workName && work === 'lease-only'));
  if (foreign.length === 0) return undefined;
  const shown = foreign.slice(0, 5).join(', ') + (foreign.length > 5 ? `, and ${foreign.length - 5} more` : '');
  return `output folder ${out} is not empty and was not created by tessera (it holds ${shown}): choose a new or empty folder`;
}

/** Refuses a foreign folder; creates or marks the output folder as tessera's. */
export async function claimOutputFolder(layout: OutputLayout): Promise<void> {
  const refusal = await outputFolderRefusal(layout.out);
  if (refusal) throw new InputError(refusal);
  makeFolders(layout.work, layout.out);
  const marked = await fs.access(layout.marker).then(
    () => true,
    () => false,
  );
  if (!marked)
    await ensureWritable(layout.out, () =>
      writeRecord(layout.marker, FolderMarkerSchema, { tessera: TESSERA_VERSION, createdAt: new Date().toISOString() }),
    );
}

/** Runs `write` into `folder`, turning the usual reasons it cannot be written into a clear error. */
export async function ensureWritable<T>(folder: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    throw outputFolderError(folder, error);
  }
}

/** The output folder cannot be written (read-only, permissions, disk full): no retry helps. */
export class OutputFolderError extends InputError {
  override name = 'OutputFolderError';
}

const WRITE_CAUSES: Record<string, string> = {
  EROFS: 'it is on a read-only file system',
  EACCES: 'it is not writable by this user',
  EPERM: 'it is not writable by this user',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
  ENOTDIR: 'a part of its path is a file, not a folder',
  EEXIST: 'a file is in the way of a folder',
};

/** An fs error while writing into the output folder, as a message naming the folder and the cause; other errors unchanged. */
export function outputFolderError(out: string, error: unknown): Error {
  const { code, path: at } = error as NodeJS.ErrnoException;
  const cause = code ? WRITE_CAUSES[code] : undefined;
  if (!cause) return error as Error;
  return new OutputFolderError(`cannot write to output folder ${out}: ${cause} (${code}${at ? ` at ${at}` : ''})`);
}

/**
 * mkdir -p one level at a time: node's recursive mkdir reports a read-only file system as
 * ENOENT, which hides the cause.
 */
export function makeFolders(dir: string, out: string): void {
  const missing: string[] = [];
  for (let current = path.resolve(dir); !fsSync.existsSync(current); current = path.dirname(current)) {
    missing.unshift(current);
    if (path.dirname(current) === current) break;
  }
  for (const folder of missing) {
    try {
      fsSync.mkdirSync(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && fsSync.statSync(folder).isDirectory()) continue;
      throw outputFolderError(out, error);
    }
  }
}

/** Shard files and their attempts' temporary files: `shard-00012.parquet[.PID-HEX.tmp]`. */
const SHARD_FILE = /^shard-\d{5,}\.parquet(\.\d+-[0-9a-f]{8}\.tmp)?$/;

/** The files tessera writes at the top of an output folder. */
function topLevelFiles(layout: OutputLayout): string[] {
  return [
    layout.trainingCsv,
    layout.validationCsv,
    layout.classesCsv,
    layout.errorsCsv,
    layout.manifest,
    layout.lineageCsv,
    layout.split('train').vectors,
    layout.split('val').vectors,
    layout.report,
  ];
}

/** Temporary files of attempts killed before their rename, beside the top-level outputs. */
export async function removeTopLevelTempFiles(layout: OutputLayout): Promise<void> {
  await removeTempFilesOf(
    layout.out,
    topLevelFiles(layout).map((file) => path.basename(file)),
  );
}

/**
 * Moves the folder's finished outputs (manifest.json first: from then on nothing at the top
 * vouches for them) into .tessera/previous, as a reuse source for the run that replaces them.
 * A crash part-way leaves there a manifest without its vectors, which reuse verification skips;
 * files are never paired with another run's manifest, because the set replaces what was there.
 */
export async function setAsideFinishedOutputs(layout: OutputLayout): Promise<void> {
  if (
    !(await fs.stat(layout.manifest).then(
      () => true,
      () => false,
    ))
  )
    return;
  const aside = outputLayout(layout.previousOutput);
  await fs.rm(layout.previousOutput, { recursive: true, force: true });
  await fs.mkdir(layout.previousOutput, { recursive: true });
  await fs.rename(layout.manifest, aside.manifest);
  const moves: [string, string][] = [
    [layout.lineageCsv, aside.lineageCsv],
    [layout.split('train').vectors, aside.split('train').vectors],
    [layout.split('val').vectors, aside.split('val').vectors],
  ];
  for (const [from, to] of moves) {
    await fs.rename(from, to).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  // What described the moved files goes with them: the compaction records and the report page.
  for (const file of [layout.split('train').compaction, layout.split('val').compaction, layout.report])
    await fs.rm(file, { force: true });
}

/**
 * Takes back what vouches for the folder's finished state (manifest.json, lineage.csv, and the
 * split's vectors file with its compaction record) before anything it describes is replaced: a
 * crash from then on leaves no manifest or vectors file that speaks for other inputs.
 */
export async function withdrawPublishedOutputs(layout: OutputLayout, split: 'train' | 'val'): Promise<void> {
  // The report describes the run being replaced: it goes with the manifest.
  for (const file of [
    layout.manifest,
    layout.lineageCsv,
    layout.report,
    layout.split(split).compaction,
    layout.split(split).vectors,
  ]) {
    await fs.rm(file, { force: true });
  }
}

/** The shard files (and temporary ones) of a split's shard folder; the folder too, unless it holds anything else. */
export async function removeShardFiles(shards: string): Promise<void> {
  const names = await fs.readdir(shards).catch(() => undefined);
  if (!names) return;
  for (const name of names.filter((n) => SHARD_FILE.test(n) || (n.startsWith('shard-') && n.endsWith('.tmp'))))
    await fs.rm(path.join(shards, name), { force: true });
  await fs.rmdir(shards).catch(() => undefined);
}

/**
 * --force: removes an earlier run's outputs, and only them: tessera's own file names at the top,
 * shard files in shards/ (the folder only if then empty), and its records in .tessera/. The
 * embedded server's state, the lease and the marker stay.
 */
export async function removeOwnOutputs(layout: OutputLayout): Promise<void> {
  for (const file of topLevelFiles(layout)) await fs.rm(file, { force: true });
  await removeTopLevelTempFiles(layout);
  for (const split of ['train', 'val'] as const) await removeShardFiles(layout.split(split).shards);
  for (const record of layout.runRecords) await fs.rm(record, { recursive: true, force: true });
}
