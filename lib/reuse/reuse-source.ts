import path from 'node:path';
import type { Split } from '../core/run-config.ts';
import { errorMessage } from '../core/errors.ts';
import { sha256File } from '../core/hashing.ts';
import { openCsv } from '../pandas/csv.ts';
import { readParquetFooter } from '../parquet/concatenate.ts';
import { outputLayout, publishedNames } from '../run-folder/layout.ts';
import { extractionKeyChanges, ManifestSchema, type ExtractionKey } from '../run-folder/records.ts';
import { readRecord } from '../run-folder/records-io.ts';

/**
 * An earlier output folder checked before any of its vectors is copied (`--reuse DIR`): it is a
 * finished run (manifest.json), its lineage.csv and vectors file are the ones its manifest hashed,
 * the vectors file's footer holds the rows and vector width the manifest counts, and the images it
 * offers come from shards extracted under exactly this run's extraction key (model, output, size,
 * normalisation, preprocessing, occlusion, provider, onnxruntime, sharp and libvips versions).
 */
export interface ReuseSource {
  folder: string;
  vectors: string;
  tilesPerImage: number;
  channels: number;
  /** Source images by lookup key (reuseLookupKey) → their ordinal in the source's split. */
  ordinals: Map<string, number>;
  /**
   * Images its run read from object storage, by id: the sha256 and ETag of the version hashed, so
   * that an unchanged object is looked up by a HEAD rather than downloaded again.
   */
  hashed: Map<string, { sha256: string; tag: string }>;
}

export type OpenedSource = { source: ReuseSource } | { skipped: string };

/**
 * What identifies an image's vectors under one key: its bytes, and for validation images their id
 * too, because the occlusion hole is drawn from the seed and the image id (image/occlusion.ts).
 */
export function reuseLookupKey(split: Split, sha256: string, imageId: string): string {
  return split === 'val' ? `${sha256}\0${imageId}` : sha256;
}

/**
 * `folder` as a source of `split`'s vectors under `key`, or why not. With `index: false` it is only
 * verified (its lineage hashed, not parsed): the images are looked up by each worker's own index.
 */
export async function openReuseSource(
  folder: string,
  split: Split,
  key: ExtractionKey,
  { index = true } = {},
): Promise<OpenedSource> {
  const layout = outputLayout(folder);
  const skip = (why: string): OpenedSource => ({
    skipped: `reuse source ${layout.out} skipped for ${split === 'train' ? 'training' : 'validation'} images: ${why}`,
  });
  let manifest;
  try {
    manifest = await readRecord(layout.manifest, ManifestSchema);
  } catch (error) {
    return skip(`its manifest.json is unreadable (${errorMessage(error)})`);
  }
  if (!manifest) return skip('it has no manifest.json (not a finished tessera run)');

  const vectorsName = manifest.files[split === 'train' ? 'vectors' : 'validationVectors'];
  const recorded = vectorsName === undefined ? undefined : manifest.outputs[vectorsName];
  if (vectorsName === undefined || recorded?.rows === undefined)
    return skip(`it holds no ${split === 'train' ? 'training' : 'validation'} vectors`);
  const shards = new Set(
    manifest.shards
      .filter((shard) => shard.split === split && extractionKeyChanges(shard.key, key).length === 0)
      .map((shard) => shard.shard),
  );
  if (shards.size === 0) {
    const other = manifest.shards.find((shard) => shard.split === split)?.key;
    return skip(
      other
        ? `made under another extraction key (${extractionKeyChanges(other, key).join(', ')} differ)`
        : `its manifest records no ${split === 'train' ? 'training' : 'validation'} shards`,
    );
  }

  const vectors = path.join(layout.out, vectorsName);
  const { tilesPerImage, channels } = manifest.counts;
  try {
    const footer = await readParquetFooter(vectors);
    if (Number(footer.num_rows) !== recorded.rows)
      return skip(`${vectorsName} holds ${footer.num_rows} rows, its manifest ${recorded.rows}`);
    const vector = footer.schema.find((element) => element.name === 'vector');
    if (vector?.type_length !== channels * 4)
      return skip(
        `${vectorsName}'s vectors are ${vector?.type_length ?? '?'} bytes, its manifest says ${channels} channels`,
      );
  } catch (error) {
    return skip(`${vectorsName} is not a readable Parquet file (${errorMessage(error)})`);
  }
  // Hashed whole (~0.1 s per 170 MB here): its images' pages are copied as they are, without
  // being decoded, so a damaged byte would otherwise pass into the new output unseen.
  if ((await sha256File(vectors).catch(() => null)) !== recorded.sha256)
    return skip(`${vectorsName} does not match its manifest (changed or damaged)`);

  const lineageSha256 = manifest.outputs[publishedNames([split]).lineage]?.sha256;
  const actual = await sha256File(layout.lineageCsv).catch(() => null);
  if (actual === null) return skip('its lineage.csv is missing');
  if (actual !== lineageSha256) return skip('its lineage.csv does not match its manifest (changed or damaged)');

  const ordinals = new Map<string, number>();
  const hashed = new Map<string, { sha256: string; tag: string }>();
  const source = { folder: layout.out, vectors, tilesPerImage, channels, ordinals, hashed };
  if (!index) return { source };
  const { rows } = await openCsv(layout.lineageCsv);
  for await (const { fields } of rows) {
    // split, shard, ordinal, <id column>, target, sha256[, etag] (manifest.ts)
    const [rowSplit, shard, ordinal, imageId, , sha256, tag] = fields as [
      string,
      string,
      string,
      string,
      string,
      string,
      string?,
    ];
    if (rowSplit !== split || sha256 === '' || !shards.has(Number(shard))) continue;
    const lookup = reuseLookupKey(split, sha256, imageId);
    if (!ordinals.has(lookup)) ordinals.set(lookup, Number(ordinal));
    if (tag && !hashed.has(imageId)) hashed.set(imageId, { sha256, tag });
  }
  return { source };
}
