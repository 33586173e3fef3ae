import path from 'node:path';
import sharp from 'sharp';
import { errorMessage } from '../core/errors.ts';
import { decodeRgbWithSharp } from '../image/decode.ts';
import { openImageSource, readImage, type ImageSource } from '../extract/image-source.ts';
import { Stores } from '../storage/open-store.ts';
import { applyOcclusion, occlusionFor } from '../image/occlusion.ts';
import { readRecord } from '../run-folder/records-io.ts';
import type { Manifest } from '../run-folder/records.ts';
import { annNeighbours } from '../search/ann-engine.ts';
import { DEFAULT_NEIGHBOURS, queryImages } from '../search/evaluate.ts';
import { keyLookup, openIndex } from '../search/open-index.ts';
import {
  EvaluationSchema,
  IndexRecordSchema,
  searchLayout,
  type Evaluation,
  type IndexRecord,
} from '../search/records.ts';
import { rankByVotes, VOTE_RULE } from '../search/votes.ts';
import type { ExampleQuery, SearchSummary, Thumbnail } from './report-data.ts';

/**
 * The report's search section: the index's record and the evaluation when they exist, each said
 * current or not against the vectors the manifest lists (compared by sha256, never by date), and a
 * few occluded validation queries with their nearest training images, ranked by the vote rule on
 * the index, as `tessera search` ranks them. The queries are the vectors the run extracted (no
 * model is loaded), the first image of each of the first few classes in validation-vectors.parquet,
 * which is read only that far.
 */

export const EXAMPLE_QUERIES = 4;
/** Nearest training images shown per query. */
export const EXAMPLE_IMAGES = 4;
const THUMBNAIL_PIXELS = 96;

/** A record that cannot be read (damaged, another format) is reported as such, not as the page's end. */
async function readOrProblem<T>(read: () => Promise<T | undefined>, problems: string[]): Promise<T | null> {
  try {
    return (await read()) ?? null;
  } catch (error) {
    problems.push(errorMessage(error));
    return null;
  }
}

export async function summariseSearch(out: string, manifest: Manifest): Promise<SearchSummary> {
  const layout = searchLayout(out);
  const problems: string[] = [];
  const record = await readOrProblem(() => readRecord(layout.indexRecord, IndexRecordSchema), problems);
  const evaluation = await readOrProblem(() => readRecord(layout.evaluation, EvaluationSchema), problems);
  const vectorsSha256 = manifest.outputs['vectors.parquet']?.sha256;
  const indexCurrent = record !== null && record.vectors.sha256 === vectorsSha256;
  let examples: ExampleQuery[] = [];
  if (indexCurrent && manifest.files.validationVectors !== undefined)
    examples = await exampleQueries(out, manifest, vectorsSha256!).catch((error: unknown) => {
      problems.push(`the example queries: ${errorMessage(error)}`);
      return [];
    });
  return {
    index: record && { ...indexFigures(record), current: indexCurrent },
    evaluation: evaluation && { ...evaluation, current: evaluationCurrent(evaluation, manifest) },
    voteRule: VOTE_RULE,
    examples,
    problems,
  };
}

function indexFigures(record: IndexRecord) {
  const { entries, indexBytes, settings, builtAt, seconds, engine, dimensions, images } = record;
  return { entries, indexBytes, settings, builtAt, seconds, engine, dimensions, images: images.length };
}

/** Scored on the vectors the manifest lists now, and on the run's own validation vectors as they are. */
function evaluationCurrent(evaluation: Evaluation, manifest: Manifest): boolean {
  const own = manifest.outputs['validation-vectors.parquet']?.sha256;
  const queriesCurrent =
    path.basename(evaluation.queries.file) !== 'validation-vectors.parquet' || evaluation.queries.sha256 === own;
  return evaluation.index.vectorsSha256 === manifest.outputs['vectors.parquet']?.sha256 && queriesCurrent;
}

async function exampleQueries(out: string, manifest: Manifest, vectorsSha256: string): Promise<ExampleQuery[]> {
  const opened = await openIndex(out, { vectorsSha256 });
  const { record } = opened;
  const lookup = keyLookup(opened);
  // Where the run read its images: a folder (links followed, as the embedded run follows them) or an s3:// prefix.
  const stores = new Stores();
  const images = await openImageSource(manifest.input.images, 'anywhere', stores).catch((error: unknown) => error);
  try {
    const size = Number(manifest.config.imgSize);
    const seed = Number(manifest.config.seed);
    const examples: ExampleQuery[] = [];
    const classes = new Set<number>();
    for await (const query of queryImages(opened.layout.validationVectors, record.tilesPerImage)) {
      if (classes.has(query.target)) continue;
      classes.add(query.target);
      const ranking = rankByVotes(
        annNeighbours(opened.index, query.vectors, DEFAULT_NEIGHBOURS),
        lookup,
        EXAMPLE_IMAGES,
      );
      examples.push({
        file: query.file,
        target: query.target,
        // As the run extracted it: resized to the model's input and occluded by its seed.
        thumbnail: await thumbnail(images, query.file, { size, seed }),
        classes: ranking.classes,
        images: await Promise.all(
          ranking.images.map(async (image) => ({
            file: image.file,
            target: image.target,
            score: image.score,
            matchedTiles: image.matches.length,
            thumbnail: await thumbnail(images, image.file),
          })),
        ),
      });
      if (examples.length === EXAMPLE_QUERIES) break;
    }
    return examples;
  } finally {
    stores.close();
  }
}

/**
 * A small JPEG of an image as a data: URI, or why there is none (the image moved since the run,
 * say). `occluded`: the validation query as the model saw it.
 */
async function thumbnail(
  images: ImageSource | unknown,
  imageId: string,
  occluded?: { size: number; seed: number },
): Promise<Thumbnail> {
  try {
    if (!isImageSource(images)) throw images;
    const file = Buffer.from(await readImage(images, imageId));
    let image = sharp(file);
    if (occluded) {
      const rgb = await decodeRgbWithSharp(file, occluded.size);
      applyOcclusion(rgb, occluded.size, occlusionFor(occluded.seed, imageId, occluded.size));
      image = sharp(rgb, { raw: { width: occluded.size, height: occluded.size, channels: 3 } });
    }
    const jpeg = await image
      .resize(THUMBNAIL_PIXELS, THUMBNAIL_PIXELS, { fit: 'cover' })
      .jpeg({ quality: 70 })
      .toBuffer();
    return { src: `data:image/jpeg;base64,${jpeg.toString('base64')}` };
  } catch (error) {
    return { missing: `no picture: ${errorMessage(error)}` };
  }
}

function isImageSource(value: unknown): value is ImageSource {
  return typeof value === 'object' && value !== null && 'currentHash' in value;
}
