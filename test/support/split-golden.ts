/**
 * What pandas made of each split case (test/support/split-cases.ts), as committed in
 * test/fixtures/golden/split-pandas.json by infra/make-golden.sh; `npm run test:fidelity` makes it
 * again with pandas and checks that it has not moved. Lets the split be checked without Python.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseRunConfig } from '../../lib/core/run-config.ts';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { prepareSplit } from '../../lib/split/prepare-split.ts';
import type { SplitCase } from './split-cases.ts';

const PandasFileSchema = z.object({ sha256: z.string().length(64), lines: z.number().int() });
const PandasCaseSchema = z.union([
  z.object({ error: z.string() }),
  z.object({
    'training.csv': PandasFileSchema,
    'validation.csv': PandasFileSchema,
    validationClasses: z.array(z.string()).optional(),
  }),
]);
export const SplitGoldenSchema = z.object({ pandas: z.string(), cases: z.record(z.string(), PandasCaseSchema) });

export const SPLIT_GOLDEN = path.join(PROJECT_ROOT, 'test', 'fixtures', 'golden', 'split-pandas.json');
let golden: z.infer<typeof SplitGoldenSchema> | undefined;

/** pandas' output for the case `name`, or the error it raised. */
export function pandasSplit(name: string) {
  golden ??= SplitGoldenSchema.parse(JSON.parse(fs.readFileSync(SPLIT_GOLDEN, 'utf8')));
  const expected = golden.cases[name];
  assert.ok(expected, `${SPLIT_GOLDEN} has no case ${name}: run bash infra/make-golden.sh`);
  return expected;
}

/** Splits the case with tessera into DIR/<case>/ours; both files must be what pandas wrote, byte for byte. */
export async function splitLikePandas(dir: string, splitCase: SplitCase) {
  const caseDir = path.join(dir, splitCase.name);
  fs.mkdirSync(caseDir, { recursive: true });
  fs.writeFileSync(path.join(caseDir, 'train.csv'), splitCase.csv());
  const parsed = parseRunConfig({
    data: caseDir,
    out: path.join(caseDir, 'ours'),
    seed: splitCase.seed,
    valSamples: splitCase.valSamples,
  });
  assert.ok(parsed.ok);
  const summary = await prepareSplit(parsed.config);
  const expected = pandasSplit(splitCase.name);
  assert.ok(!('error' in expected), `pandas refused ${splitCase.name}: ${JSON.stringify(expected)}`);
  for (const file of ['training.csv', 'validation.csv'] as const) {
    const ours = fs.readFileSync(path.join(caseDir, 'ours', file));
    const lines = ours.toString('utf8').split('\n').length - 1;
    assert.equal(lines, expected[file].lines, `${file}: ${lines} lines, pandas wrote ${expected[file].lines}`);
    assert.equal(createHash('sha256').update(ours).digest('hex'), expected[file].sha256, `${file} differs from pandas`);
  }
  return { config: parsed.config, summary, expected };
}
