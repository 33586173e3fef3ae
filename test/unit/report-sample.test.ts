import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { readParquetFooter } from '../../lib/parquet/concatenate.ts';
import { parquetWriteBuffer } from 'hyparquet-writer';
import {
  allocateTileRows,
  FINAL_CODEC,
  loadZstd,
  TileParquetWriter,
  tileSchema,
} from '../../lib/parquet/tile-writer.ts';
import { MAX_SPOTS, meanPool, planSample, sampleImageVectors } from '../../lib/report/sample-vectors.ts';
import { tempDir } from '../support/environment.ts';
import { duckdbRows } from '../support/vectors.ts';

const TILES = 64;
const CHANNELS = 320;
const IMAGES = 600;

/**
 * Tile vectors of random float32 values (image m's around m), which ZSTD cannot shrink much, so
 * the bytes read say how much of the file was touched. Written as tessera writes vectors.parquet
 * (ZSTD, row groups of 16,384 rows, a vector page per image). `expected` holds each image's mean
 * of its tiles, summed in float64 in tile order as meanPool does.
 */
const expected: Float32Array[] = [];

let dir: string;
let tessera: string;

before(async () => {
  dir = tempDir('report-sample');
  tessera = path.join(dir, 'vectors.parquet');
  await loadZstd();
  const writer = new TileParquetWriter(tessera, CHANNELS, TILES, FINAL_CODEC);
  let seed = 12345;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let m = 0; m < IMAGES; m++) {
    const rows = allocateTileRows(TILES);
    const sum = new Float64Array(CHANNELS);
    for (let t = 0; t < TILES; t++) {
      const tile = Float32Array.from({ length: CHANNELS }, () => m + random());
      tile.forEach((value, c) => (sum[c]! += value));
      rows.i[t] = m * TILES + t;
      rows.vector[t] = new Uint8Array(tile.buffer);
      rows.target[t] = m % 7;
      rows.file[t] = `img-${m}.jpg`;
      rows.x[t] = t >> 3;
      rows.y[t] = t & 7;
    }
    await writer.append(rows);
    expected.push(Float32Array.from(sum, (value) => value / TILES));
  }
  await writer.close();
});

function assertExactMeans(images: { file: string; target: number; vector: Float32Array }[]): void {
  for (const image of images) {
    const m = Number(/img-(\d+)\.jpg/.exec(image.file)![1]);
    assert.equal(image.target, m % 7, image.file);
    assert.deepEqual(image.vector, expected[m], image.file);
  }
}

test('planSample: a file within the budget is read whole', () => {
  assert.deepEqual(planSample([128, 64, 0, 192], 64, 10), [
    { group: 0, firstRow: 0, maxRows: 128, maxImages: 2 },
    { group: 1, firstRow: 128, maxRows: 64, maxImages: 1 },
    { group: 3, firstRow: 192, maxRows: 192, maxImages: 3 },
  ]);
});

test('planSample: a million images ask for at most the budget, from at most MAX_SPOTS row groups spread over the file', () => {
  const groups = Array.from({ length: 3907 }, (_, g) => (g === 3906 ? 64_000_000 - 3906 * 16_384 : 16_384));
  const spots = planSample(groups, 64, 2000);
  assert.equal(spots.length, MAX_SPOTS);
  assert.ok(spots.reduce((sum, spot) => sum + spot.maxRows, 0) <= 2000 * 64, 'rows asked for');
  assert.ok(spots.reduce((sum, spot) => sum + spot.maxImages, 0) <= 2000, 'images kept');
  assert.ok(
    spots.every((spot, k) => k === 0 || spot.group > spots[k - 1]!.group),
    'distinct groups in file order',
  );
  assert.ok(
    spots[0]!.group < 3907 / MAX_SPOTS && spots.at(-1)!.group > 3907 - 3907 / MAX_SPOTS,
    `spread from ${spots[0]!.group} to ${spots.at(-1)!.group}`,
  );
  assert.equal(spots[10]!.firstRow, spots[10]!.group * 16_384);
  // Few groups: one spot each; a tiny budget: one image per spot.
  assert.deepEqual(
    planSample([1e6, 1e6, 1e6], 64, 2000).map((spot) => [spot.group, spot.maxRows]),
    [
      [0, 666 * 64],
      [1, 666 * 64],
      [2, 666 * 64],
    ],
  );
  const tiny = planSample(
    Array.from({ length: 100 }, () => 6400),
    64,
    10,
  );
  assert.equal(tiny.length, 10);
  assert.ok(tiny.every((spot) => spot.maxRows === 64 && spot.maxImages === 1));
});

test('a file within the budget: every image, mean-pooled exactly', async () => {
  const sample = await sampleImageVectors(tessera, TILES, 1000);
  assert.equal(sample.images.length, IMAGES);
  assert.ok(sample.complete);
  assert.equal(sample.totalImages, IMAGES);
  assert.equal(sample.channels, CHANNELS);
  assert.equal(sample.rowGroups, 3);
  assert.equal(sample.wholeGroups, 0, "tessera's layout is read page by page");
  assert.deepEqual(
    sample.images.slice(0, 3).map((image) => image.file),
    ['img-0.jpg', 'img-1.jpg', 'img-2.jpg'],
  );
  assertExactMeans(sample.images);
});

test('a budget smaller than the file: bounded bytes, whole images from groups spread over the file', async () => {
  const fileBytes = fs.statSync(tessera).size;
  const sample = await sampleImageVectors(tessera, TILES, 30);
  // 3 groups, 10 images each: each spot reads the first 10 vector pages of its group (one per image).
  assert.equal(sample.images.length, 30);
  assert.ok(!sample.complete);
  assert.equal(sample.rowGroupsRead, 3);
  assert.equal(sample.pagesRead, 30);
  assert.deepEqual(
    sample.images.filter((_, k) => k % 10 === 0).map((image) => image.file),
    ['img-0.jpg', 'img-256.jpg', 'img-512.jpg'],
  );
  assertExactMeans(sample.images);
  // What 10 pages of each group's vector chunk weigh: the chunk's compressed size × 640 / its rows
  // (the values are random, so pages compress alike). The rest is the small i, target, file columns.
  const footer = await readParquetFooter(tessera);
  const onePageEach = footer.row_groups.reduce((sum, group) => {
    const vectors = group.columns.find((column) => column.meta_data?.path_in_schema[0] === 'vector')!.meta_data!;
    return (
      sum +
      (Number(vectors.total_compressed_size) * Math.min(10 * TILES, Number(group.num_rows))) / Number(group.num_rows)
    );
  }, 0);
  assert.ok(
    sample.bytesRead < 1.05 * onePageEach + 100_000,
    `read ${sample.bytesRead} bytes of ${fileBytes}: more than 10 pages per group (${Math.round(onePageEach)}) and the small columns`,
  );
  assert.ok(
    sample.bytesRead > 0.95 * onePageEach,
    `read ${sample.bytesRead} bytes: less than the 10 pages per group the sample needs (${Math.round(onePageEach)})`,
  );
  assert.ok(sample.bytesRead < fileBytes / 10);
  assert.equal(sample.fileBytes, fileBytes);
});

test("another writer's layout (DuckDB: BYTE_ARRAY vectors) gives the same vectors", async () => {
  const other = path.join(dir, 'duckdb.parquet');
  await duckdbRows(
    `COPY (SELECT * FROM read_parquet('${tessera}') ORDER BY i) TO '${other}' (FORMAT parquet, ROW_GROUP_SIZE 16384)`,
  );
  const footer = await readParquetFooter(other);
  assert.equal(footer.schema.find((element) => element.name === 'vector')?.type, 'BYTE_ARRAY');
  const sample = await sampleImageVectors(other, TILES, 1000);
  assert.equal(sample.images.length, IMAGES);
  assertExactMeans(sample.images);
  const small = await sampleImageVectors(other, TILES, 20);
  assert.ok(small.images.length <= 20 && small.images.length > 0, `${small.images.length} images`);
  assertExactMeans(small.images);
});

test('a layout read-by-page does not decode (dictionary-encoded vectors) is read a row group at a time through hyparquet', async () => {
  // 20 images × 4 tiles × 2 channels, row groups of 16 rows (4 images); image m's tiles hold m·10 + t and −m.
  const rows = 80;
  const i = Int32Array.from({ length: rows }, (_, r) => r);
  const vector = Array.from(
    { length: rows },
    (_, r) => new Uint8Array(Float32Array.of(Math.floor(r / 4) * 10 + (r % 4), -Math.floor(r / 4)).buffer),
  );
  const other = path.join(dir, 'dictionary.parquet');
  fs.writeFileSync(
    other,
    new Uint8Array(
      parquetWriteBuffer({
        schema: tileSchema(2),
        rowGroupSize: 16,
        columnData: [
          { name: 'i', data: i },
          { name: 'vector', data: vector, encoding: 'RLE_DICTIONARY' },
          { name: 'target', data: Int32Array.from(i, (r) => Math.floor(r / 4) % 3) },
          { name: 'file', data: Array.from(i, (r) => `d${Math.floor(r / 4)}.png`) },
          { name: 'x', data: Int32Array.from(i, (r) => (r % 4) >> 1) },
          { name: 'y', data: Int32Array.from(i, (r) => r % 2) },
        ],
      }),
    ),
  );
  const all = await sampleImageVectors(other, 4, 100);
  assert.equal(all.wholeGroups, 5, 'every group read whole');
  assert.equal(all.pagesRead, 0);
  assert.deepEqual(
    all.images.map((image) => [image.file, image.target, Array.from(image.vector)]),
    Array.from({ length: 20 }, (_, m) => [`d${m}.png`, m % 3, [m * 10 + 1.5, m === 0 ? 0 : -m]]),
  );
  const some = await sampleImageVectors(other, 4, 6);
  assert.deepEqual(
    some.images.map((image) => image.file),
    ['d0.png', 'd4.png', 'd8.png', 'd12.png', 'd16.png'],
    'one image from each of the 5 groups',
  );
});

test('meanPool keeps only whole images (a cut image at either end is left out)', () => {
  const keys = [5, 6, 7, 8, 9, 10, 11, 12, 13].map((i) => ({ i, target: 1, file: `f${Math.floor(i / 4)}` }));
  const vectors = keys.map(({ i }) => new Uint8Array(Float32Array.of(i, 2 * i).buffer));
  const pooled = meanPool(keys, vectors, 4);
  assert.deepEqual(
    pooled.map((image) => image.file),
    ['f2'],
  );
  assert.deepEqual(Array.from(pooled[0]!.vector), [9.5, 19]);
});
