import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { compress } from '@bokuweb/zstd-wasm';
import { allocateTileRows, FINAL_CODEC, loadZstd, TileParquetWriter } from '../../lib/parquet/tile-writer.ts';
import { PageArena, ZstdPageCompressor } from '../../lib/parquet/vector-pages.ts';
import { tempDir } from '../support/environment.ts';
import { duckdbRows } from '../support/vectors.ts';

const rowsOf = (bytes: Uint8Array, width: number) =>
  Array.from({ length: bytes.length / width }, (_, r) => bytes.subarray(r * width, (r + 1) * width));

test("a page compressed in WebAssembly memory with the reused context is zstd compress()'s bytes at the same level, for pages of every size", async () => {
  await loadZstd();
  const compressor = new ZstdPageCompressor(1);
  try {
    // Growing sizes make the compressor reallocate its buffers; a smaller page after reuses them.
    for (const [rows, width] of [
      [4, 12],
      [64, 1280],
      [1024, 160],
      [16, 1280],
      [1, 4],
    ] as const) {
      const floats = Float32Array.from(
        { length: (rows * width) / 4 },
        (_, k) => Math.sin(k * 0.37) * 0.01 + (k % 7) * 1e-3,
      );
      const plain = new Uint8Array(floats.buffer);
      const ours = compressor.compressRows(rowsOf(plain, width), 0, rows, width);
      assert.ok(Buffer.from(ours).equals(Buffer.from(compress(plain, 1))), `${rows} rows of ${width} bytes`);
    }
  } finally {
    compressor.release();
  }
});

test('the page arena keeps every view intact until reset, across chunks, and gives larger pages their own buffer', () => {
  const arena = new PageArena(10);
  const a = arena.copy(Uint8Array.of(1, 2, 3, 4, 5, 6));
  const b = arena.gather([Uint8Array.of(7, 8), Uint8Array.of(9, 10), Uint8Array.of(11, 12)], 0, 3, 2); // 6 + 6 > 10: the next chunk
  const c = arena.copy(Uint8Array.from({ length: 12 }, (_, k) => k)); // larger than a chunk
  const d = arena.copy(Uint8Array.of(11, 12, 13, 14, 15, 16));
  assert.deepEqual(
    [[...a], [...b], [...d]],
    [
      [1, 2, 3, 4, 5, 6],
      [7, 8, 9, 10, 11, 12],
      [11, 12, 13, 14, 15, 16],
    ],
  );
  assert.equal(c.length, 12);
  assert.notEqual(a.buffer, b.buffer);
  arena.reset();
  const e = arena.copy(Uint8Array.of(99, 98));
  assert.equal(e.buffer, a.buffer, 'chunks are reused after reset');
});

test("the shard writer keeps none of the caller's vector buffers: overwriting them after append changes nothing written", async () => {
  await loadZstd();
  const dir = tempDir('vector-pages');
  const channels = 3;
  const tiles = 4;
  // Parts are row ranges: whole images (pages encoded at append), then images cut across appends.
  for (const [name, parts] of [
    [
      'whole images',
      [
        [0, 12],
        [12, 24],
      ],
    ],
    [
      'images split across appends',
      [
        [0, 6],
        [6, 16],
        [16, 24],
      ],
    ],
  ] as const) {
    const file = path.join(dir, `${name}.parquet`);
    const writer = new TileParquetWriter(file, channels, tiles, FINAL_CODEC, 8);
    const expected: number[][] = [];
    const shared = new Float32Array(6 * tiles * channels); // one buffer for every append, as extraction reuses one
    for (const [from, to] of parts) {
      const rows = allocateTileRows(to - from);
      for (let r = 0; r < rows.i.length; r++) {
        const row = from + r;
        const vector = Array.from({ length: channels }, (_, c) => row * 10 + c + 0.5);
        shared.set(vector, r * channels);
        expected.push(vector);
        rows.i[r] = row;
        rows.vector[r] = new Uint8Array(shared.buffer, r * channels * 4, channels * 4);
        rows.target[r] = 1;
        rows.file[r] = `img_${Math.floor(row / tiles)}.jpg`;
        rows.x[r] = (row % tiles) >> 1;
        rows.y[r] = row & 1;
      }
      await writer.append(rows);
      shared.fill(-1);
    }
    await writer.close();
    const written = await duckdbRows(`SELECT i, vector FROM read_parquet('${file}') ORDER BY i`);
    const vectors = written.map((row) => [
      ...new Float32Array(Uint8Array.from((row[1] as { bytes: Uint8Array }).bytes).buffer),
    ]);
    assert.deepEqual(vectors, expected, name);
  }
});
