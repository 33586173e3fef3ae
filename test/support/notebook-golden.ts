/**
 * The notebook method's tile vectors of test/fixtures/golden/notebook-data, committed in
 * test/fixtures/golden/notebook-features.json by infra/make-golden.sh (see infra/make_golden.py:
 * pandas split, PIL decode, x / 255, the default model's levels 4 and 2 at 64 pixels).
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import type { ReferenceRow } from './vectors.ts';

export const GOLDEN_DIR = path.join(PROJECT_ROOT, 'test', 'fixtures', 'golden');
export const NOTEBOOK_DATA = path.join(GOLDEN_DIR, 'notebook-data');
export const NOTEBOOK_FEATURES = path.join(GOLDEN_DIR, 'notebook-features.json');

export const NotebookFeaturesSchema = z.object({
  engine: z.string(),
  model: z.string(),
  modelSha256: z.string().length(64),
  imgSize: z.number().int(),
  seed: z.number().int(),
  valSamples: z.number().int(),
  levels: z.record(
    z.string(),
    z.object({
      channels: z.number().int(),
      rows: z.array(
        z.object({
          file: z.string(),
          target: z.number().int(),
          x: z.number().int(),
          y: z.number().int(),
          vector: z.string(),
        }),
      ),
    }),
  ),
});
export type NotebookFeatures = z.infer<typeof NotebookFeaturesSchema>;

export function readNotebookFeatures(file = NOTEBOOK_FEATURES): NotebookFeatures {
  return NotebookFeaturesSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
}

/** One level's rows with their vectors decoded (little-endian float32, as numpy wrote them). */
export function referenceRows(features: NotebookFeatures, level: number): ReferenceRow[] {
  const rows = features.levels[String(level)]?.rows ?? [];
  return rows.map(({ vector, ...row }) => {
    const bytes = Buffer.from(vector, 'base64');
    return { ...row, vector: new Float32Array(Uint8Array.from(bytes).buffer) };
  });
}
