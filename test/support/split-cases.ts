/**
 * The CSVs tessera's split is checked on against pandas (test/integration/split-pandas.test.ts).
 * Shared with test/support/write-golden-inputs.ts, which writes them for infra/make_golden.py: the
 * committed golden file test/fixtures/golden/split-pandas.json holds what pandas made of each.
 */

export interface SplitCase {
  /** Also the case's key in split-pandas.json. */
  name: string;
  /** Made on demand: the million-row one takes seconds. */
  csv(): string;
  valSamples: number;
  seed: number;
}

function lcg(seed: number): () => number {
  let state = seed;
  return () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** A CSV with unsorted rows, uneven classes (some of one row), extra and quoted columns. */
export function makeCsv(rows: number, classes: number, seed: number): string {
  const next = lcg(seed);
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

/** Every column type read_csv infers, NA markers, leading zeros, BOM, CRLF and blank lines. */
export function makeTypedCsv(rows: number, seed: number, stringClasses: boolean): string {
  const next = lcg(seed);
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

/**
 * Class columns read_csv does not read as plain int64 (checked with pandas 3.1.1): uint64 ids,
 * Python ints beyond uint64 (NaN allowed), and the text as read when uint64 meets a negative id
 * or a missing one ("" and "NA" then being classes too). Each class appears first in the order
 * given (read_csv's integer attempts stop at their first bad field), then rows repeat at random.
 */
export const CLASS_COLUMN_CASES: { name: string; classes: string[] }[] = [
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

export function makeClassColumnCsv(classes: readonly string[]): string {
  const next = lcg(11);
  const rest = Array.from({ length: classes.length * 4 }, () => classes[Math.floor(next() * classes.length)]!);
  const lines = [...classes, ...rest].map((klass, k) => `img_${k}.jpg,${klass},${classes[k % classes.length]}`);
  return ['image_id,hotel_id,other', ...lines].join('\n') + '\n';
}

export const PLAIN_CASES = [
  { rows: 200, classes: 30, seed: 42, valSamples: 1 },
  { rows: 200, classes: 30, seed: 0, valSamples: 1 },
  { rows: 500, classes: 40, seed: 4294967295, valSamples: 1 },
  { rows: 300, classes: 12, seed: 42, valSamples: 2 },
  { rows: 3000, classes: 700, seed: 123456789, valSamples: 1 },
];

/** Every case, in the order the test runs them (the million-row CSV is ~45 MB: written to a temp folder only). */
export function splitCases(): SplitCase[] {
  return [
    ...PLAIN_CASES.map((c) => ({
      name: `plain-${c.rows}-${c.seed}-${c.valSamples}`,
      csv: () => makeCsv(c.rows, c.classes, c.seed + 1),
      valSamples: c.valSamples,
      seed: c.seed,
    })),
    { name: 'million', csv: () => makeCsv(1_000_000, 5000, 7), valSamples: 1, seed: 42 },
    ...[false, true].map((stringClasses) => ({
      name: `typed-${stringClasses ? 'string' : 'integer'}`,
      csv: () => makeTypedCsv(300, stringClasses ? 5 : 6, stringClasses),
      valSamples: 1,
      seed: 7,
    })),
    ...CLASS_COLUMN_CASES.map(({ name, classes }) => ({
      name: `classes-${name.replaceAll(/\W+/g, '-')}`,
      csv: () => makeClassColumnCsv(classes),
      valSamples: 1,
      seed: 7,
    })),
    { name: 'small-class', csv: () => 'image_id,hotel_id\na.jpg,1\nb.jpg,1\nc.jpg,2\n', valSamples: 2, seed: 42 },
  ];
}
