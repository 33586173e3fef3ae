import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCsvRow, parseCsv } from '../../lib/csv.ts';

test('parses quotes, embedded commas, quotes and newlines, CRLF, BOM and blank lines', () => {
  const text = '\ufeffimage_id,hotel_id,note\r\n"a,1.jpg",1,"say ""hi"""\r\n\r\nb.jpg,2,"two\nlines"\n';
  const table = parseCsv(text, 'test.csv');
  assert.deepEqual(table.header, ['image_id', 'hotel_id', 'note']);
  assert.deepEqual(table.rows, [['a,1.jpg', '1', 'say "hi"'], ['b.jpg', '2', 'two\nlines']]);
  assert.deepEqual(table.lines, [2, 4]);
});

test('names the file and line of a ragged row', () => {
  assert.throws(() => parseCsv('a,b\n1,2\n3\n', 'data/train.csv'), /data\/train\.csv: line 3 has 1 fields, the header has 2/);
});

test('an empty file and an unterminated quote are clear errors', () => {
  assert.throws(() => parseCsv('', 'empty.csv'), /empty\.csv: the file is empty/);
  assert.throws(() => parseCsv('a,b\n"oops,1\n', 'q.csv'), /q\.csv: unterminated quoted field starting on line 2/);
});

test('writes fields as pandas to_csv does (QUOTE_MINIMAL)', () => {
  assert.equal(formatCsvRow(['', 'plain', 'a,b', 'say "x"', 'multi\nline']), ',plain,"a,b","say ""x""","multi\nline"\n');
});
