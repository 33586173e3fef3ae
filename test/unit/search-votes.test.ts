import assert from 'node:assert/strict';
import { test } from 'node:test';
import { annNeighbours, newIndex } from '../../lib/search/ann-engine.ts';
import { IndexSettingsSchema } from '../../lib/search/records.ts';
import { averagePrecisionAt5, rankByVotes, recallAtK, type KeyLookup } from '../../lib/search/votes.ts';

// Two tiles per image on a 1×2 grid: image 0 (class 7) keys 0, 1; image 1 (class 7) keys 2, 3; image 2 (class 9) keys 4, 5.
const lookup: KeyLookup = {
  images: new Map([
    [0, [0, 'a.jpg', 7]],
    [1, [1, 'b.jpg', 7]],
    [2, [2, 'c.jpg', 9]],
  ]),
  tilesPerImage: 2,
  grid: [1, 2],
  metric: 'cos',
};

const neighbours = (rows: [number, number][][]) => ({
  keys: rows.map((row) => Int32Array.from(row.map(([key]) => key))),
  distances: rows.map((row) => Float32Array.from(row.map(([, distance]) => distance))),
});

test('an image votes once per query tile, with its nearest tile; a class with its best image', () => {
  const ranking = rankByVotes(
    neighbours([
      // Query tile 0: image 0 twice (only its nearest, 0.1, counts), then image 2.
      [
        [0, 0.1],
        [1, 0.2],
        [4, 0.3],
      ],
      // Query tile 1: image 1, then image 2.
      [
        [3, 0.5],
        [5, 0.6],
      ],
    ]),
    lookup,
    5,
  );
  // Class 7: best of tile 0 is 0.9 (image 0), of tile 1 is 0.5 (image 1): (0.9 + 0.5) / 2.
  // Class 9: 0.7 and 0.4: (0.7 + 0.4) / 2.
  assert.deepEqual(
    ranking.classes.map((c) => [c.target, Number(c.score.toFixed(6))]),
    [
      [7, 0.7],
      [9, 0.55],
    ],
  );
  assert.deepEqual(
    ranking.images.map((image) => [image.file, Number(image.score.toFixed(6)), image.matches.length]),
    [
      ['c.jpg', 0.55, 2],
      ['a.jpg', 0.45, 1],
      ['b.jpg', 0.25, 1],
    ],
  );
  // Grid cells: key 1 is tile 1 of its image, (0, 1); query tile 1 is (0, 1).
  assert.deepEqual(ranking.images[2]!.matches[0], { query: [0, 1], tile: [0, 1], distance: 0.5 });
});

test('ties rank the smaller class id first; top cuts the lists', () => {
  const ranking = rankByVotes(
    neighbours([
      [
        [4, 0.2],
        [0, 0.2],
      ],
    ]),
    lookup,
    1,
  );
  assert.deepEqual(
    ranking.classes.map((c) => c.target),
    [7],
  );
  assert.equal(ranking.images.length, 1);
});

test('MAP@5 as Hotel-ID scores it: 1/rank of the first right class among five, else 0', () => {
  assert.equal(averagePrecisionAt5([3, 1, 2], 3), 1);
  assert.equal(averagePrecisionAt5([1, 3, 2], 3), 0.5);
  assert.equal(averagePrecisionAt5([1, 2, 4, 5, 3], 3), 0.2);
  assert.equal(averagePrecisionAt5([1, 2, 4, 5, 6, 3], 3), 0, 'the sixth does not count');
  assert.equal(averagePrecisionAt5([], 3), 0);
});

test('recall@k counts the exact neighbours the ANN found', () => {
  const exact = neighbours([
    [
      [1, 0],
      [2, 0],
    ],
    [
      [3, 0],
      [4, 0],
    ],
  ]);
  const ann = neighbours([
    [
      [2, 0],
      [1, 0],
    ],
    [
      [3, 0],
      [9, 0],
    ],
  ]);
  assert.equal(recallAtK(ann, exact, 2), 0.75);
});

test('index settings: defaults recorded, i8 only with cos', () => {
  assert.deepEqual(IndexSettingsSchema.parse({}), {
    metric: 'cos',
    precision: 'f16',
    connectivity: 16,
    expansionAdd: 32,
    expansionSearch: 160,
  });
  assert.equal(IndexSettingsSchema.safeParse({ metric: 'l2', precision: 'i8' }).success, false);
  assert.equal(IndexSettingsSchema.safeParse({ metric: 'cos', precision: 'i8' }).success, true);
});

test("usearch's distances are the ones the vote rule reads: cos 1 − cosine, l2 squared, ip 1 − dot", () => {
  const vectors = Float32Array.from([1, 0, 0, 0, 3, 4]);
  const query = Float32Array.from([1, 0]);
  const expected = { cos: [0, 1, 0.4], l2: [0, 1, 20], ip: [0, 1, -2] } as const;
  for (const metric of ['cos', 'l2', 'ip'] as const) {
    const index = newIndex(2, IndexSettingsSchema.parse({ metric, precision: 'f32' }));
    index.add(BigUint64Array.from([0n, 1n, 2n]), vectors);
    const found = annNeighbours(index, query, 3);
    const byKey = new Map([...found.keys[0]!].map((key, n) => [key, found.distances[0]![n]!]));
    expected[metric].forEach((distance, key) =>
      assert.ok(Math.abs(byKey.get(key)! - distance) < 1e-5, `${metric} key ${key}`),
    );
  }
});
