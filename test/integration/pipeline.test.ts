import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { progressQuery } from '../../workflows/run-progress.ts';
import type { RunSummary } from '../../lib/core/run-summary.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { duckdbRows, referenceFeatures } from '../support/vectors.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

const IMAGES = 45;
const CLASSES = 5;
let dir: string;
let temporal: TemporalHarness;
let summary: RunSummary;
let data: string;
let out: string;

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('pipeline');
  data = path.join(dir, 'data');
  out = path.join(dir, 'out');
  await generateSampleData({ dir: data, images: IMAGES, classes: CLASSES });
  // Two inputs that cannot become vectors: a text file named .jpg and a row whose file is missing.
  fs.writeFileSync(path.join(data, 'images', 'img_00007.jpg'), 'this is not a JPEG');
  fs.appendFileSync(path.join(data, 'train.csv'), 'missing.jpg,1001\n');
  temporal = await startTemporal(dir);
  summary = await temporal.client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: `pipeline-${path.basename(dir)}`,
    // Small shards and batches so the run has several shards, partial batches and fan-out.
    args: [{ data, out, model: DEFAULT_MODEL, shardSize: 8, batchSize: 3, parallelShards: 3 }],
  });
});

after(async () => {
  await temporal?.stop();
});

test('the summary counts add up: every input row is a vector or an error', () => {
  const trainingRows = IMAGES + 1 - CLASSES; // one validation image per class
  const c = summary.counts;
  assert.equal(c.inputRows, IMAGES + 1);
  assert.equal(c.trainingImages, trainingRows);
  assert.equal(c.validationImages, CLASSES);
  assert.equal(c.shards, Math.ceil(trainingRows / 8));
  assert.equal(c.errors, 2);
  assert.equal(c.extractedImages, trainingRows - 2);
  assert.equal(c.rows, c.extractedImages * 64);
  assert.equal(c.tilesPerImage, 64);
  assert.equal(c.channels, 320);
});

test('vectors.parquet has the notebook schema, read back with DuckDB', async () => {
  const vectors = path.join(out, 'vectors.parquet');
  const schema = await duckdbRows(
    `SELECT name, type, type_length, converted_type FROM parquet_schema('${vectors}') WHERE name <> 'schema'`,
  );
  assert.deepEqual(schema, [
    ['i', 'INT32', null, null],
    ['vector', 'FIXED_LEN_BYTE_ARRAY', '1280', null],
    ['target', 'INT32', null, null],
    ['file', 'BYTE_ARRAY', null, 'UTF8'],
    ['x', 'INT32', null, null],
    ['y', 'INT32', null, null],
  ]);
  const encodings = await duckdbRows(
    `SELECT DISTINCT path_in_schema, encodings, compression FROM parquet_metadata('${vectors}') WHERE path_in_schema IN ('target', 'file', 'vector') ORDER BY 1`,
  );
  for (const [column, encoding, compression] of encodings) {
    if (column !== 'vector') assert.match(String(encoding), /RLE_DICTIONARY/, `${column} is dictionary-encoded`);
    assert.equal(compression, 'ZSTD');
  }
});

test('i is unique, ordered, and contiguous except for the images in errors.csv', async () => {
  const vectors = path.join(out, 'vectors.parquet');
  const [[rows, distinct, ordered]] = (await duckdbRows(
    `SELECT count(*)::INT, count(DISTINCT i)::INT, bool_and(i > coalesce(prev, -1))
     FROM (SELECT i, lag(i) OVER () AS prev FROM read_parquet('${vectors}'))`,
  )) as [[number, number, boolean]];
  assert.equal(rows, summary.counts.rows);
  assert.equal(distinct, rows);
  assert.equal(ordered, true, 'rows are stored in i order');
  const training = fs.readFileSync(path.join(out, 'training.csv'), 'utf8').trim().split('\n').slice(1);
  const failedOrdinals = training.flatMap((line, ordinal) =>
    /img_00007\.jpg|missing\.jpg/.test(line) ? [ordinal] : [],
  );
  assert.equal(failedOrdinals.length, 2);
  const expected = training.flatMap((_, ordinal) =>
    failedOrdinals.includes(ordinal) ? [] : Array.from({ length: 64 }, (_, t) => ordinal * 64 + t),
  );
  const actual = (await duckdbRows(`SELECT i FROM read_parquet('${vectors}') ORDER BY i`)).map(([i]) => i);
  assert.deepEqual(actual, expected);
});

test('every (file, x, y) appears exactly once, with x and y on the 8×8 grid and the right target', async () => {
  const vectors = path.join(out, 'vectors.parquet');
  const [[cells, distinctCells, minX, maxX, minY, maxY]] = (await duckdbRows(
    `SELECT count(*)::INT, count(DISTINCT (file, x, y))::INT, min(x), max(x), min(y), max(y) FROM read_parquet('${vectors}')`,
  )) as [[number, number, number, number, number, number]];
  assert.equal(distinctCells, cells);
  assert.deepEqual([minX, maxX, minY, maxY], [0, 7, 0, 7]);
  const csvTargets = new Map(
    fs
      .readFileSync(path.join(data, 'train.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(',') as [string, string]),
  );
  const fileTargets = await duckdbRows(`SELECT DISTINCT file, target FROM read_parquet('${vectors}')`);
  for (const [file, target] of fileTargets)
    assert.equal(String(target), csvTargets.get(String(file)), `target of ${file}`);
  const [[wrongI]] = (await duckdbRows(
    `SELECT count(*)::INT FROM read_parquet('${vectors}') WHERE i % 64 <> x * 8 + y`,
  )) as [[number]];
  assert.equal(wrongI, 0, 'tile index within an image is x * 8 + y');
});

test('vectors equal a direct onnxruntime run on the same images', async () => {
  const vectors = path.join(out, 'vectors.parquet');
  for (const file of ['img_00000.jpg', 'img_00004.jpg', 'img_00010.jpg', 'img_00044.jpg']) {
    // img_00004 is 512×512, img_00044 256×256; img_00010 follows the broken img_00007 in its batch (img_00008 and _09 are validation images).
    const reference = await referenceFeatures(DEFAULT_MODEL, path.join(data, 'images', file), 256, 'level_4');
    const rows = (await duckdbRows(
      `SELECT x, y, vector FROM read_parquet('${vectors}') WHERE file = '${file}' ORDER BY i`,
    )) as [number, number, { bytes: Uint8Array }][];
    assert.equal(rows.length, 64, `${file} has its 64 tiles (a training image of the sample data, seed 42)`);
    let worst = 0;
    for (const [x, y, blob] of rows) {
      const bytes = blob.bytes;
      const got = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      for (let c = 0; c < reference.channels; c++) {
        const want = reference.data[(c * reference.height + x) * reference.width + y]!;
        worst = Math.max(worst, Math.abs(got[c]! - want) / Math.max(1e-6, Math.abs(want)));
      }
    }
    assert.ok(worst < 1e-4, `${file}: max relative error ${worst}`);
  }
});

test('errors.csv names each lost row and why; manifest.json records the run', () => {
  const errors = fs.readFileSync(path.join(out, 'errors.csv'), 'utf8').trim().split('\n');
  assert.equal(errors[0], 'image_id,hotel_id,split,stage,reason');
  assert.equal(errors.length, 3);
  assert.match(
    errors.find((l) => l.startsWith('missing.jpg'))!,
    /missing\.jpg,1001,train,extract,image file .*missing\.jpg does not exist/,
  );
  assert.match(
    errors.find((l) => l.startsWith('img_00007.jpg'))!,
    /img_00007\.jpg,1002,train,extract,.+/,
  );
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  assert.match(manifest.model.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(manifest.counts, summary.counts);
  assert.equal(manifest.counts.errors, 2);
  assert.equal(manifest.config.shardSize, 8);
  for (const stage of ['split', 'plan', 'extract', 'compact', 'total'])
    assert.equal(typeof manifest.timings[stage], 'number');
  // missing.jpg is the last training row, alone in the last shard: that shard wrote no file.
  assert.equal(
    manifest.shards.filter((shard: { parquet: string | null }) => shard.parquet !== null).length,
    summary.counts.shards - 1,
  );
  // Once vectors.parquet is verified and the manifest written, the shard files (and their folder) go.
  assert.ok(!fs.existsSync(path.join(out, 'shards')), 'shard files removed');
  assert.equal(manifest.shardsKept, false);
  assert.equal(manifest.files.shards, undefined, 'the manifest lists no shard folder');
});

test('the progress query reports the finished run', async () => {
  const {
    extractStartedAt,
    extractEndedAt,
    imagesAtExtractStart,
    updatedAt,
    imagesPerSecond,
    etaSeconds,
    ...progress
  } = await temporal.client.workflow.getHandle(summary.workflowId).query(progressQuery);
  assert.ok(
    extractStartedAt !== null &&
      extractEndedAt !== null &&
      extractEndedAt > extractStartedAt &&
      updatedAt >= extractEndedAt,
    'extraction start and end in workflow time',
  );
  assert.equal(
    imagesAtExtractStart,
    0,
    'planning rejected no row here (the two errors are image files that cannot be read)',
  );
  assert.ok(imagesPerSecond > 0 && imagesPerSecond < 10_000, `rate ${imagesPerSecond} images/s`);
  assert.equal(etaSeconds, 0, 'nothing left');
  assert.deepEqual(progress, {
    stage: 'done',
    shardsTotal: summary.counts.shards,
    shardsDone: summary.counts.shards,
    imagesTotal: summary.counts.trainingImages,
    imagesDone: summary.counts.trainingImages,
    rows: summary.counts.rows,
    errors: summary.counts.errors,
  });
});
