import path from 'node:path';
import type { RunConfig } from '../core/run-config.ts';
import { sha256File } from '../core/hashing.ts';
import { openImageSource } from '../extract/image-source.ts';
import { firstChangedImage } from '../extract/lineage.ts';
import { sha256OfInput } from '../storage/input-copy.ts';
import { withStores, type Stores } from '../storage/open-store.ts';
import { openCsv } from '../pandas/csv.ts';
import type { RunLayout } from '../run-folder/layout.ts';
import { ManifestSchema, type Manifest } from '../run-folder/records.ts';
import { readRecord, RecordFormatError } from '../run-folder/records-io.ts';
import { readRunOptionsIfAny, runOptionChanges, runOptionsOf } from '../run-folder/run-options-record.ts';
import { begin } from '../core/timeline.ts';

/**
 * Whether an output folder already holds the finished run of exactly these inputs, so that running
 * the same command again has nothing to do. Proven, not assumed: the run's options and model, the
 * input CSV's bytes, every output file's bytes (against manifest.json) and every image's bytes
 * (against lineage.csv, itself one of those outputs) are what they were when the run finished.
 */
export type FinishedRun = { finished: true; manifest: Manifest } | { finished: false; changed?: string };

export function finishedRun(config: RunConfig, layout: RunLayout, stores?: Stores): Promise<FinishedRun> {
  return withStores(stores, (own) => checkFinished(config, layout, own));
}

async function checkFinished(config: RunConfig, layout: RunLayout, stores: Stores): Promise<FinishedRun> {
  // A damaged record is rewritten by the run; one of a format this version does not read refuses the folder.
  const unlessUnread = (error: unknown) => {
    if (error instanceof RecordFormatError) throw error;
    return undefined;
  };
  const manifest = await readRecord(layout.manifest, ManifestSchema).catch(unlessUnread);
  const recorded = manifest && (await readRunOptionsIfAny(layout).catch(unlessUnread));
  if (!manifest || !recorded) return { finished: false };
  // Other options or another model: not this run; the normal path refuses or replaces it.
  const inputs = begin('finished: options, model and input CSV');
  if (runOptionChanges(recorded, await runOptionsOf(config, layout, stores)).length > 0) return { finished: false };
  if ((await sha256OfInput(layout.inputCsv, stores)) !== manifest.input.sha256) {
    return { finished: false, changed: `${layout.inputCsv} changed since the run finished` };
  }
  inputs();
  const outputs = begin('finished: outputs');
  for (const [name, output] of Object.entries(manifest.outputs)) {
    if ((await sha256File(path.join(layout.out, name)).catch(() => null)) !== output.sha256) {
      return { finished: false, changed: `${name} in ${layout.out} changed or is missing since the run finished` };
    }
  }
  outputs();
  const images = begin('finished: images');
  // Only the embedded run asks, whose own command named the data: links may lead anywhere.
  const source = await openImageSource(layout.images, 'anywhere', stores).catch(() => undefined);
  if (!source) return { finished: false, changed: `image folder ${layout.images} is gone` };
  const lineage = await openCsv(layout.lineageCsv);
  const column = (name: string) => lineage.header.indexOf(name);
  const [idColumn, shaColumn, tagColumn] = [column(config.idColumn), column('sha256'), column('etag')];
  // Checked a thousand rows at a time, as they are read: a run of millions of images is never held whole.
  // An image that did not decode (no sha256) must still not decode: it is checked as null.
  let changed: string | undefined;
  let hashed: [string, string | null, string | undefined][] = [];
  for await (const { fields } of lineage.rows) {
    hashed.push([fields[idColumn]!, fields[shaColumn] || null, tagColumn < 0 ? undefined : fields[tagColumn]]);
    if (hashed.length < 1000) continue;
    changed = await firstChangedImage(source, hashed);
    hashed = [];
    if (changed !== undefined) break;
  }
  changed ??= await firstChangedImage(source, hashed);
  images();
  if (changed !== undefined) return { finished: false, changed: `image ${changed} changed since the run finished` };
  return { finished: true, manifest };
}
