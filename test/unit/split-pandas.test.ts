/**
 * tessera's split against the notebook's pandas split (bench/reference/pandas_split.py), byte for
 * byte, on the committed golden file (test/support/split-golden.ts). The million-row case is
 * test/integration/split-streamed.test.ts (its CSV alone takes seconds to make).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { parseRunConfig } from '../../lib/core/run-config.ts';
import { prepareSplit } from '../../lib/split/prepare-split.ts';
import { ClassMappingSchema } from '../../lib/run-folder/records.ts';
import { runLayout } from '../../lib/run-folder/layout.ts';
import { tempDir } from '../support/environment.ts';
import { CLASS_COLUMN_CASES, PLAIN_CASES, splitCases } from '../support/split-cases.ts';
import { pandasSplit, splitLikePandas } from '../support/split-golden.ts';

const cases = new Map(splitCases().map((c) => [c.name, c]));
let dir: string;

before(() => {
  dir = tempDir('split');
});

for (const c of PLAIN_CASES) {
  test(`training.csv and validation.csv are byte-identical to pandas (${JSON.stringify(c)})`, async () => {
    const splitCase = cases.get(`plain-${c.rows}-${c.seed}-${c.valSamples}`)!;
    if (c.valSamples === 1) {
      const sizes = new Map<string, number>();
      for (const line of splitCase.csv().trim().split('\n').slice(1))
        sizes.set(line.split(',')[1]!, (sizes.get(line.split(',')[1]!) ?? 0) + 1);
      assert.ok([...sizes.values()].includes(1), 'the case includes classes with a single row');
    }
    const { summary } = await splitLikePandas(dir, splitCase);
    assert.equal(summary.trainingRows + summary.validationRows, c.rows);
  });
}

for (const stringClasses of [false, true]) {
  test(`typed extra columns and ${stringClasses ? 'string' : 'integer'} class ids are written byte-identical to pandas`, async () => {
    const { config } = await splitLikePandas(dir, cases.get(`typed-${stringClasses ? 'string' : 'integer'}`)!);
    const classes = fs.readFileSync(path.join(config.out, 'classes.csv'), 'utf8');
    if (stringClasses)
      assert.match(classes, /^target,hotel_id\n0,Tulip\n1,daisy\n/, 'string classes get codes in pandas group order');
    else assert.match(classes, /^target,hotel_id\n0,0\n1,1\n/);
  });
}

for (const { name } of CLASS_COLUMN_CASES) {
  test(`a class column of ${name} is split byte-identical to pandas, one code per pandas group`, async () => {
    const { config, expected } = await splitLikePandas(dir, cases.get(`classes-${name.replaceAll(/\W+/g, '-')}`)!);
    // pandas' validation.csv holds one row per group, in group order: those are the codes 0…K−1.
    const pandasGroups = expected.validationClasses!;
    const mapping = ClassMappingSchema.parse(JSON.parse(fs.readFileSync(runLayout(config).classMapping, 'utf8')));
    assert.deepEqual(
      { mode: mapping.mode, targets: mapping.targets },
      { mode: 'codes', targets: Object.fromEntries(pandasGroups.map((key, code) => [key, code])) },
    );
  });
}

test('a class smaller than valSamples fails naming the class, as pandas refuses it', async () => {
  const small = cases.get('small-class')!;
  const caseDir = path.join(dir, small.name);
  fs.mkdirSync(caseDir, { recursive: true });
  fs.writeFileSync(path.join(caseDir, 'train.csv'), small.csv());
  const parsed = parseRunConfig({ data: caseDir, out: path.join(caseDir, 'out'), valSamples: small.valSamples });
  assert.ok(parsed.ok);
  await assert.rejects(prepareSplit(parsed.config), /class "2" has 1 row\(s\), fewer than valSamples=2/);
  const pandas = pandasSplit(small.name);
  assert.ok('error' in pandas, 'pandas refused it too');
  assert.match(pandas.error, /larger sample than population/);
});
