import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { before, test } from 'node:test';
import { parseRunConfig } from '../../lib/core/run-config.ts';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { planShards } from '../../lib/plan/plan-shards.ts';
import { prepareSplit } from '../../lib/split/prepare-split.ts';
import { ClassMappingSchema } from '../../lib/run-folder/records.ts';
import { runLayout } from '../../lib/run-folder/layout.ts';
import { PYTHON, requireSetup, tempDir } from '../support/environment.ts';

const run = promisify(execFile);
let dir: string;

/** A CSV with unsorted rows, uneven classes (some of one row), extra and quoted columns. */
function makeCsv(rows: number, classes: number, seed: number): string {
  let state = seed;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const lines = ['image_id,hotel_id,chain,note'];
  for (let k = 0; k < rows; k++) {
    const klass = k < classes ? k : Math.floor(next() * next() * classes); // skewed; every class present
    const note = k % 5 === 0 ? '"seen, twice"' : k % 7 === 0 ? '"say ""hi"""' : `n${k}`;
    lines.push(`photo_${Math.floor(next() * 1e9)}_${k}.jpg,${50000 + klass * 37},${klass % 4},${note}`);
  }
  const [header, ...body] = lines;
  body.sort(() => next() - 0.5);
  return [header, ...body].join('\n') + '\n';
}

before(() => {
  requireSetup();
  dir = tempDir('split');
});

const cases = [
  { rows: 200, classes: 30, seed: 42, valSamples: 1 },
  { rows: 200, classes: 30, seed: 0, valSamples: 1 },
  { rows: 500, classes: 40, seed: 4294967295, valSamples: 1 },
  { rows: 300, classes: 12, seed: 42, valSamples: 2 },
  { rows: 3000, classes: 700, seed: 123456789, valSamples: 1 },
];

for (const c of cases) {
  test(`training.csv and validation.csv are byte-identical to pandas (${JSON.stringify(c)})`, async () => {
    const caseDir = path.join(dir, `case-${c.rows}-${c.seed}-${c.valSamples}`);
    fs.mkdirSync(caseDir, { recursive: true });
    const csv = makeCsv(c.rows, c.classes, c.seed + 1);
    fs.writeFileSync(path.join(caseDir, 'train.csv'), csv);
    if (c.valSamples === 1) {
      const sizes = new Map<string, number>();
      for (const line of csv.trim().split('\n').slice(1))
        sizes.set(line.split(',')[1]!, (sizes.get(line.split(',')[1]!) ?? 0) + 1);
      assert.ok([...sizes.values()].includes(1), 'the case includes classes with a single row');
    }
    const oursDir = path.join(caseDir, 'ours');
    const parsed = parseRunConfig({ data: caseDir, out: oursDir, seed: c.seed, valSamples: c.valSamples });
    assert.ok(parsed.ok);
    const summary = await prepareSplit(parsed.config);
    await run(PYTHON, [
      path.join(PROJECT_ROOT, 'bench', 'reference', 'pandas_split.py'),
      path.join(caseDir, 'train.csv'),
      path.join(caseDir, 'pandas'),
      String(c.valSamples),
      String(c.seed),
    ]);
    for (const file of ['training.csv', 'validation.csv']) {
      const ours = fs.readFileSync(path.join(oursDir, file), 'utf8');
      const theirs = fs.readFileSync(path.join(caseDir, 'pandas', file), 'utf8');
      assert.ok(ours === theirs, `${file} differs from pandas`);
    }
    assert.equal(summary.trainingRows + summary.validationRows, c.rows);
  });
}

test('a 1,000,000-row CSV is streamed: training.csv and validation.csv byte-identical to pandas, shards planned', async () => {
  const caseDir = path.join(dir, 'million');
  fs.mkdirSync(caseDir, { recursive: true });
  fs.writeFileSync(path.join(caseDir, 'train.csv'), makeCsv(1_000_000, 5000, 7));
  const parsed = parseRunConfig({ data: caseDir, out: path.join(caseDir, 'ours') });
  assert.ok(parsed.ok);
  const summary = await prepareSplit(parsed.config);
  const plan = await planShards(parsed.config, 'train');
  await run(PYTHON, [
    path.join(PROJECT_ROOT, 'bench', 'reference', 'pandas_split.py'),
    path.join(caseDir, 'train.csv'),
    path.join(caseDir, 'pandas'),
    '1',
    '42',
  ]);
  const digest = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  for (const file of ['training.csv', 'validation.csv']) {
    assert.equal(
      digest(path.join(caseDir, 'ours', file)),
      digest(path.join(caseDir, 'pandas', file)),
      `${file} differs from pandas`,
    );
  }
  assert.equal(summary.inputRows, 1_000_000);
  assert.equal(summary.validationRows, 5000);
  assert.equal(plan.images, summary.trainingRows);
  assert.equal(plan.shardCount, Math.ceil(summary.trainingRows / 1024));
});

/** Every column type read_csv infers, NA markers, leading zeros, BOM, CRLF and blank lines. */
function makeTypedCsv(rows: number, seed: number, stringClasses: boolean): string {
  let state = seed;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const lines = ['image_id,hotel_id,score,count,flag,code,comment'];
  const names = ['rose', 'Tulip', 'daisy', 'Åster', 'lily', 'iris', 'zinnia', 'orchid'];
  for (let k = 0; k < rows; k++) {
    const klass = stringClasses
      ? names[k < names.length ? k : Math.floor(next() * names.length)]!
      : String(k < 9 ? k : Math.floor(next() * 9));
    const score =
      k % 11 === 0
        ? ''
        : k % 7 === 0
          ? 'NaN'
          : (next() * 10 ** Math.floor(next() * 24 - 8)).toPrecision(1 + Math.floor(next() * 17));
    const count = k % 13 === 0 ? 'NA' : String(Math.floor(next() * 1000));
    const flag = k % 2 === 0 ? 'True' : 'false';
    const code = `00${Math.floor(next() * 100)}`;
    const comment = k % 5 === 0 ? '"a, b"' : k % 9 === 0 ? 'null' : `c${k}`;
    lines.push(`img_${k}.jpg,${klass},${score},${count},${flag},${code},${comment}`);
    if (k % 17 === 0) lines.push('');
  }
  const [header, ...body] = lines;
  return '\ufeff' + [header, ...body.sort(() => next() - 0.5)].join('\r\n') + '\r\n';
}

/** Splits `caseDir/train.csv` with tessera (into ours/) and with pandas (into pandas/, seed 7, one per class); both must be byte-identical. */
async function splitLikePandas(caseDir: string) {
  const parsed = parseRunConfig({ data: caseDir, out: path.join(caseDir, 'ours'), seed: 7, valSamples: 1 });
  assert.ok(parsed.ok);
  await prepareSplit(parsed.config);
  await run(PYTHON, [
    path.join(PROJECT_ROOT, 'bench', 'reference', 'pandas_split.py'),
    path.join(caseDir, 'train.csv'),
    path.join(caseDir, 'pandas'),
    '1',
    '7',
  ]);
  for (const file of ['training.csv', 'validation.csv']) {
    const ours = fs.readFileSync(path.join(caseDir, 'ours', file), 'utf8');
    const theirs = fs.readFileSync(path.join(caseDir, 'pandas', file), 'utf8');
    const firstDiff = ours.split('\n').findIndex((line, k) => line !== theirs.split('\n')[k]);
    assert.ok(
      ours === theirs,
      `${file} differs from pandas at line ${firstDiff + 1}: ours ${JSON.stringify(ours.split('\n')[firstDiff])}, pandas ${JSON.stringify(theirs.split('\n')[firstDiff])}`,
    );
  }
  return parsed.config;
}

for (const stringClasses of [false, true]) {
  test(`typed extra columns and ${stringClasses ? 'string' : 'integer'} class ids are written byte-identical to pandas`, async () => {
    const caseDir = path.join(dir, `typed-${stringClasses}`);
    fs.mkdirSync(caseDir, { recursive: true });
    fs.writeFileSync(path.join(caseDir, 'train.csv'), makeTypedCsv(300, stringClasses ? 5 : 6, stringClasses));
    await splitLikePandas(caseDir);
    const classes = fs.readFileSync(path.join(caseDir, 'ours', 'classes.csv'), 'utf8');
    if (stringClasses)
      assert.match(classes, /^target,hotel_id\n0,Tulip\n1,daisy\n/, 'string classes get codes in pandas group order');
    else assert.match(classes, /^target,hotel_id\n0,0\n1,1\n/);
  });
}

/**
 * Class columns read_csv does not read as plain int64 (checked with pandas 3.1.1): uint64 ids,
 * Python ints beyond uint64 (NaN allowed), and the text as read when uint64 meets a negative id
 * or a missing one ("" and "NA" then being classes too). Each class appears first in the order
 * given (read_csv's integer attempts stop at their first bad field), then rows repeat at random.
 */
const classColumnCases = [
  {
    name: 'uint64 ids',
    classes: [
      '9223372036854775809',
      '9223372036854775808',
      '18446744073709551615',
      '+0009223372036854775810',
      '9223372036854775810',
      '5',
    ],
  },
  {
    name: 'ids beyond uint64 with missing ones',
    classes: [
      '18446744073709551617',
      '18446744073709551616',
      '',
      '-3',
      '1_000',
      '1000',
      'NA',
      '-99999999999999999999999',
    ],
  },
  {
    name: 'uint64 ids beside a negative id',
    classes: ['9223372036854775808', '9223372036854775809', '-1', '007', '7'],
  },
  { name: 'uint64 ids with missing ones', classes: ['9223372036854775809', '', '9223372036854775808', 'NA'] },
  { name: 'an id beyond uint64 before a float', classes: ['18446744073709551616', '5.5', '18446744073709551617'] },
  {
    name: 'int64 ids past 2^53',
    classes: ['9007199254740993', '9007199254740992', '9223372036854775807', '-9223372036854775808'],
  },
  { name: 'float ids with infinities', classes: ['inf', '1.5', '-inf', '2', 'Infinity', '1e400'] },
];

for (const { name, classes } of classColumnCases) {
  test(`a class column of ${name} is split byte-identical to pandas, one code per pandas group`, async () => {
    const caseDir = path.join(dir, `classes-${name.replaceAll(/\W+/g, '-')}`);
    fs.mkdirSync(caseDir, { recursive: true });
    let state = 11;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const rest = Array.from({ length: classes.length * 4 }, () => classes[Math.floor(next() * classes.length)]!);
    const lines = [...classes, ...rest].map((klass, k) => `img_${k}.jpg,${klass},${classes[k % classes.length]}`);
    fs.writeFileSync(path.join(caseDir, 'train.csv'), ['image_id,hotel_id,other', ...lines].join('\n') + '\n');
    const config = await splitLikePandas(caseDir);
    // pandas' validation.csv holds one row per group, in group order: those are the codes 0…K−1.
    const pandasGroups = fs
      .readFileSync(path.join(caseDir, 'pandas', 'validation.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(',')[2]!);
    const mapping = ClassMappingSchema.parse(JSON.parse(fs.readFileSync(runLayout(config).classMapping, 'utf8')));
    assert.deepEqual(
      { mode: mapping.mode, targets: mapping.targets },
      { mode: 'codes', targets: Object.fromEntries(pandasGroups.map((key, code) => [key, code])) },
    );
  });
}

test('a class smaller than valSamples fails naming the class, as pandas refuses it', async () => {
  const caseDir = path.join(dir, 'small-class');
  fs.mkdirSync(caseDir, { recursive: true });
  fs.writeFileSync(path.join(caseDir, 'train.csv'), 'image_id,hotel_id\na.jpg,1\nb.jpg,1\nc.jpg,2\n');
  const parsed = parseRunConfig({ data: caseDir, out: path.join(caseDir, 'out'), valSamples: 2 });
  assert.ok(parsed.ok);
  await assert.rejects(prepareSplit(parsed.config), /class "2" has 1 row\(s\), fewer than valSamples=2/);
  await assert.rejects(
    run(PYTHON, [
      path.join(PROJECT_ROOT, 'bench', 'reference', 'pandas_split.py'),
      path.join(caseDir, 'train.csv'),
      path.join(caseDir, 'pandas'),
      '2',
      '42',
    ]),
    /larger sample than population/,
  );
});
