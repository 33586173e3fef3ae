import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ColumnTyper, compareCodePoints, pythonFloatRepr } from '../../lib/pandas/values.ts';

/** Types a whole column as prepareSplit does (observe every field, then render each). */
function typeColumn(raw: readonly string[]) {
  const typer = new ColumnTyper();
  for (const text of raw) typer.observe(text);
  const { kind, render } = typer.typing();
  return { kind, values: raw.map(render) };
}

test('floats are written as Python repr writes them', () => {
  const cases: [number, string][] = [
    [1, '1.0'],
    [1.5, '1.5'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1e16, '1e+16'],
    [1.5e16, '1.5e+16'],
    [1e15, '1000000000000000.0'],
    [-2.5e-7, '-2.5e-07'],
    [0.1 + 0.2, '0.30000000000000004'],
    [-0, '-0.0'],
    [5e-324, '5e-324'],
    [Infinity, 'inf'],
  ];
  for (const [value, repr] of cases) assert.equal(pythonFloatRepr(value), repr, String(value));
});

test('columns are typed as read_csv types them and written back as to_csv writes them', () => {
  assert.deepEqual(typeColumn(['007', '+5', '-3']), { kind: 'int', values: ['7', '5', '-3'] });
  assert.deepEqual(typeColumn(['1', '', '3']).values, ['1.0', null, '3.0'], 'ints with NaN become floats');
  assert.deepEqual(typeColumn(['1.50', '2e3', 'NA']).values, ['1.5', '2000.0', null]);
  assert.deepEqual(typeColumn(['true', 'FALSE']), { kind: 'bool', values: ['True', 'False'] });
  assert.deepEqual(
    typeColumn(['x', 'null', '1']).values,
    ['x', null, '1'],
    'strings keep their text, NA values vanish',
  );
  assert.equal(typeColumn(['', 'NaN']).kind, 'float');
});

// Each case checked against pandas 3.1.1's read_csv(...).to_csv(): dtype and written fields.
test('integers beyond int64 are typed as read_csv types them: uint64, Python ints, or the text as read', () => {
  const cases: [string[], string, (string | null)[]][] = [
    // uint64: beyond int64, none negative, no NaN; to_csv writes them exactly.
    [['9223372036854775808', '9223372036854775809', '5'], 'uint', ['9223372036854775808', '9223372036854775809', '5']],
    [
      ['+9223372036854775808', '009223372036854775809', ' 18446744073709551615'],
      'uint',
      ['9223372036854775808', '9223372036854775809', '18446744073709551615'],
    ],
    // Beyond uint64 (or below int64): object dtype holding Python ints, NaN allowed, int() syntax.
    [['99999999999999999999'], 'pyint', ['99999999999999999999']],
    [['18446744073709551616', '', '-3', '1_000', '+007'], 'pyint', ['18446744073709551616', null, '-3', '1000', '7']],
    [['-9223372036854775809', '5', 'NA'], 'pyint', ['-9223372036854775809', '5', null]],
    // uint64 beside negatives or NaN cannot be numeric: the text as read, NA markers included.
    [['9223372036854775808', '-1', '007'], 'object', ['9223372036854775808', '-1', '007']],
    [['9223372036854775808', 'NA', '', '-0'], 'object', ['9223372036854775808', 'NA', '', '-0']],
    // Each integer attempt stops at its first bad field, so field order matters.
    [['18446744073709551616', '5.5'], 'object', ['18446744073709551616', '5.5']],
    [['5.5', '18446744073709551616'], 'float', ['5.5', '1.8446744073709552e+19']],
    [['18446744073709551616', 'abc', 'NA'], 'object', ['18446744073709551616', 'abc', 'NA']],
    [['abc', '18446744073709551616', 'NA'], 'object', ['abc', '18446744073709551616', null]],
    [
      ['9223372036854775808', '18446744073709551616', '5.0'],
      'object',
      ['9223372036854775808', '18446744073709551616', '5.0'],
    ],
    [
      ['9223372036854775808', '5.0', '18446744073709551616'],
      'float',
      ['9.223372036854776e+18', '5.0', '1.8446744073709552e+19'],
    ],
    // Out of range with trailing spaces is not an overflow: pandas goes on to float.
    [['9223372036854775808 ', '1'], 'float', ['9.223372036854776e+18', '1.0']],
    [['9223372036854775808', '18446744073709551616 '], 'float', ['9.223372036854776e+18', '1.8446744073709552e+19']],
    // Python's int() refuses more than 4300 digits.
    [['18446744073709551616', '1'.repeat(4301)], 'object', ['18446744073709551616', '1'.repeat(4301)]],
  ];
  for (const [raw, kind, values] of cases) {
    const typed = typeColumn(raw);
    assert.deepEqual({ kind: typed.kind, values: typed.values }, { kind, values }, JSON.stringify(raw));
  }
});

test('int64 columns with NaN are cast to float, and only ASCII spaces surround numbers', () => {
  assert.deepEqual(typeColumn(['-0', '9007199254740993', '']).values, ['0.0', '9007199254740992.0', null]);
  assert.deepEqual(typeColumn(['\u00a05', '6']), { kind: 'object', values: ['\u00a05', '6'] });
  assert.equal(typeColumn(['\u00a05.5', '6']).kind, 'object');
});

test('string keys sort by code point, as Python sorts str', () => {
  assert.deepEqual(['b', 'B', 'a', '\u{1F600}', '\uFFFD'].sort(compareCodePoints), [
    'B',
    'a',
    'b',
    '\uFFFD',
    '\u{1F600}',
  ]);
});
