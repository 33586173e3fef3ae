import fs from 'node:fs/promises';
import { InputError } from '../core/errors.ts';
import { sha256File } from '../core/hashing.ts';
import { TESSERA_VERSION } from '../core/version.ts';
import { readRecord, writeRecord } from '../run-folder/records-io.ts';
import { ManifestSchema } from '../run-folder/records.ts';
import { annNeighbours } from './ann-engine.ts';
import { exactNearest } from './exact-search.ts';
import { keyLookup, openIndex, type OpenedIndex } from './open-index.ts';
import { EvaluationSchema, searchLayout, type Evaluation } from './records.ts';
import { streamTilePages, vectorsFooter } from './tile-stream.ts';
import { averagePrecisionAt5, rankByVotes, recallAtK, VOTE_RULE } from './votes.ts';

export const DEFAULT_NEIGHBOURS = 10;
export const DEFAULT_RECALL_IMAGES = 5;
export const DEFAULT_RECALL_K = 10;

export interface EvaluateOptions {
  /** Another output folder whose vectors.parquet holds labelled queries made with the same settings. */
  queries?: string;
  /** k of the vote rule: neighbours per query tile. */
  neighbours?: number;
  /** Query images whose tiles are also searched exactly, for the ANN's recall. */
  recallImages?: number;
  recallK?: number;
  threads?: number;
  onProgress?: (progress: { images: number }) => void;
}

/** One query image: its tiles' vectors and its class. */
export interface QueryImage {
  ordinal: number;
  file: string;
  target: number;
  vectors: Float32Array;
}

/**
 * The query images of a vectors file, one at a time, its rows grouped by image (i / tiles): the
 * file is read page by page, so a large query set is never held.
 */
export async function* queryImages(file: string, tilesPerImage: number): AsyncGenerator<QueryImage> {
  let current: { ordinal: number; file: string; target: number; rows: Float32Array[] } | undefined;
  const finish = (image: NonNullable<typeof current>): QueryImage => {
    const dimensions = image.rows[0]!.length;
    const vectors = new Float32Array(image.rows.length * dimensions);
    image.rows.forEach((row, r) => vectors.set(row, r * dimensions));
    return { ordinal: image.ordinal, file: image.file, target: image.target, vectors };
  };
  for await (const page of streamTilePages(file)) {
    for (let row = 0; row < page.keys.length; row++) {
      const ordinal = Math.floor(page.keys[row]! / tilesPerImage);
      if (current && current.ordinal !== ordinal) yield finish(current);
      if (!current || current.ordinal !== ordinal)
        current = { ordinal, file: page.files[row]!, target: page.targets[row]!, rows: [] };
      current.rows.push(page.vectors.subarray(row * page.dimensions, (row + 1) * page.dimensions));
    }
  }
  if (current) yield finish(current);
}

/** The vectors file of the queries: the run's own occluded validation images, or another output's vectors. */
async function queryFile(opened: OpenedIndex, queries: string | undefined): Promise<string> {
  if (queries === undefined) {
    const file = opened.layout.validationVectors;
    await fs.access(file).catch(() => {
      throw new InputError(
        `${opened.layout.out} has no validation-vectors.parquet: evaluate a run made with --splits train,val, or give --queries DIR`,
      );
    });
    return file;
  }
  const other = searchLayout(queries);
  const manifest = await readRecord(other.manifest, ManifestSchema);
  if (!manifest) throw new InputError(`--queries ${other.out} holds no finished run (no manifest.json)`);
  const differs = ['imgSize', 'output', 'normalize'].filter(
    (field) => JSON.stringify(manifest.config[field]) !== JSON.stringify(opened.manifest.config[field]),
  );
  if (manifest.model.sha256 !== opened.manifest.model.sha256) differs.push('model');
  if (differs.length > 0)
    throw new InputError(
      `--queries ${other.out} was extracted with another ${differs.join(', ')}: its vectors do not compare`,
    );
  return other.vectors;
}

/** Evenly spread ordinals among `count` query images: those whose recall is measured. */
function recallSample(count: number, wanted: number): Set<number> {
  const stride = Math.max(1, Math.floor(count / Math.max(1, wanted)));
  return new Set(Array.from({ length: Math.min(wanted, count) }, (_, n) => n * stride));
}

/**
 * Scores the output's index on labelled queries and writes evaluation.json: MAP@5 (Hotel-ID's)
 * and top-1 of the classes ranked by the vote rule, and the ANN's recall@k against exact search
 * on every tile of a few query images.
 */
export async function evaluateOutput(outFolder: string, options: EvaluateOptions = {}): Promise<Evaluation> {
  const started = performance.now();
  const { neighbours = DEFAULT_NEIGHBOURS, recallImages = DEFAULT_RECALL_IMAGES, recallK = DEFAULT_RECALL_K } = options;
  const opened = await openIndex(outFolder);
  const { record } = opened;
  const file = await queryFile(opened, options.queries);
  const lookup = keyLookup(opened);
  const totalImages = Math.ceil((await vectorsFooter(file)).rows / record.tilesPerImage);
  const sampled = recallSample(totalImages, recallImages);
  const sample: Float32Array[] = [];
  let ap = 0;
  let top1 = 0;
  let images = 0;
  for await (const query of queryImages(file, record.tilesPerImage)) {
    const ranking = rankByVotes(annNeighbours(opened.index, query.vectors, neighbours, options.threads), lookup, 5);
    const ranked = ranking.classes.map((c) => c.target);
    ap += averagePrecisionAt5(ranked, query.target);
    if (ranked[0] === query.target) top1++;
    if (sampled.has(images)) sample.push(query.vectors);
    images++;
    options.onProgress?.({ images });
  }
  if (images === 0) throw new InputError(`${file} holds no query images`);
  const recall = await measureRecall(opened, sample, recallK, options.threads);
  return await writeRecord(opened.layout.evaluation, EvaluationSchema, {
    tessera: TESSERA_VERSION,
    evaluatedAt: new Date().toISOString(),
    queries: { file, sha256: await sha256File(file), images },
    index: { vectorsSha256: record.vectors.sha256, settings: record.settings, entries: record.entries },
    vote: { rule: VOTE_RULE, neighbours },
    map5: ap / images,
    top1: top1 / images,
    recall: { k: recallK, images: sample.length, tiles: recall.tiles, value: recall.value },
    seconds: (performance.now() - started) / 1000,
  });
}

/** recall@k of the index against exact search, over every tile of the sampled query images. */
export async function measureRecall(
  opened: OpenedIndex,
  sample: readonly Float32Array[],
  k: number,
  threads?: number,
): Promise<{ value: number; tiles: number }> {
  const dimensions = opened.record.dimensions;
  const queries = new Float32Array(sample.reduce((sum, v) => sum + v.length, 0));
  let at = 0;
  for (const vectors of sample) {
    queries.set(vectors, at);
    at += vectors.length;
  }
  if (queries.length === 0) return { value: 1, tiles: 0 };
  const exact = await exactNearest(opened.layout.vectors, queries, dimensions, k, opened.record.settings.metric);
  const ann = annNeighbours(opened.index, queries, k, threads);
  return { value: recallAtK(ann, exact, k), tiles: queries.length / dimensions };
}
