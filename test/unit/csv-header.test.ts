import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeCsvHeader } from '../../lib/pandas/csv-header.ts';

test('a CSV header is listed, so a wrong column name is easy to spot', () => {
  assert.equal(describeCsvHeader(['image_id', 'label']), 'columns: image_id, label');
  assert.equal(describeCsvHeader(['a.jpg', '1']), 'columns: a.jpg, 1');
});

test('the first line of a file that is not a CSV is never quoted', () => {
  const notCsv = [
    ['SECRET-TOKEN-1234 first line'], // no delimiter: a token, a key, a line of prose
    ['\u0000\u0001ELF', 'binary'], // control characters
    ['\ufffd\ufffdPNG', 'x'], // bytes that are not UTF-8
    ['-----BEGIN PRIVATE KEY-----'],
    ['x'.repeat(200), 'y'], // far longer than a column name
    Array.from({ length: 400 }, (_, k) => `c${k}`), // a very long line
  ];
  for (const header of notCsv) {
    const description = describeCsvHeader(header);
    assert.match(description, /not a CSV header/);
    for (const field of header)
      if (field.length > 1) assert.ok(!description.includes(field), `${JSON.stringify(field)} is not shown`);
  }
});
