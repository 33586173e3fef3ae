import path from 'node:path';
import { z } from 'zod';
import { outputLayout } from '../run-folder/layout.ts';

/**
 * The search records of an output folder: the index's record (`index/index.json`, beside the index
 * file) and the evaluation (`evaluation.json`). Each carries a `format` version, read and written by
 * run-folder/records-io.ts like every other record, so another version's file is refused by name.
 */

const format = <N extends number>(n: N) => z.literal(n).default(n);

export const METRICS = ['cos', 'l2', 'ip'] as const;
export type Metric = (typeof METRICS)[number];
export const PRECISIONS = ['f32', 'f16', 'i8'] as const;
export type Precision = (typeof PRECISIONS)[number];

/**
 * How the index is built. Connectivity is HNSW's M (neighbours per node), the expansions its
 * ef_construction and ef_search. The defaults were measured on flowers17-256 (76,160 tiles of 320,
 * docs/search.md): expansion 32 when adding builds about four times faster than usearch's own
 * 128; searching with 160 then keeps recall@10 against exact search above 0.95 over 1,280 query
 * tiles (0.955 to 0.959 in three builds; 128 gave 0.943 to 0.947) for a fifth more time per query.
 */
export const IndexSettingsSchema = z
  .object({
    metric: z.enum(METRICS).default('cos'),
    precision: z.enum(PRECISIONS).default('f16'),
    connectivity: z.number().int().min(2).max(256).default(16),
    expansionAdd: z.number().int().min(1).max(4096).default(32),
    expansionSearch: z.number().int().min(1).max(4096).default(160),
  })
  .refine((s) => s.precision !== 'i8' || s.metric === 'cos', {
    message: 'i8 precision is only exact enough with the cos metric (usearch scales i8 for unit vectors)',
    path: ['precision'],
  });
export type IndexSettings = z.output<typeof IndexSettingsSchema>;

/** One indexed training image: the row ordinal its tiles' keys come from (key = i = ordinal × tiles + tile). */
export const IndexedImageSchema = z.tuple([
  z.number().int(), // ordinal in training.csv
  z.string(), // file (image id)
  z.number().int(), // target
]);
export type IndexedImage = z.infer<typeof IndexedImageSchema>;

/**
 * index/index.json: the index file's lineage (the sha256 of the vectors file it holds and the
 * settings it was built with) and what a query needs to read a key back (tiles per image, grid,
 * each image's file and target). Written after the index file is published: an index without its
 * record, or whose record names other vectors bytes, is never used.
 */
export const IndexRecordSchema = z.object({
  format: format(1),
  tessera: z.string(),
  engine: z.object({ name: z.literal('usearch'), version: z.string() }),
  builtAt: z.string(),
  seconds: z.number(),
  vectors: z.object({ file: z.string(), sha256: z.string(), rows: z.number().int(), bytes: z.number().int() }),
  /** The model the vectors were made with (manifest.json's): queries must go through the same bytes. */
  modelSha256: z.string(),
  settings: IndexSettingsSchema,
  dimensions: z.number().int(),
  tilesPerImage: z.number().int(),
  grid: z.tuple([z.number().int(), z.number().int()]),
  entries: z.number().int(),
  indexFile: z.string(),
  indexBytes: z.number().int(),
  images: z.array(IndexedImageSchema),
});
export type IndexRecord = z.infer<typeof IndexRecordSchema>;

/** evaluation.json: how well the vectors and the index answer the run's own validation queries. */
export const EvaluationSchema = z.object({
  format: format(1),
  tessera: z.string(),
  evaluatedAt: z.string(),
  /** The queries' vectors file and its sha256, and the index's record it was scored against. */
  queries: z.object({ file: z.string(), sha256: z.string(), images: z.number().int() }),
  index: z.object({ vectorsSha256: z.string(), settings: IndexSettingsSchema, entries: z.number().int() }),
  vote: z.object({ rule: z.string(), neighbours: z.number().int() }),
  /** Hotel-ID's MAP@5 over the queries' ranked classes (up to five distinct, 1/rank of the first right one). */
  map5: z.number(),
  top1: z.number(),
  /** ANN recall@k against tessera's exact search, over every tile of `recall.images` sampled queries. */
  recall: z.object({ k: z.number().int(), images: z.number().int(), tiles: z.number().int(), value: z.number() }),
  seconds: z.number(),
});
export type Evaluation = z.infer<typeof EvaluationSchema>;

/** Where an output folder keeps its index, its record and its evaluation. */
export function searchLayout(outFolder: string) {
  const output = outputLayout(outFolder);
  const dir = path.join(output.out, 'index');
  return {
    out: output.out,
    vectors: output.split('train').vectors,
    validationVectors: output.split('val').vectors,
    manifest: output.manifest,
    indexDir: dir,
    indexFile: path.join(dir, 'tiles.usearch'),
    indexRecord: path.join(dir, 'index.json'),
    evaluation: path.join(output.out, 'evaluation.json'),
  };
}
export type SearchLayout = ReturnType<typeof searchLayout>;
