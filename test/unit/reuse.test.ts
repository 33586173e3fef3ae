import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { buildRunConfig, configFlagSpecs } from '../../cli/run-options.ts';
import { parseCommandArgs } from '../../cli/usage.ts';
import { mergeTileRows, reusedTileRows } from '../../lib/extract/reused-images.ts';
import { allocateTileRows, type TileRows } from '../../lib/parquet/tile-writer.ts';
import { reuseLookupKey } from '../../lib/reuse/reuse-source.ts';
import { ranges } from '../../lib/reuse/reused-rows.ts';
import { isRunOf } from '../../lib/run/earlier-runs.ts';

function rowsWithI(values: number[]): TileRows {
  const rows = allocateTileRows(values.length);
  values.forEach((i, r) => {
    rows.i[r] = i;
    rows.vector[r] = new Uint8Array([i]);
    rows.file[r] = `f${i}`;
  });
  return rows;
}

test('two row sets ordered by i merge into one ordered by i, every row kept with its columns', () => {
  const merged = mergeTileRows(rowsWithI([0, 1, 6, 7]), rowsWithI([2, 3, 4, 5, 8]));
  assert.deepEqual([...merged.i], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(
    merged.vector.map((v) => v[0]),
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
  );
  assert.deepEqual(merged.file, ['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8']);
  assert.deepEqual([...mergeTileRows(rowsWithI([]), rowsWithI([3])).i], [3]);
  assert.deepEqual([...mergeTileRows(rowsWithI([3]), rowsWithI([])).i], [3]);
});

test('a reused image takes its ordinal now for i, its target and id now, and its tiles as read', () => {
  const tiles = 4;
  const vectors = Array.from({ length: tiles }, (_, t) => new Uint8Array([10 + t]));
  const reused = new Map([[7, { vectors, x: Int32Array.from([0, 0, 1, 1]), y: Int32Array.from([0, 1, 0, 1]) }]]);
  const rows = reusedTileRows([{ ordinal: 7, imageId: 'renamed.jpg', target: 3 }], reused);
  assert.deepEqual([...rows.i], [28, 29, 30, 31]);
  assert.deepEqual([...rows.target], [3, 3, 3, 3]);
  assert.deepEqual(rows.file, ['renamed.jpg', 'renamed.jpg', 'renamed.jpg', 'renamed.jpg']);
  assert.deepEqual([...rows.x, ...rows.y], [0, 0, 1, 1, 0, 1, 0, 1]);
  assert.equal(rows.vector[2], vectors[2]);
});

test('training images are matched by their bytes; validation images by bytes and id (the occlusion hole is drawn from the id)', () => {
  assert.equal(reuseLookupKey('train', 'abc', 'a.jpg'), reuseLookupKey('train', 'abc', 'renamed.jpg'));
  assert.notEqual(reuseLookupKey('val', 'abc', 'a.jpg'), reuseLookupKey('val', 'abc', 'renamed.jpg'));
  assert.notEqual(reuseLookupKey('val', 'abc', 'a.jpg'), reuseLookupKey('train', 'abc', 'a.jpg'));
});

test('source images are read in ranges: nearby ordinals together, a wide gap starts a new range', () => {
  assert.deepEqual(ranges([5, 3, 4, 1000, 10]), [
    [3, 10],
    [1000, 1000],
  ]);
  assert.deepEqual(ranges([]), []);
  assert.deepEqual(ranges([0, 256, 513]), [
    [0, 256],
    [513, 513],
  ]);
});

test('a schedule template names its runs by slot time in its last path component, nothing else', () => {
  const template = '/data/out/nightly-{scheduledTime}';
  assert.ok(isRunOf(template, '/data/out/nightly-20261129T050000Z'));
  assert.ok(!isRunOf(template, '/data/out/nightly-latest'));
  assert.ok(!isRunOf(template, '/data/elsewhere/nightly-20261129T050000Z'));
  assert.ok(!isRunOf(template, '/data/out/nightly-20261129T050000Z/x'));
  assert.ok(
    !isRunOf('/data/{scheduledTime}/out', '/data/20261129T050000Z/out'),
    'only the last component may hold the placeholder',
  );
  assert.ok(
    isRunOf('/data/out/a.b+{scheduledTime}', '/data/out/a.b+20261129T050000Z'),
    'the rest of the name is matched literally',
  );
  assert.ok(!isRunOf('/data/out/a.b+{scheduledTime}', '/data/out/aXb+20261129T050000Z'));
});

test('--reuse is repeatable, keeps commas in folder names and becomes absolute; --splits still splits on commas', () => {
  const { values } = parseCommandArgs(
    'run',
    ['--data', 'd', '--out', 'o', '--reuse', 'runs/a,b', '--reuse', '/abs/c', '--splits', 'train,val'],
    configFlagSpecs(),
  );
  const config = buildRunConfig(values);
  assert.deepEqual(config.reuse, [path.resolve('runs/a,b'), '/abs/c']);
  assert.deepEqual(config.splits, ['train', 'val']);
  assert.deepEqual(buildRunConfig({ data: 'd', out: 'o' }).reuse, []);
  assert.equal(buildRunConfig({ data: 'd', out: 'o' }).keepShards, false);
});
