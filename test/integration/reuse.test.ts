/**
 * Incremental runs: a run given an earlier output (--reuse) copies the vectors of every image
 * whose bytes and extraction key match and extracts only the rest, and its output is exactly a
 * fresh full run's. Sources are verified first: a damaged or mismatching one is skipped, named.
 * Real Temporal, real files, real onnxruntime and DuckDB.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { submitRun } from '../../cli/submit-run.ts';
import { RunConfigSchema, type RunConfigInput } from '../../lib/core/run-config.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { ManifestSchema } from '../../lib/run-folder/records.ts';
import type { RunSummary } from '../../lib/core/run-summary.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { photoFile, preparePhotos } from '../support/photos.ts';
import { duckdbRows } from '../support/vectors.ts';
import { readParquetFooter } from '../../lib/parquet/concatenate.ts';
import { readImagePages } from '../../lib/parquet/image-pages.ts';
import { assertSameOutput } from '../support/outputs.ts';

let dir: string;
let temporal: TemporalHarness;

/** 7 photos from each of 4 classes; the first 6 of each are the first dataset, the 7th is new in the second. */
const PHOTOS = ['1', '2', '3', '4'].flatMap((cls, c) =>
  Array.from({ length: 7 }, (_, k) => ({ id: `image_${String(c * 80 + k + 1).padStart(4, '0')}.jpg`, cls })),
);
const FIRST = PHOTOS.filter((_, k) => k % 7 !== 6);

function writeDataset(folder: string, rows: { id: string; cls: string }[]): void {
  fs.mkdirSync(path.join(folder, 'images'), { recursive: true });
  for (const { id } of rows) fs.copyFileSync(photoFile(id), path.join(folder, 'images', id));
  fs.writeFileSync(
    path.join(folder, 'train.csv'),
    'image_id,hotel_id\n' + rows.map((r) => `${r.id},${r.cls}\n`).join(''),
  );
}

async function run(data: string, out: string, options: Partial<RunConfigInput> = {}): Promise<RunSummary> {
  const config = RunConfigSchema.parse({
    data,
    out,
    model: DEFAULT_MODEL,
    shardSize: 8,
    batchSize: 4,
    splits: ['train', 'val'],
    ...options,
  });
  const { summary } = await submitRun(config, { target: temporal.target, quiet: true });
  assert.ok(summary, `the run of ${out} returned its summary`);
  return summary;
}

/** Same CSVs, byte-identical vector rows in both splits, and the very same vectors files. */
const assertSameOutputs = (actual: string, expected: string) =>
  assertSameOutput(actual, expected, {
    vectorFiles: ['vectors.parquet', 'validation-vectors.parquet'],
    sameFiles: true,
  });

const manifestOf = (out: string) =>
  ManifestSchema.parse(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')));

/** lineage.csv rows of a split as `sha256` (training) or `sha256 id` (validation): what reuse matches. */
function lineageKeys(out: string, split: 'train' | 'val'): string[] {
  return fs
    .readFileSync(path.join(out, 'lineage.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(','))
    .filter((fields) => fields[0] === split)
    .map(([, , , id, , sha256]) => (split === 'val' ? `${sha256} ${id}` : sha256!));
}

/** Images of `out` whose vectors an output `source` holds under the same key: what reuse must copy. */
function expectedReuse(out: string, source: string, split: 'train' | 'val'): number {
  const offered = new Set(lineageKeys(source, split));
  return lineageKeys(out, split).filter((key) => offered.has(key)).length;
}

let first: string;
let second: string;
let fresh: string;

before(async () => {
  requireSetup('model', 'temporal');
  await preparePhotos(PHOTOS.map((row) => row.id));
  dir = tempDir('reuse');
  temporal = await startTemporal(dir);

  // The first dataset, and a second one grown from it: a new photo per class, one photo's bytes
  // changed, one row deleted, one image relabelled to another class.
  const firstData = path.join(dir, 'data-1');
  writeDataset(firstData, FIRST);
  const secondData = path.join(dir, 'data-2');
  const rows = PHOTOS.filter((row) => row.id !== 'image_0004.jpg').map((row) =>
    row.id === 'image_0082.jpg' ? { ...row, cls: '1' } : row,
  );
  writeDataset(secondData, rows);
  const changed = path.join(secondData, 'images', 'image_0162.jpg');
  fs.writeFileSync(changed, await sharp(photoFile('image_0162.jpg')).jpeg({ quality: 70 }).toBuffer());

  first = path.join(dir, 'out-1');
  second = path.join(dir, 'out-2');
  fresh = path.join(dir, 'out-fresh');
  await run(firstData, first);
  await run(secondData, fresh);
});

after(async () => {
  await temporal?.stop();
});

test("a run given an earlier output copies the vectors of unchanged images, extracts the rest, and writes exactly a fresh run's output", async () => {
  const summary = await run(path.join(dir, 'data-2'), second, { reuse: [first] });
  await assertSameOutputs(second, fresh);

  const expectTrain = expectedReuse(second, first, 'train');
  const expectVal = expectedReuse(second, first, 'val');
  assert.ok(expectTrain >= 15, `most training images are unchanged (${expectTrain})`);
  assert.equal(summary.counts.reusedImages, expectTrain);
  assert.equal(summary.counts.validationReusedImages, expectVal);
  assert.ok(
    summary.counts.extractedImages - summary.counts.reusedImages >= 3,
    'new and changed images went through the model',
  );
  assert.deepEqual(summary.reuse, { sources: [first], skipped: [] });

  // What makes copying cheap survives compaction: each image of the source is a vector page of
  // its own, taken as it is (lib/parquet/image-pages.ts), not decoded and encoded again.
  const sourceVectors = path.join(first, 'vectors.parquet');
  const footer = await readParquetFooter(sourceVectors);
  const { tilesPerImage } = manifestOf(first).counts;
  const images = Number(footer.num_rows) / tilesPerImage;
  const everyOrdinal = new Set(Array.from({ length: images + 10 }, (_, ordinal) => ordinal));
  assert.equal((await readImagePages(sourceVectors, footer, tilesPerImage, everyOrdinal)).size, images);

  const manifest = manifestOf(second);
  assert.deepEqual(manifest.reuse.train, [{ source: first, images: expectTrain }]);
  assert.equal(manifest.counts.reusedImages, expectTrain);
  assert.equal(
    manifest.shards.reduce((sum, shard) => sum + (shard.reusedFrom ?? []).reduce((n, s) => n + s.images, 0), 0),
    expectTrain + expectVal,
  );
  // lineage.csv names the bytes every row was made from, reused or not: the same as a fresh run's.
  assert.equal(
    fs.readFileSync(path.join(second, 'lineage.csv'), 'utf8'),
    fs.readFileSync(path.join(fresh, 'lineage.csv'), 'utf8'),
  );
});

test('a reused image keeps its vectors under a new class, and a changed image is extracted again', async () => {
  const rows = async (out: string, id: string) =>
    duckdbRows(
      `SELECT target, vector FROM read_parquet('${path.join(out, 'vectors.parquet')}') WHERE file = '${id}' ORDER BY i`,
    );
  const hex = (r: unknown[][]) => r.map((row) => Buffer.from((row[1] as { bytes: Uint8Array }).bytes).toString('hex'));
  // Both are training images in both runs (the split is fixed by the seed).
  const [before, after] = [await rows(first, 'image_0082.jpg'), await rows(second, 'image_0082.jpg')];
  assert.ok(before.length > 0 && after.length === before.length, 'relabelled: in training both times');
  assert.deepEqual(hex(after), hex(before), 'relabelled: same vectors');
  assert.ok(
    after.every((row) => Number(row[0]) !== Number(before[0]![0])),
    'relabelled: new target',
  );
  const [old, now] = [await rows(first, 'image_0162.jpg'), await rows(second, 'image_0162.jpg')];
  assert.ok(old.length > 0 && now.length === old.length, 'changed: in training both times');
  assert.notDeepEqual(hex(now), hex(old), 'changed bytes: new vectors');
  assert.equal((await rows(second, 'image_0004.jpg')).length, 0, 'a deleted row has no vectors');
});

test('a damaged or mismatching reuse source is skipped with a warning naming it; its images are extracted and the output is unchanged', async () => {
  const damaged = path.join(dir, 'damaged');
  fs.cpSync(first, damaged, { recursive: true });
  const vectors = path.join(damaged, 'vectors.parquet');
  fs.truncateSync(vectors, fs.statSync(vectors).size - 100); // its footer is gone
  const unfinished = path.join(dir, 'unfinished');
  fs.cpSync(first, unfinished, { recursive: true });
  fs.rmSync(path.join(unfinished, 'manifest.json'));
  const otherModel = path.join(dir, 'other-options');
  await run(path.join(dir, 'data-1'), otherModel, { imgSize: 128 });

  const out = path.join(dir, 'out-from-bad-sources');
  const summary = await run(path.join(dir, 'data-2'), out, { reuse: [damaged, unfinished, otherModel] });
  await assertSameOutputs(out, fresh);
  // The damaged source's validation vectors are intact: it serves those, and only those.
  assert.equal(summary.counts.reusedImages, 0);
  assert.equal(summary.counts.validationReusedImages, expectedReuse(out, first, 'val'));
  assert.deepEqual(summary.reuse?.sources, [damaged]);
  const skipped = summary.reuse?.skipped.join('\n') ?? '';
  assert.match(
    skipped,
    new RegExp(`reuse source ${damaged} skipped for training images: vectors.parquet is not a readable Parquet file`),
  );
  assert.doesNotMatch(skipped, new RegExp(`${damaged} skipped for validation`));
  assert.match(skipped, new RegExp(`reuse source ${unfinished} skipped for training images: it has no manifest.json`));
  assert.match(
    skipped,
    new RegExp(
      `reuse source ${otherModel} skipped for training images: made under another extraction key \\(imgSize differ\\)`,
    ),
  );
  assert.ok(!fs.existsSync(path.join(out, '.tessera', 'previous')));

  // A source whose lineage.csv no longer matches its manifest is not trusted either.
  const edited = path.join(dir, 'edited-lineage');
  fs.cpSync(first, edited, { recursive: true });
  fs.appendFileSync(path.join(edited, 'lineage.csv'), 'train,0,99,image_9999.jpg,1,00\n');
  // Nor one whose vectors file changed under an intact footer: one byte of a vector page flipped.
  const flipped = path.join(dir, 'flipped-byte');
  fs.cpSync(first, flipped, { recursive: true });
  const flippedVectors = path.join(flipped, 'vectors.parquet');
  const bytes = fs.readFileSync(flippedVectors);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
  fs.writeFileSync(flippedVectors, bytes);
  const again = await run(path.join(dir, 'data-2'), path.join(dir, 'out-from-edited'), {
    reuse: [edited, flipped, first],
  });
  assert.match(
    again.reuse?.skipped.join('\n') ?? '',
    /edited-lineage skipped for training images: its lineage.csv does not match its manifest/,
  );
  assert.match(
    again.reuse?.skipped.join('\n') ?? '',
    /flipped-byte skipped for training images: vectors.parquet does not match its manifest \(changed or damaged\)/,
  );
  // The good source is still used; the flipped one still serves its intact validation vectors.
  assert.deepEqual(again.reuse?.sources, [flipped, first]);
  assert.deepEqual(
    manifestOf(path.join(dir, 'out-from-edited')).reuse.train?.map((entry) => entry.source),
    [first],
  );
  await assertSameOutputs(path.join(dir, 'out-from-edited'), fresh);
});

test('a finished folder run again on changed inputs copies its own vectors of unchanged images, and keeps one copy of them', async () => {
  const data = path.join(dir, 'data-in-place');
  writeDataset(data, FIRST);
  const out = path.join(dir, 'out-in-place');
  await run(data, out);
  fs.rmSync(data, { recursive: true });
  fs.cpSync(path.join(dir, 'data-2'), data, { recursive: true });

  const summary = await run(data, out);
  await assertSameOutputs(out, fresh);
  // The deleted row moves every later ordinal: each training shard is extracted again, its
  // unchanged images' vectors copied from the folder's own outputs, set aside for the run.
  const previous = path.join(out, '.tessera', 'previous');
  assert.equal(summary.counts.reusedImages, expectedReuse(out, first, 'train'));
  assert.deepEqual(manifestOf(out).reuse.train, [{ source: previous, images: summary.counts.reusedImages }]);
  assert.ok(!fs.existsSync(previous), 'the replaced outputs are gone once the new manifest is written');
});
