import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { leaveOneOutAccuracy, nearestNeighbours } from '../../lib/eval/nearest-neighbour.ts';
import { reasonKind, summariseErrors } from '../../lib/report/errors-summary.ts';
import { renderReport } from '../../lib/report/html.ts';
import { chanceOfSameClass } from '../../lib/report/report.ts';
import type { ReportData } from '../../lib/report/report-data.ts';
import { ticks } from '../../lib/report/svg.ts';
import { shardTimeline } from '../../lib/report/timeline.ts';
import { ManifestSchema, type ManifestShard } from '../../lib/run-folder/records.ts';
import { tempDir } from '../support/environment.ts';

const image = (target: number, ...vector: number[]) => ({
  file: `${target}:${vector.join(',')}`,
  target,
  vector: Float32Array.from(vector),
});

test('leave-one-out 1-NN accuracy on a toy set, under cosine similarity (the length of a vector does not matter)', () => {
  // Class 0 along x, class 1 along y, and one image of class 0 among class 1's: its nearest is of
  // class 1 (wrong), and it is the nearest of both class-1 images (wrong twice): 2 of 5 right.
  const set = [image(0, 1, 0), image(0, 100, 10), image(1, 0, 1), image(1, 0.1, 1), image(0, 0.05, 1)];
  assert.deepEqual(Array.from(nearestNeighbours(set)), [1, 0, 4, 4, 3]);
  assert.equal(leaveOneOutAccuracy(set), 2 / 5);
  // Euclidean distance would pair (100, 10) with nothing near it; cosine ignores the length.
  assert.equal(leaveOneOutAccuracy([image(0, 1, 0), image(0, 100, 10), image(1, 0, 1), image(1, 0, 3)]), 1);
  // Ties go to the earliest neighbour; a lone image has none.
  assert.deepEqual(Array.from(nearestNeighbours([image(0, 1, 1), image(1, 2, 2), image(0, 3, 3)])), [1, 0, 0]);
  assert.deepEqual(Array.from(nearestNeighbours([image(0, 1, 1)])), [-1]);
  assert.equal(leaveOneOutAccuracy([]), 0);
});

test('chance of a random neighbour of the same class', () => {
  assert.equal(chanceOfSameClass([0, 0, 1, 1]), 4 / 12);
  assert.equal(chanceOfSameClass([0, 1, 2]), 0);
  assert.equal(chanceOfSameClass([5, 5, 5]), 1);
  assert.equal(chanceOfSameClass([5]), 0);
});

test('reasonKind takes the image out of a reason, paths first', () => {
  assert.equal(
    reasonKind('image file /data/images/a b/x.jpg does not exist', 'a b/x.jpg'),
    'image file … does not exist',
  );
  assert.equal(reasonKind('image file /data/images/x.jpg does not exist', 'x.jpg'), 'image file … does not exist');
  assert.equal(reasonKind('image /d/x.jpg is a folder, not a file', 'x.jpg'), 'image … is a folder, not a file');
  assert.equal(
    reasonKind('jpeg image is truncated or corrupt (decoder: VipsJpeg: Premature end of input file /d/y.jpg)', 'y.jpg'),
    'jpeg image is truncated or corrupt (decoder: VipsJpeg: Premature end of input file …)',
  );
  assert.equal(reasonKind('hotel_id is empty', ''), 'hotel_id is empty');
  assert.equal(reasonKind('read at 20 images/s', 'q.jpg'), 'read at 20 images/s', 'a slash inside a word is no path');
});

test('summariseErrors groups errors.csv by stage and kind of reason, largest group first', async () => {
  const file = path.join(tempDir('report-errors'), 'errors.csv');
  fs.writeFileSync(
    file,
    [
      'image_id,hotel_id,split,stage,reason',
      'a.jpg,1,train,extract,image file /d/images/a.jpg does not exist',
      '"b,1.jpg",2,train,extract,"image file /d/images/b,1.jpg does not exist"',
      'c.jpg,3,val,extract,image file /d/images/c.jpg does not exist',
      'd.jpg,4,train,extract,"not an image in a format sharp decodes (JPEG, PNG): Input buffer contains unsupported image format"',
      ',5,train,plan,image_id is empty',
      '',
    ].join('\n'),
  );
  const { total, groups } = await summariseErrors(file);
  assert.equal(total, 5);
  assert.deepEqual(groups, [
    {
      stage: 'extract',
      reason: 'image file … does not exist',
      count: 3,
      splits: ['train', 'val'],
      examples: ['a.jpg', 'b,1.jpg', 'c.jpg'],
    },
    { stage: 'plan', reason: 'image_id is empty', count: 1, splits: ['train'], examples: [''] },
    {
      stage: 'extract',
      reason: 'not an image in a format sharp decodes (JPEG, PNG): Input buffer contains unsupported image format',
      count: 1,
      splits: ['train'],
      examples: ['d.jpg'],
    },
  ]);
  fs.writeFileSync(file, 'a,b\n1,2\n');
  await assert.rejects(summariseErrors(file), /expected the columns id, class, split, stage, reason; found a, b/);
});

const attempt = (
  startedAt: string,
  outcome: ManifestShard['attempts'][number]['outcome'],
  seconds?: number,
  n = 1,
) => ({ attempt: n, worker: 'host:1', startedAt, outcome, seconds });
const shard = (
  split: 'train' | 'val',
  n: number,
  images: number,
  attempts: ManifestShard['attempts'],
): ManifestShard => ({
  split,
  shard: n,
  images,
  parquet: null,
  parquetSha256: null,
  lineageSha256: 'x',
  key: {} as ManifestShard['key'],
  reusedFrom: [],
  attempts,
});

test("shardTimeline: attempts on one axis from the first start, each shard's images/s from its extracting attempt", () => {
  const timeline = shardTimeline([
    shard('val', 0, 10, [attempt('2026-01-01T00:00:09.000Z', 'extracted', 1)]),
    shard('train', 1, 40, [
      attempt('2026-01-01T00:00:01.000Z', 'interrupted'),
      attempt('2026-01-01T00:00:04.000Z', 'extracted', 4, 2),
    ]),
    shard('train', 0, 30, [attempt('2026-01-01T00:00:00.000Z', 'reused', 0.5)]),
  ]);
  assert.equal(timeline.origin, '2026-01-01T00:00:00.000Z');
  assert.equal(timeline.span, 10);
  assert.deepEqual(
    timeline.shards.map((s) => [s.split, s.shard, s.outcome, s.imagesPerSecond]),
    [
      ['train', 0, 'reused', null],
      ['train', 1, 'extracted', 10],
      ['val', 0, 'extracted', 10],
    ],
  );
  assert.deepEqual(
    timeline.shards[1]!.attempts.map((a) => [a.start, a.seconds, a.outcome]),
    [
      [1, null, 'interrupted'],
      [4, 4, 'extracted'],
    ],
  );
  assert.equal(timeline.imagesPerSecond, 5, '50 extracted images over 10 s');
  assert.deepEqual(shardTimeline([]), { origin: null, span: 0, shards: [], imagesPerSecond: null });
});

test('ticks: round steps covering the range', () => {
  assert.deepEqual(ticks(0, 10), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(ticks(-0.3, 0.25, 5), [-0.2, 0, 0.2]);
  assert.deepEqual(ticks(0.1, 0.7), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
  assert.deepEqual(ticks(3, 3), [3]);
});

test('the page escapes what it shows and loads nothing', () => {
  const manifest = ManifestSchema.parse({
    tessera: '0.1.0',
    createdAt: '2026-01-01T00:00:00.000Z',
    config: { splits: ['train'] },
    model: { path: '/m/<model>.onnx', sha256: 'f'.repeat(64) },
    input: { csv: '/d/train.csv', sha256: 'e'.repeat(64), images: '/d/images' },
    workflow: { id: 'w', runId: 'r' },
    counts: {
      inputRows: 3,
      trainingImages: 3,
      validationImages: 0,
      extractedImages: 3,
      rows: 12,
      validationExtractedImages: 0,
      validationRows: 0,
      reusedImages: 0,
      validationReusedImages: 0,
      errors: 0,
      shards: 1,
      tilesPerImage: 4,
      channels: 2,
    },
    timings: { split: 0, plan: 0, extract: 1, compact: 0, total: 1 },
    shards: [],
    reuse: {},
    outputs: {},
    files: {},
    shardsKept: false,
  });
  const data: ReportData = {
    out: '/o/"quoted"&<b>',
    generatedAt: 'now',
    tessera: '0.1.0',
    manifest,
    errors: { total: 0, groups: [] },
    classes: [{ target: 1, label: '<script>alert(1)</script>', training: 3, validation: null }],
    timeline: shardTimeline([]),
    vectors: {
      file: '/o/vectors.parquet',
      channels: 2,
      tilesPerImage: 4,
      totalImages: 3,
      sampled: 3,
      complete: true,
      maxImages: 2000,
      rowGroups: 1,
      rowGroupsRead: 1,
      pagesRead: 1,
      wholeGroups: 0,
      bytesRead: 100,
      fileBytes: 100,
      seconds: 0,
      pca: {
        points: [
          { x: 0, y: 0, target: 1, file: '<img src=x>' },
          { x: 1, y: 1, target: 1, file: 'b' },
          { x: 2, y: 0, target: 1, file: 'c' },
        ],
        explained: [0.7, 0.3],
      },
      nearestNeighbour: { accuracy: 1, chance: 1, images: 3, classes: 1 },
    },
  };
  const html = renderReport(data);
  assert.doesNotMatch(html, /<script|<img|<b>/);
  assert.match(html, /&#60;script&#62;alert\(1\)&#60;\/script&#62;/);
  assert.match(
    html,
    /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/,
  );
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/, 'no address to fetch');
  assert.equal(html.match(/<circle class="point"/g)?.length, 3);
});
