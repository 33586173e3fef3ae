import fs from 'node:fs';
import { isUri } from '../lib/core/uri.ts';
import type { RunConfig } from '../lib/core/run-config.ts';
import { runLayout } from '../lib/run-folder/layout.ts';
import { UsageError } from './run-options.ts';

function kindOf(file: string): 'file' | 'folder' | 'missing' {
  try {
    return fs.statSync(file).isDirectory() ? 'folder' : 'file';
  } catch {
    return 'missing';
  }
}

/**
 * What an embedded run reads, checked before anything starts (no server, no workflow, nothing
 * written under --out): the dataset folder, its CSV and image folder, and the model file, each
 * named in the words preflight and the split use when they find it missing later (a folder that
 * goes away during the run). Only local paths: a dataset in object storage is asked by the run.
 * Links are followed, as the run follows them.
 */
export function refuseMissingInputs(config: RunConfig): void {
  const layout = runLayout(config);
  if (!isUri(config.data)) {
    if (kindOf(layout.data) !== 'folder')
      throw new UsageError(`dataset folder ${layout.data} does not exist or is not a folder`);
    const csv = kindOf(layout.inputCsv);
    if (csv === 'missing') throw new UsageError(`input CSV ${layout.inputCsv} does not exist`);
    if (csv === 'folder') throw new UsageError(`input CSV ${layout.inputCsv} is a folder, not a file`);
    if (kindOf(layout.images) !== 'folder')
      throw new UsageError(`image folder ${layout.images} does not exist or is not a folder`);
  }
  if (isUri(layout.model)) return; // asked of the store by the run, as a dataset there is
  const model = kindOf(layout.model);
  if (model === 'missing') throw new UsageError(`model file ${layout.model} does not exist`);
  if (model === 'folder') throw new UsageError(`model file ${layout.model} is a folder, not a file`);
}
