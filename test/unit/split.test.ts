import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseRunConfig } from '../../lib/core/run-config.ts';
import { keyOrder, prepareSplit } from '../../lib/split/prepare-split.ts';
import { pickValidationRows } from '../../lib/split/validation-rows.ts';
import { tempDir } from '../support/temp-dir.ts';

const numeric = (a: string, b: string) => Number(a) - Number(b);

/** The positions pickValidationRows draws for rows of `classes` ('' = no class), as prepareSplit calls it. */
function picked(classes: readonly string[], valSamples: number, seed = 42, order = numeric): number[] {
  const keys = new Map<string, number>();
  const keyOfRow = Int32Array.from(classes, (klass) => {
    if (klass === '') return -1;
    if (!keys.has(klass)) keys.set(klass, keys.size);
    return keys.get(klass)!;
  });
  return pickValidationRows(keyOfRow, [...keys.keys()], valSamples, seed, order);
}

/** training.csv and validation.csv as prepareSplit writes them for rows of [image_id, hotel_id]. */
async function split(rows: readonly [string, string][], valSamples: number, seed = 42) {
  const data = tempDir('split');
  fs.writeFileSync(
    path.join(data, 'train.csv'),
    `image_id,hotel_id\n${rows.map((row) => `${row.join(',')}\n`).join('')}`,
  );
  const parsed = parseRunConfig({ data, out: path.join(data, 'out'), valSamples, seed });
  assert.ok(parsed.ok);
  await prepareSplit(parsed.config);
  const read = (name: string) =>
    fs
      .readFileSync(path.join(data, 'out', name), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => {
        const [index, id, klass] = line.split(',');
        return { index: Number(index), id: id!, klass: klass! };
      });
  return { training: read('training.csv'), validation: read('validation.csv') };
}

test('picks valSamples per class, in sorted class order, and keeps the rest in input order', async () => {
  const input: [string, string][] = [
    ['a', '20'],
    ['b', '3'],
    ['c', '20'],
    ['d', '3'],
    ['e', '100'],
    ['f', '20'],
  ];
  const { training, validation } = await split(input, 1);
  assert.deepEqual(
    validation.map((r) => r.klass),
    ['3', '20', '100'],
    'numeric class order, not text order',
  );
  assert.equal(training.length + validation.length, input.length);
  assert.deepEqual(
    training.map((r) => r.index),
    [...training.map((r) => r.index)].sort((a, b) => a - b),
  );
  const validationIds = new Set(validation.map((r) => r.id));
  assert.ok(training.every((r) => !validationIds.has(r.id)));
});

test('group draws follow numpy: class of 10 with seed 42 picks permutation(10)[0] = 8', () => {
  assert.deepEqual(
    picked(
      Array.from({ length: 10 }, () => '1'),
      2,
    ),
    [8, 1],
  );
});

test('the same seed gives the same split; another seed another one', () => {
  const classes = Array.from({ length: 60 }, (_, k) => String(k % 4));
  assert.deepEqual(picked(classes, 2, 7), picked(classes, 2, 7));
  assert.notDeepEqual(picked(classes, 2, 7), picked(classes, 2, 8));
});

test('a class smaller than valSamples fails naming the class', () => {
  assert.throws(() => picked(['1', '1', '2'], 2), /class "2" has 1 row\(s\), fewer than valSamples=2/);
});

test('rows sharing a validation image id all leave the training set (pandas isin)', async () => {
  // Class 1 has one row, the first 'dup': it is always picked, so every 'dup' row leaves training.
  const { training, validation } = await split(
    [
      ['dup', '1'],
      ['dup', '2'],
      ['x', '2'],
      ['y', '2'],
    ],
    1,
    0,
  );
  assert.ok(validation.some((r) => r.id === 'dup'));
  assert.ok(training.every((r) => r.id !== 'dup'));
  assert.equal(new Set(training.map((r) => r.index)).size, training.length);
});

test('rows without a class (NaN) join no group and stay in training, as with dropna=True', async () => {
  const { training, validation } = await split(
    [
      ['a', '1'],
      ['b', ''],
      ['c', '1'],
    ],
    1,
  );
  assert.equal(validation.length, 1);
  assert.ok(training.some((r) => r.id === 'b'));
});

test('class ids past 2^53 (uint64 too) stay apart and are visited in exact numeric order', () => {
  const classes = (ids: string[], kind: 'int' | 'uint' | 'pyint') =>
    picked(ids, 1, 42, keyOrder(kind)).map((position) => ids[position]);
  // As Numbers the first two are one value (2^63), and 2^53 + 1 equals 2^53.
  assert.deepEqual(classes(['9223372036854775809', '9223372036854775808', '18446744073709551615', '5'], 'uint'), [
    '5',
    '9223372036854775808',
    '9223372036854775809',
    '18446744073709551615',
  ]);
  assert.deepEqual(classes(['9007199254740993', '9007199254740992', '-9223372036854775808'], 'int'), [
    '-9223372036854775808',
    '9007199254740992',
    '9007199254740993',
  ]);
  assert.deepEqual(classes(['1' + '0'.repeat(400), '18446744073709551616', '9' + '0'.repeat(399)], 'pyint'), [
    '18446744073709551616',
    '9' + '0'.repeat(399),
    '1' + '0'.repeat(400),
  ]);
});

test('float class keys order infinities as pandas does', () => {
  assert.deepEqual(['inf', '2.5', '-inf', '1e+16'].sort(keyOrder('float')), ['-inf', '2.5', '1e+16', 'inf']);
});
