import fs from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../core/errors.ts';
import { outputLayout, type OutputLayout } from '../run-folder/layout.ts';
import { ClassMappingSchema, ManifestSchema, type Manifest } from '../run-folder/records.ts';
import { readRecord, RunFolderRecordError } from '../run-folder/records-io.ts';

/**
 * What the report reads from an output folder, checked before anything is computed: the folder
 * must hold a finished run (manifest.json, written last) and the files its manifest names. When
 * it does not, the message names the folder and what is missing.
 */

export class NotAFinishedRunError extends InputError {
  override name = 'NotAFinishedRunError';
}

export interface ReportInputs {
  layout: OutputLayout;
  manifest: Manifest;
  /** vectors.parquet, or null when the run extracted only the validation split. */
  vectors: string | null;
  validationVectors: string | null;
  /** Class value (as written in the CSVs) of each target. */
  classLabels: Map<number, string>;
}

async function kind(file: string): Promise<'file' | 'folder' | 'missing'> {
  const stat = await fs.stat(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  return stat === undefined ? 'missing' : stat.isDirectory() ? 'folder' : 'file';
}

export async function readReportInputs(out: string): Promise<ReportInputs> {
  const layout = outputLayout(out);
  const folder = await kind(layout.out);
  if (folder !== 'folder')
    throw new NotAFinishedRunError(
      `${layout.out} ${folder === 'missing' ? 'does not exist' : 'is a file, not an output folder'}`,
    );
  let manifest: Manifest | undefined;
  try {
    manifest = await readRecord(layout.manifest, ManifestSchema);
  } catch (error) {
    if (error instanceof RunFolderRecordError)
      throw new NotAFinishedRunError(`${layout.out} is not a finished run that tessera can read: ${error.message}`);
    throw error;
  }
  if (!manifest) {
    const started = (await kind(layout.marker)) === 'file' || (await kind(layout.runOptions)) === 'file';
    throw new NotAFinishedRunError(
      started
        ? `${layout.out} holds a tessera run that has not finished: manifest.json is missing (a run writes it last; ` +
            `\`tessera status --out ${layout.out}\` says where it stands, the same \`tessera run\` command resumes it)`
        : `${layout.out} is not a tessera output folder: it has no manifest.json (nor .tessera/folder.json); ` +
            'give the --out folder of a finished `tessera run`',
    );
  }
  const named = (name: string | undefined) => (name === undefined ? null : path.join(layout.out, name));
  const vectors = named(manifest.files.vectors);
  const validationVectors = named(manifest.files.validationVectors);
  for (const file of [vectors, validationVectors, layout.errorsCsv]) {
    if (file !== null && (await kind(file)) !== 'file') {
      throw new NotAFinishedRunError(
        `${layout.out} is not a complete finished run: ${path.basename(file)}, which its manifest.json lists, is missing`,
      );
    }
  }
  return { layout, manifest, vectors, validationVectors, classLabels: await classLabels(layout) };
}

/** Target → class value, from .tessera/classes.json; a folder without it shows targets as they are. */
async function classLabels(layout: OutputLayout): Promise<Map<number, string>> {
  const mapping = await readRecord(layout.classMapping, ClassMappingSchema).catch(() => undefined);
  const labels = new Map<number, string>();
  for (const [value, target] of Object.entries(mapping?.targets ?? {})) labels.set(target, value);
  return labels;
}
