import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { concatenateParquet, readParquetFooter } from '../../lib/parquet/concatenate.ts';
import { allocateTileRows, FINAL_CODEC, loadZstd, TileParquetWriter } from '../../lib/parquet/tile-writer.ts';
import { tempDir } from '../support/environment.ts';
import { duckdbRows } from '../support/vectors.ts';

/** A shard-like file of `images` images × 4 tiles of `channels` floats, `i` from `first`, row groups of 8 rows (two images). */
async function writeTiles(file: string, first: number, images: number, channels = 3): Promise<string> {
  await loadZstd();
  const rows = allocateTileRows(images * 4);
  for (let r = 0; r < images * 4; r++) {
    rows.i[r] = first * 4 + r;
    rows.vector[r] = new Uint8Array(Float32Array.from({ length: channels }, (_, c) => (first * 4 + r) * 10 + c).buffer);
    rows.target[r] = (first + Math.floor(r / 4)) % 3;
    rows.file[r] = `img_${first + Math.floor(r / 4)}.jpg`;
    rows.x[r] = (r % 4) >> 1;
    rows.y[r] = r % 2;
  }
  const writer = new TileParquetWriter(file, channels, 4, FINAL_CODEC, 8);
  await writer.append(rows);
  return writer.close();
}

test('row groups of several files are copied into one, byte for byte, readable with every row in order', async () => {
  const dir = tempDir('concat');
  const parts = [
    ['a', 0, 5],
    ['b', 5, 3],
    ['c', 8, 1],
  ] as const;
  for (const [name, first, images] of parts) {
    const file = path.join(dir, `${name}.parquet`);
    const sha = await writeTiles(file, first, images);
    assert.equal(
      sha,
      createHash('sha256').update(fs.readFileSync(file)).digest('hex'),
      'the writer hashes what it writes',
    );
  }
  const sources = await Promise.all(
    parts.map(async ([name]) => ({
      file: path.join(dir, `${name}.parquet`),
      footer: await readParquetFooter(path.join(dir, `${name}.parquet`)),
    })),
  );
  const target = path.join(dir, 'all.parquet');
  let copied = 0;
  const { sha256, metadata, sourceSha256 } = await concatenateParquet(sources, target, {
    createdBy: 'test',
    afterRowGroup: () => void copied++,
  });
  assert.equal(sha256, createHash('sha256').update(fs.readFileSync(target)).digest('hex'));
  assert.deepEqual(
    sourceSha256,
    sources.map(({ file }) => createHash('sha256').update(fs.readFileSync(file)).digest('hex')),
    'each source hashed whole in the copying pass',
  );
  assert.equal(Number(metadata.num_rows), 36);
  assert.equal(
    copied,
    sources.reduce((sum, s) => sum + s.footer.row_groups.length, 0),
  );

  const rows = await duckdbRows(`SELECT i, vector, target, file, x, y FROM read_parquet('${target}')`);
  assert.deepEqual(
    rows.map((row) => Number(row[0])),
    Array.from({ length: 36 }, (_, k) => k),
  );
  const floats = (row: unknown[]) => [
    ...new Float32Array(new Uint8Array((row[1] as { bytes: Uint8Array }).bytes).buffer),
  ];
  assert.deepEqual(floats(rows[21]!), [210, 211, 212]);
  assert.deepEqual(rows[35]!.slice(2).map(String), ['2', 'img_8.jpg', '1', '1']);
  const schema = await duckdbRows(
    `SELECT name, type, type_length FROM parquet_schema('${target}') WHERE name = 'vector'`,
  );
  assert.deepEqual(schema[0]!.map(String), ['vector', 'FIXED_LEN_BYTE_ARRAY', '12']);
});

test('a file of another schema is refused and nothing is left behind', async () => {
  const dir = tempDir('concat');
  await writeTiles(path.join(dir, 'a.parquet'), 0, 2, 3);
  await writeTiles(path.join(dir, 'b.parquet'), 2, 2, 5);
  const sources = await Promise.all(
    ['a', 'b'].map(async (name) => ({
      file: path.join(dir, `${name}.parquet`),
      footer: await readParquetFooter(path.join(dir, `${name}.parquet`)),
    })),
  );
  await assert.rejects(
    concatenateParquet(sources, path.join(dir, 'all.parquet'), { createdBy: 'test' }),
    /b\.parquet has another schema than .*a\.parquet/,
  );
  assert.ok(!fs.existsSync(path.join(dir, 'all.parquet')));
});

test('a file that is not Parquet is named', async () => {
  const dir = tempDir('concat');
  fs.writeFileSync(path.join(dir, 'x.parquet'), 'not parquet at all');
  await assert.rejects(
    readParquetFooter(path.join(dir, 'x.parquet')),
    /x\.parquet is not a Parquet file \(no PAR1 at its end\)/,
  );
});
