import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyOrder } from '../../lib/split/prepare-split.ts';
import { splitByClass, type IndexedRow } from '../../lib/split/validation-rows.ts';

function rows(spec: [string, string][]): IndexedRow[] {
  return spec.map(([id, klass], index) => ({ index, fields: [id, klass] }));
}
const numeric = (a: string, b: string) => Number(a) - Number(b);
const split = (input: IndexedRow[], valSamples: number, seed = 42) =>
  splitByClass(input, (r) => r.fields[1]!, (r) => r.fields[0]!, valSamples, seed, numeric);

test('picks valSamples per class, in sorted class order, and keeps the rest in input order', () => {
  const input = rows([['a', '20'], ['b', '3'], ['c', '20'], ['d', '3'], ['e', '100'], ['f', '20']]);
  const { training, validation } = split(input, 1);
  assert.deepEqual(validation.map((r) => r.fields[1]), ['3', '20', '100'], 'numeric class order, not text order');
  assert.equal(training.length + validation.length, input.length);
  assert.deepEqual(training.map((r) => r.index), [...training.map((r) => r.index)].sort((a, b) => a - b));
  const validationIds = new Set(validation.map((r) => r.fields[0]));
  assert.ok(training.every((r) => !validationIds.has(r.fields[0])));
});

test('group draws follow numpy: class of 10 with seed 42 picks permutation(10)[0] = 8', () => {
  const input = rows(Array.from({ length: 10 }, (_, k) => [`img${k}`, '1'] as [string, string]));
  assert.deepEqual(split(input, 2).validation.map((r) => r.index), [8, 1]);
});

test('the same seed gives the same split; another seed another one', () => {
  const input = rows(Array.from({ length: 60 }, (_, k) => [`img${k}`, String(k % 4)] as [string, string]));
  assert.deepEqual(split(input, 2, 7), split(input, 2, 7));
  assert.notDeepEqual(split(input, 2, 7).validation, split(input, 2, 8).validation);
});

test('a class smaller than valSamples fails naming the class', () => {
  const input = rows([['a', '1'], ['b', '1'], ['c', '2']]);
  assert.throws(() => split(input, 2), /class "2" has 1 row\(s\), fewer than valSamples=2/);
});

test('rows sharing a validation image id all leave the training set (pandas isin)', () => {
  // Class 1 has one row, the first 'dup': it is always picked, so every 'dup' row leaves training.
  const input = rows([['dup', '1'], ['dup', '2'], ['x', '2'], ['y', '2']]);
  const { training, validation } = split(input, 1, 0);
  assert.ok(validation.some((r) => r.fields[0] === 'dup'));
  assert.ok(training.every((r) => r.fields[0] !== 'dup'));
  assert.equal(new Set(training.map((r) => r.index)).size, training.length);
});

test('rows without a class (NaN) join no group and stay in training, as with dropna=True', () => {
  const input = rows([['a', '1'], ['b', ''], ['c', '1']]);
  const result = splitByClass(input, (r) => (r.fields[1] === '' ? null : r.fields[1]!), (r) => r.fields[0]!, 1, 42, numeric);
  assert.equal(result.validation.length, 1);
  assert.ok(result.training.some((r) => r.fields[0] === 'b'));
});

test('class ids past 2^53 (uint64 too) stay apart and are visited in exact numeric order', () => {
  const classes = (ids: string[], kind: 'int' | 'uint' | 'pyint') =>
    splitByClass(rows(ids.map((id, k) => [`img${k}`, id])), (r) => r.fields[1]!, (r) => r.fields[0]!, 1, 42, keyOrder(kind)).validation.map((r) => r.fields[1]);
  // As Numbers the first two are one value (2^63), and 2^53 + 1 equals 2^53.
  assert.deepEqual(classes(['9223372036854775809', '9223372036854775808', '18446744073709551615', '5'], 'uint'), ['5', '9223372036854775808', '9223372036854775809', '18446744073709551615']);
  assert.deepEqual(classes(['9007199254740993', '9007199254740992', '-9223372036854775808'], 'int'), ['-9223372036854775808', '9007199254740992', '9007199254740993']);
  assert.deepEqual(classes(['1' + '0'.repeat(400), '18446744073709551616', '9' + '0'.repeat(399)], 'pyint'), ['18446744073709551616', '9' + '0'.repeat(399), '1' + '0'.repeat(400)]);
});

test('float class keys order infinities as pandas does', () => {
  assert.deepEqual(['inf', '2.5', '-inf', '1e+16'].sort(keyOrder('float')), ['-inf', '2.5', '1e+16', 'inf']);
});
