import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { mergeTileRows, reusedTileRows } from '../../lib/extract/reused-images.ts';
import { readParquetFooter } from '../../lib/parquet/concatenate.ts';
import { readImagePages } from '../../lib/parquet/image-pages.ts';
import {
  allocateTileRows,
  COPIED_PAGE,
  FINAL_CODEC,
  loadZstd,
  TileParquetWriter,
  type TileRows,
} from '../../lib/parquet/tile-writer.ts';
import type { ShardImage } from '../../lib/run-folder/records.ts';
import { tempDir } from '../support/environment.ts';
import { duckdbRows } from '../support/vectors.ts';

const TILES = 4;
const CHANNELS = 3;

/** Image `ordinal`'s rows: 4 tiles on a 2×2 grid, vectors of pseudo-random floats fixed by the ordinal. */
function imageRows(ordinals: readonly number[]): TileRows {
  const rows = allocateTileRows(ordinals.length * TILES);
  ordinals.forEach((ordinal, k) => {
    for (let t = 0; t < TILES; t++) {
      const r = k * TILES + t;
      rows.i[r] = ordinal * TILES + t;
      rows.vector[r] = new Uint8Array(
        Float32Array.from({ length: CHANNELS }, (_, c) => Math.sin(ordinal * 97 + t * 13 + c) * 1000).buffer,
      );
      rows.target[r] = ordinal % 3;
      rows.file[r] = `img_${ordinal}.jpg`;
      rows.x[r] = t >> 1;
      rows.y[r] = t & 1;
    }
  });
  return rows;
}

async function write(file: string, parts: TileRows[], rowsPerPage = TILES): Promise<string> {
  await loadZstd();
  const writer = new TileParquetWriter(file, CHANNELS, rowsPerPage, FINAL_CODEC, 8);
  for (const rows of parts) await writer.append(rows);
  return writer.close();
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

test('copied image pages give the very file a fresh write of the same vectors gives', async () => {
  const dir = tempDir('image-pages');
  const source = path.join(dir, 'source.parquet');
  await write(source, [imageRows([0, 1, 2, 3, 4])]);

  const pages = await readImagePages(source, await readParquetFooter(source), TILES, new Set([1, 3, 4, 9]));
  assert.deepEqual([...pages.keys()].sort(), [1, 3, 4], 'every wanted image the file holds, and no other');
  assert.deepEqual([...pages.get(3)!.x], [0, 0, 1, 1]);
  assert.deepEqual([...pages.get(3)!.y], [0, 1, 0, 1]);
  assert.equal(pages.get(3)!.page.rows, TILES);
  assert.equal(pages.get(3)!.page.uncompressedSize, TILES * CHANNELS * 4);

  // Images 1, 3 and 4 copied from the source, 0 and 2 written from their vectors, as a shard is.
  const images: ShardImage[] = [1, 3, 4].map(
    (ordinal) => ({ ordinal, imageId: `img_${ordinal}.jpg`, target: ordinal % 3 }) as ShardImage,
  );
  const copied = reusedTileRows(images, new Map([...pages].map(([ordinal, page]) => [ordinal, page])));
  assert.equal(copied.copiedPages?.size, 3);
  assert.ok(copied.vector.every((vector) => vector === COPIED_PAGE));
  const merged = mergeTileRows(imageRows([0, 2]), copied);
  assert.deepEqual([...merged.copiedPages!.keys()], [4, 12, 16], 'pages move with their rows');
  const rebuilt = path.join(dir, 'rebuilt.parquet');
  await write(rebuilt, [merged]);
  assert.equal(sha256(rebuilt), sha256(source), 'byte-identical to the file written from vectors alone');

  const rows = await duckdbRows(`SELECT i, vector FROM read_parquet('${rebuilt}') ORDER BY i`);
  const expected = imageRows([0, 1, 2, 3, 4]);
  assert.deepEqual(
    rows.map((row) => Number(row[0])),
    [...expected.i],
  );
  rows.forEach((row, r) =>
    assert.deepEqual(new Uint8Array((row[1] as { bytes: Uint8Array }).bytes), expected.vector[r]),
  );
});

test('pages that are not one whole image each are not offered for copying', async () => {
  const dir = tempDir('image-pages');
  // Pages of 8 rows (two images each), as an earlier tessera's pages of ~1 MiB held many images.
  const wide = path.join(dir, 'wide.parquet');
  await write(wide, [imageRows([0, 1, 2, 3])], 8);
  assert.equal((await readImagePages(wide, await readParquetFooter(wide), TILES, new Set([0, 1, 2, 3]))).size, 0);

  // An image missing its last tile (rows of another grid): its page is not one image of 4 tiles.
  const gappy = path.join(dir, 'gappy.parquet');
  const rows = imageRows([0, 1]);
  rows.i[7] = 9;
  await write(gappy, [rows]);
  assert.deepEqual(
    [...(await readImagePages(gappy, await readParquetFooter(gappy), TILES, new Set([0, 1]))).keys()],
    [0],
  );
});

test('the writer refuses a copied page that does not fit, and a copied row without its page', async () => {
  const dir = tempDir('image-pages');
  const source = path.join(dir, 'source.parquet');
  await write(source, [imageRows([0, 1])]);
  const page = (await readImagePages(source, await readParquetFooter(source), TILES, new Set([1]))).get(1)!.page;

  await loadZstd();
  const other = new TileParquetWriter(path.join(dir, 'other.parquet'), CHANNELS, 2, FINAL_CODEC);
  const rows = imageRows([1]);
  rows.vector.fill(COPIED_PAGE);
  rows.copiedPages = new Map([[0, page]]);
  await assert.rejects(other.append(rows), /does not fit this file .*2 rows/);
  await other.abort();

  const writer = new TileParquetWriter(path.join(dir, 'orphan.parquet'), CHANNELS, TILES, FINAL_CODEC);
  const orphan = imageRows([1]);
  orphan.vector[2] = COPIED_PAGE;
  await assert.rejects(writer.append(orphan), /marked as copied has no copied page/);
  await writer.abort();

  const inside = new TileParquetWriter(path.join(dir, 'inside.parquet'), CHANNELS, TILES, FINAL_CODEC);
  const both = imageRows([1]);
  both.copiedPages = new Map([[0, page]]);
  await assert.rejects(inside.append(both), /has a vector of its own/);
  await inside.abort();
});
