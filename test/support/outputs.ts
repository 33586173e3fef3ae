import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { duckdbRows } from './vectors.ts';

/** Every row of a vectors file as text, vector bytes in hex: equal lists mean byte-identical rows. */
export async function vectorRows(file: string): Promise<string[]> {
  const rows = await duckdbRows(`SELECT i, file, target, x, y, vector FROM read_parquet('${file}') ORDER BY i`);
  return rows.map((row) =>
    [...row.slice(0, 5).map(String), Buffer.from((row[5] as { bytes: Uint8Array }).bytes).toString('hex')].join(','),
  );
}

/**
 * Two output folders hold the same split, the same errors and byte-identical vector rows in each
 * of `vectorFiles`; with `sameFiles`, the vectors files themselves are byte-identical too.
 */
export async function assertSameOutput(
  actual: string,
  expected: string,
  {
    vectorFiles = ['vectors.parquet'],
    sameFiles = false,
    /** Applied to both sides' CSVs first: where the inputs were (a folder, a bucket) appears in errors.csv. */
    normalise = (text: string) => text,
  } = {},
): Promise<void> {
  for (const file of ['training.csv', 'validation.csv', 'errors.csv', 'classes.csv']) {
    assert.equal(
      normalise(fs.readFileSync(path.join(actual, file), 'utf8')),
      normalise(fs.readFileSync(path.join(expected, file), 'utf8')),
      file,
    );
  }
  for (const file of vectorFiles) {
    const [a, b] = await Promise.all([vectorRows(path.join(actual, file)), vectorRows(path.join(expected, file))]);
    assert.equal(a.length, b.length, `${actual}/${file}: ${a.length} rows, a fresh run has ${b.length}`);
    const first = a.findIndex((row, k) => row !== b[k]);
    assert.equal(
      first,
      -1,
      `${file} row ${first} differs from a fresh run's: ${a[first]?.slice(0, 80)} vs ${b[first]?.slice(0, 80)}`,
    );
    if (sameFiles)
      assert.deepEqual(
        fs.readFileSync(path.join(actual, file)),
        fs.readFileSync(path.join(expected, file)),
        `${file} is byte-identical to a fresh run's`,
      );
  }
}
