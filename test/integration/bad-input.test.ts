/**
 * Bad and unusual input through one real run: every row ends in vectors.parquet or in errors.csv
 * with a reason naming what is wrong, and the summary's counts add up. CSV problems that make a
 * run impossible end it at once with a message naming the file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { parseRunConfig } from '../../lib/core/run-config.ts';
import { prepareSplit } from '../../lib/split/prepare-split.ts';
import { InputError } from '../../lib/core/errors.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import type { RunSummary } from '../../lib/core/run-summary.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { duckdbRows } from '../support/vectors.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';

let dir: string;
let out: string;
let temporal: TemporalHarness;
let summary: RunSummary;

/** A photo-like 256×256 RGB image (gradients), different per seed. */
function pixels(seed: number, width = 256, height = 256) {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const k = (y * width + x) * 3;
      raw[k] = (x * (seed + 1)) & 255;
      raw[k + 1] = (y * 3 + seed * 40) & 255;
      raw[k + 2] = ((x ^ y) + seed * 17) & 255;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

/** A valid PNG header declaring width × height, with no pixel data worth decoding. */
function declaredPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(16))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Rows expected in vectors.parquet, and rows expected in errors.csv with a pattern of their reason. */
const GOOD = [
  'plain.jpg',
  'alpha.png',
  'gray.jpg',
  'cmyk.jpg',
  'sixteen-bit.png',
  'animated.gif',
  'animated.webp',
  'exif-rotated.jpg',
  'exif-plain.jpg',
  'one-pixel.png',
  'with, comma.jpg',
  'link-into-roots.jpg', // a link that stays inside the worker's roots is followed
];
const BAD: Record<string, RegExp> = {
  'missing.jpg': /does not exist/,
  'zero-bytes.jpg': /image file is empty \(0 bytes\)/,
  'truncated.jpg': /jpeg image is truncated or corrupt \(decoder: /,
  'text.jpg': /not an image in a format sharp decodes/,
  'bomb.png': /image of 60000×60000 has more than 100,000,000 pixels, refused before decoding/,
  '../outside.jpg': /points outside the image folder/,
  '/etc/hostname': /absolute path/,
  'escape-link.jpg': /resolves outside the image folder and the folders this worker may use/,
};

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('bad-input');
  const data = path.join(dir, 'data');
  const images = path.join(data, 'images');
  out = path.join(dir, 'out');
  fs.mkdirSync(images, { recursive: true });
  const at = (name: string) => path.join(images, name);

  await pixels(1).jpeg().toFile(at('plain.jpg'));
  await pixels(2).ensureAlpha(0.5).png().toFile(at('alpha.png'));
  await pixels(3).grayscale().jpeg().toFile(at('gray.jpg'));
  await pixels(4).toColourspace('cmyk').jpeg().toFile(at('cmyk.jpg'));
  await pixels(5).png().toColourspace('rgb16').toFile(at('sixteen-bit.png'));
  const frames = Buffer.concat([await pixels(6).raw().toBuffer(), await pixels(7).raw().toBuffer()]);
  const animated = { raw: { width: 256, height: 512, channels: 3 as const } };
  await sharp(frames, animated).gif({ loop: 0 }).toFile(at('animated.tmp.gif'));
  await sharp(at('animated.tmp.gif'), { pages: -1 }).gif().toFile(at('animated.gif')); // keeps two frames of 256×256
  await sharp(frames, animated).webp().toFile(at('animated.webp'));
  fs.rmSync(at('animated.tmp.gif'));
  // The same pixels through the same encoder; one file also carries EXIF orientation 6 (90° clockwise).
  await pixels(8, 256, 192).jpeg({ quality: 95 }).toFile(at('exif-plain.jpg'));
  await pixels(8, 256, 192).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toFile(at('exif-rotated.jpg'));
  await pixels(9, 1, 1).png().toFile(at('one-pixel.png'));
  await pixels(10).jpeg().toFile(at('with, comma.jpg'));
  fs.writeFileSync(at('zero-bytes.jpg'), '');
  const whole = await pixels(11).jpeg().toBuffer();
  fs.writeFileSync(at('truncated.jpg'), whole.subarray(0, whole.length >> 1));
  fs.writeFileSync(at('text.jpg'), 'this is a text file, not a JPEG\n');
  fs.writeFileSync(at('bomb.png'), declaredPng(60_000, 60_000));
  await pixels(12).jpeg().toFile(path.join(data, 'outside.jpg'));
  fs.symlinkSync(path.join(data, 'outside.jpg'), at('link-into-roots.jpg'));
  const beyondRoots = tempDir('bad-input-beyond-roots');
  await pixels(13).jpeg().toFile(path.join(beyondRoots, 'elsewhere.jpg'));
  fs.symlinkSync(path.join(beyondRoots, 'elsewhere.jpg'), at('escape-link.jpg'));

  // BOM, CRLF line ends, blank lines, a quoted id with a comma, a quoted caption with commas and
  // quotes, a duplicate image id and a row without a class.
  const rows = [
    'image_id,hotel_id,caption',
    ...GOOD.map((id, k) => `${id.includes(',') ? `"${id}"` : id},${k % 3},"a caption, with ""quotes"""`),
    '',
    ...Object.keys(BAD).map((id, k) => `${id},${k % 3},plain`),
    'plain.jpg,2,duplicate id',
    'gray.jpg,,no class',
    '',
  ];
  fs.writeFileSync(path.join(data, 'train.csv'), `\uFEFF${rows.join('\r\n')}\r\n`);

  temporal = await startTemporal(dir);
  summary = await temporal.client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: `bad-input-${path.basename(dir)}`,
    args: [{ data, out, model: DEFAULT_MODEL, valSamples: 0, shardSize: 8, batchSize: 4 }],
  });
});

after(async () => {
  await temporal?.stop();
});

function errorsCsv(): Map<string, string> {
  const lines = fs.readFileSync(path.join(out, 'errors.csv'), 'utf8').trimEnd().split('\n').slice(1);
  // image_id,hotel_id,split,stage,reason: ids here hold no commas; reasons may (quoted).
  return new Map(lines.map((line) => [line.slice(0, line.indexOf(',')), line]));
}

test('every input row is a vector or an error, and the counts add up', async () => {
  const c = summary.counts;
  const inputRows = GOOD.length + Object.keys(BAD).length + 2;
  assert.equal(c.inputRows, inputRows);
  assert.equal(c.trainingImages, inputRows);
  assert.equal(c.extractedImages + c.errors, inputRows);
  assert.equal(c.errors, Object.keys(BAD).length + 1);
  const [[rows, images]] = (await duckdbRows(
    `SELECT count(*)::INT, count(DISTINCT i // 64)::INT FROM read_parquet('${out}/vectors.parquet')`,
  )) as [[number, number]];
  assert.equal(images, c.extractedImages);
  assert.equal(rows, c.rows);
});

test('alpha, grayscale, CMYK, 16-bit, animated, EXIF-tagged, 1×1 and quoted ids all become vectors; a duplicate id twice', async () => {
  const files = new Map(
    (
      (await duckdbRows(`SELECT file, count(*)::INT FROM read_parquet('${out}/vectors.parquet') GROUP BY file`)) as [
        string,
        number,
      ][]
    ).map(([f, n]) => [f, n]),
  );
  for (const id of GOOD) assert.ok((files.get(id) ?? 0) >= 64, `${id} has vectors`);
  assert.equal(files.get('plain.jpg'), 128, 'the duplicated id is extracted for both of its rows');
  assert.equal(files.get('gray.jpg'), 64, 'the row without a class is not extracted');
});

test('an EXIF orientation tag is not applied: pixels are read as stored, as PIL.Image.open does in the notebook', async () => {
  assert.equal((await sharp(path.join(dir, 'data', 'images', 'exif-rotated.jpg')).metadata()).orientation, 6);
  const digest = async (file: string) => {
    const rows = (await duckdbRows(
      `SELECT vector FROM read_parquet('${out}/vectors.parquet') WHERE file = '${file}' ORDER BY x, y`,
    )) as [{ bytes: Uint8Array }][];
    assert.equal(rows.length, 64);
    return createHash('sha256')
      .update(Buffer.concat(rows.map(([v]) => v.bytes)))
      .digest('hex');
  };
  assert.equal(await digest('exif-rotated.jpg'), await digest('exif-plain.jpg'));
});

test('each lost row is in errors.csv with a reason that says what is wrong', () => {
  const errors = errorsCsv();
  for (const [id, reason] of Object.entries(BAD)) {
    const line = errors.get(id);
    assert.ok(line, `${id} is in errors.csv`);
    assert.match(line, reason, `${id}: ${line}`);
  }
  assert.match(errors.get('gray.jpg') ?? '', /hotel_id is empty/);
});

test('the decompression bomb is refused by the pixel limit before decoding', () => {
  assert.match(errorsCsv().get('bomb.png')!, /refused before decoding/);
  assert.ok(
    fs.statSync(path.join(dir, 'data', 'images', 'bomb.png')).size < 1000,
    'it declares 3.6 gigapixels in a few bytes',
  );
});

/** A run's config for a dataset folder holding only `train.csv` with `text`. */
function csvCase(name: string, text: string | null) {
  const data = path.join(dir, `csv-${name}`);
  fs.mkdirSync(path.join(data, 'images'), { recursive: true });
  if (text !== null) fs.writeFileSync(path.join(data, 'train.csv'), text);
  const parsed = parseRunConfig({ data, out: path.join(dir, `csv-${name}-out`) });
  assert.ok(parsed.ok);
  return parsed.config;
}

const csvFailures: [string, string | null, RegExp][] = [
  ['missing', null, /input CSV .*train\.csv does not exist/],
  ['empty', '', /train\.csv: the file is empty \(no header row\)/],
  ['no-header', 'a.jpg,1\nb.jpg,2\n', /train\.csv has no column "image_id" or "hotel_id" \(columns: a\.jpg, 1\)/],
  ['missing-column', 'image_id,label\na.jpg,1\n', /train\.csv has no column "hotel_id" \(columns: image_id, label\)/],
  ['ragged', 'image_id,hotel_id\na.jpg,1\nb.jpg,2,extra\n', /train\.csv: line 3 has 3 fields, the header has 2/],
  ['unterminated-quote', 'image_id,hotel_id\n"a.jpg,1\n', /unterminated quoted field starting on line 2/],
];

for (const [name, text, message] of csvFailures) {
  test(`CSV ${name}: the run is refused with a message naming the file`, async () => {
    await assert.rejects(prepareSplit(csvCase(name, text)), (error: Error) => {
      assert.ok(error instanceof InputError, `a non-retryable input error, not ${error.name}`);
      assert.match(error.message, message);
      return true;
    });
  });
}

test('CSV with a class id that is not an integer: classes become codes, mapped back in classes.csv', async () => {
  const config = csvCase('string-class', 'image_id,hotel_id\na.jpg,7\nb.jpg,seven\nc.jpg,7\n');
  await prepareSplit({ ...config, valSamples: 0 });
  assert.equal(fs.readFileSync(path.join(config.out, 'classes.csv'), 'utf8'), 'target,hotel_id\n0,7\n1,seven\n');
});
