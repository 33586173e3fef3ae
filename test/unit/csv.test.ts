import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CsvRecordParser, formatCsvRow, openCsv } from '../../lib/pandas/csv.ts';
import { tempDir } from '../support/temp-dir.ts';

/** Reads `text` as the split and plan stages read a CSV: streamed from a file by openCsv. */
async function readCsv(text: string, source: string) {
  const file = path.join(tempDir('csv'), 'input.csv');
  fs.writeFileSync(file, text);
  const csv = await openCsv(file, source);
  const records = [];
  for await (const record of csv.rows) records.push(record);
  return { header: csv.header, rows: records.map((r) => r.fields), lines: records.map((r) => r.line) };
}

test('parses quotes, embedded commas, quotes and newlines, CRLF, BOM and blank lines', async () => {
  const text = '\ufeffimage_id,hotel_id,note\r\n"a,1.jpg",1,"say ""hi"""\r\n\r\nb.jpg,2,"two\nlines"\n';
  const table = await readCsv(text, 'test.csv');
  assert.deepEqual(table.header, ['image_id', 'hotel_id', 'note']);
  assert.deepEqual(table.rows, [
    ['a,1.jpg', '1', 'say "hi"'],
    ['b.jpg', '2', 'two\nlines'],
  ]);
  assert.deepEqual(table.lines, [2, 4]);
});

test('names the file and line of a ragged row', async () => {
  await assert.rejects(
    readCsv('a,b\n1,2\n3\n', 'data/train.csv'),
    /data\/train\.csv: line 3 has 1 fields, the header has 2/,
  );
});

test('an empty file and an unterminated quote are clear errors', async () => {
  await assert.rejects(readCsv('', 'empty.csv'), /empty\.csv: the file is empty/);
  await assert.rejects(readCsv('a,b\n"oops,1\n', 'q.csv'), /q\.csv: unterminated quoted field starting on line 2/);
});

test('writes fields as pandas to_csv does (QUOTE_MINIMAL)', () => {
  assert.equal(
    formatCsvRow(['', 'plain', 'a,b', 'say "x"', 'multi\nline']),
    ',plain,"a,b","say ""x""","multi\nline"\n',
  );
});

test('text cut into chunks anywhere (inside quotes, between CR and LF, after a BOM) parses the same', () => {
  const text = '\uFEFFid,note\r\n"a,""1""",x\r\n\r\nb,"line\nbreak"\r\nc,"end"""\r\n';
  const whole = new CsvRecordParser('t.csv');
  const expected = [...whole.push(text), ...whole.end()];
  assert.equal(expected.length, 4);
  for (let cut = 0; cut <= text.length; cut++) {
    for (let size = 1; size <= 3; size++) {
      const parser = new CsvRecordParser('t.csv');
      const records = [...parser.push(text.slice(0, cut))];
      for (let k = cut; k < text.length; k += size) records.push(...parser.push(text.slice(k, k + size)));
      records.push(...parser.end());
      assert.deepEqual(records, expected, `cut at ${cut}, then chunks of ${size}`);
    }
  }
});
