import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareCodePoints, pythonFloatRepr, typeColumn } from '../../lib/pandas-values.ts';

test('floats are written as Python repr writes them', () => {
  const cases: [number, string][] = [
    [1, '1.0'], [1.5, '1.5'], [0.0001, '0.0001'], [0.00001, '1e-05'], [1e16, '1e+16'], [1.5e16, '1.5e+16'],
    [1e15, '1000000000000000.0'], [-2.5e-7, '-2.5e-07'], [0.1 + 0.2, '0.30000000000000004'], [-0, '-0.0'],
    [5e-324, '5e-324'], [Infinity, 'inf'],
  ];
  for (const [value, repr] of cases) assert.equal(pythonFloatRepr(value), repr, String(value));
});

test('columns are typed as read_csv types them and written back as to_csv writes them', () => {
  assert.deepEqual(typeColumn(['007', '+5', '-3']), { kind: 'int', values: ['7', '5', '-3'], numbers: [7, 5, -3] });
  assert.deepEqual(typeColumn(['1', '', '3']).values, ['1.0', null, '3.0'], 'ints with NaN become floats');
  assert.deepEqual(typeColumn(['1.50', '2e3', 'NA']).values, ['1.5', '2000.0', null]);
  assert.deepEqual(typeColumn(['true', 'FALSE']), { kind: 'bool', values: ['True', 'False'] });
  assert.deepEqual(typeColumn(['x', 'null', '1']).values, ['x', null, '1'], 'strings keep their text, NA values vanish');
  assert.equal(typeColumn(['', 'NaN']).kind, 'float');
  assert.equal(typeColumn(['99999999999999999999']).kind, 'float', 'beyond int64 pandas falls back to float');
});

test('string keys sort by code point, as Python sorts str', () => {
  assert.deepEqual(['b', 'B', 'a', '\u{1F600}', '\uFFFD'].sort(compareCodePoints), ['B', 'a', 'b', '\uFFFD', '\u{1F600}']);
});
