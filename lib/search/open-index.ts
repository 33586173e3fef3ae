import fs from 'node:fs/promises';
import type { Index } from 'usearch';
import { InputError } from '../core/errors.ts';
import { sha256File } from '../core/hashing.ts';
import { readRecord } from '../run-folder/records-io.ts';
import { ManifestSchema } from '../run-folder/records.ts';
import { viewIndex } from './ann-engine.ts';
import { IndexRecordSchema, searchLayout, type IndexedImage, type IndexRecord, type SearchLayout } from './records.ts';
import type { KeyLookup } from './votes.ts';

/** An index that does not hold the output's vectors as they are now: it is never queried. */
export class StaleIndexError extends InputError {
  override name = 'StaleIndexError';
}

export interface OpenedIndex {
  index: Index;
  record: IndexRecord;
  layout: SearchLayout;
  manifest: NonNullable<Awaited<ReturnType<typeof readManifest>>>;
  /** An indexed image by its ordinal (key / tiles per image). */
  images: Map<number, IndexedImage>;
}

function readManifest(file: string) {
  return readRecord(file, ManifestSchema);
}

/**
 * The output's index, memory-mapped for queries, after checking that it is current: its record
 * names the sha256 of vectors.parquet as it is now (hashed here, never taken from a date or a
 * size), its file has the size recorded, and the manifest names the same model. The report,
 * which reads the outputs as the manifest lists them, gives the manifest's sha256 instead
 * (`vectorsSha256`), so a large file is not hashed to draw a page.
 */
export async function openIndex(
  outFolder: string,
  { vectorsSha256: known }: { vectorsSha256?: string } = {},
): Promise<OpenedIndex> {
  const layout = searchLayout(outFolder);
  const manifest = await readManifest(layout.manifest);
  if (!manifest) throw new InputError(`${layout.out} holds no finished run (no manifest.json)`);
  const record = await readRecord(layout.indexRecord, IndexRecordSchema);
  if (!record) throw new InputError(`${layout.out} has no index: build it with \`tessera index ${layout.out}\``);
  const vectorsSha256 = known ?? (await sha256File(layout.vectors).catch(() => 'missing'));
  if (vectorsSha256 !== record.vectors.sha256)
    throw new StaleIndexError(
      `${layout.indexFile} is stale: it indexes vectors.parquet sha256 ${record.vectors.sha256.slice(0, 12)}…, ` +
        `the folder's is ${vectorsSha256.slice(0, 12)}…; rebuild it with \`tessera index ${layout.out}\``,
    );
  if (record.modelSha256 !== manifest.model.sha256)
    throw new StaleIndexError(`${layout.indexFile} was built for another run's model: rebuild it`);
  const size = await fs.stat(layout.indexFile).then(
    (s) => s.size,
    () => -1,
  );
  if (size !== record.indexBytes)
    throw new StaleIndexError(
      `${layout.indexFile} is ${size < 0 ? 'missing' : `${size} bytes, its record says ${record.indexBytes}`}: rebuild it`,
    );
  const index = viewIndex(layout.indexFile, record.dimensions, record.settings);
  return { index, record, layout, manifest, images: new Map(record.images.map((image) => [image[0], image])) };
}

/** What the vote rule needs to turn the index's keys back into images and grid cells. */
export function keyLookup({ images, record }: OpenedIndex): KeyLookup {
  return { images, tilesPerImage: record.tilesPerImage, grid: record.grid, metric: record.settings.metric };
}
