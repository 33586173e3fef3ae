import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { leaveOneOutAccuracy, meanPooledEmbeddings } from '../../lib/eval/nearest-neighbour.ts';
import { ManifestSchema, type Manifest } from '../../lib/run-folder/records.ts';
import { launchChromium } from '../support/browser.ts';
import { FLOWERS_DIR, requireSetup, tempDir } from '../support/environment.ts';
import { duckdbRows } from '../support/vectors.ts';

/**
 * `tessera report` on a real finished run (the embedded default: a Temporal dev server, the
 * default model, real photos), read back the way a person reads it: the page rendered by
 * Chromium, its numbers compared with the manifest and with figures computed here, apart from
 * lib/report/.
 */

const execFileAsync = promisify(execFile);
const TESSERA = path.join(PROJECT_ROOT, 'bin', 'tessera.js');
/** The line under every usage error (exit 2). */
const HINT = "Try 'tessera report --help' for its usage.\n";
const CLASSES = 6;
const PER_CLASS = 6;

let dir: string;
let out: string;
let manifest: Manifest;
let realPhotos: boolean;

async function tessera(args: string[]) {
  return execFileAsync(process.execPath, [TESSERA, ...args], { cwd: dir, timeout: 240_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

/** 6 classes × 6 photos of flowers17-mini (or generated images where it is absent), one unreadable file and one missing. */
function prepareData(data: string): Promise<unknown> | void {
  realPhotos = fs.existsSync(path.join(FLOWERS_DIR, 'train.csv'));
  if (!realPhotos)
    return generateSampleData({ dir: data, images: CLASSES * PER_CLASS, classes: CLASSES }).then(() =>
      appendBadRows(data),
    );
  fs.mkdirSync(path.join(data, 'images'), { recursive: true });
  const [, ...rows] = fs.readFileSync(path.join(FLOWERS_DIR, 'train.csv'), 'utf8').trim().split('\n');
  const perClass = new Map<string, string[]>();
  for (const row of rows) {
    const [imageId, classId] = row.split(',') as [string, string];
    if (!perClass.has(classId) && perClass.size === CLASSES) continue;
    const list = perClass.get(classId) ?? [];
    if (list.length < PER_CLASS) perClass.set(classId, [...list, imageId]);
  }
  const chosen = [...perClass].flatMap(([classId, ids]) => ids.map((imageId) => [imageId, classId] as const));
  for (const [imageId] of chosen)
    fs.copyFileSync(path.join(FLOWERS_DIR, 'images', imageId), path.join(data, 'images', imageId));
  fs.writeFileSync(
    path.join(data, 'train.csv'),
    ['image_id,hotel_id', ...chosen.map((row) => row.join(','))].join('\n') + '\n',
  );
  appendBadRows(data);
}

function appendBadRows(data: string): void {
  const classes = [
    ...new Set(
      fs
        .readFileSync(path.join(data, 'train.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((row) => row.split(',')[1]!),
    ),
  ];
  fs.writeFileSync(path.join(data, 'images', 'broken.jpg'), 'not a jpeg at all');
  fs.appendFileSync(path.join(data, 'train.csv'), `broken.jpg,${classes[1]}\nmissing.jpg,${classes[2]}\n`);
}

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('report');
  await prepareData(path.join(dir, 'data'));
  const run = await tessera([
    'run',
    '--data',
    'data',
    '--out',
    'out',
    '--shard-size',
    '10',
    '--batch-size',
    '8',
    '--splits',
    'train,val',
    '--quiet',
  ]);
  assert.equal(run.code, 0, run.stderr);
  out = path.join(dir, 'out');
  manifest = ManifestSchema.parse(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')));
  assert.equal(manifest.counts.errors, 2, 'the run has the two bad rows in errors.csv');
});

/** Every request the page makes, from its load on. */
function watchRequests(page: Page): string[] {
  const urls: string[] = [];
  page.on('request', (request) => urls.push(request.url()));
  return urls;
}

const numberIn = (text: string) => Number(text.replace(/[,\s]/g, ''));

test("`tessera report OUT` writes OUT/report.html; Chromium shows the run's counts, errors, shards, classes, a PCA scatter and the 1-NN accuracy, loading nothing", async () => {
  const result = await tessera(['report', 'out']);
  assert.equal(result.code, 0, result.stderr);
  const page = path.join(out, 'report.html');
  assert.equal(result.stdout, `${page}\n`, "prints the page's path");

  const artifacts = path.join(PROJECT_ROOT, '.test-artifacts');
  fs.mkdirSync(artifacts, { recursive: true });
  const browser = await launchChromium();
  try {
    // The page's own Content Security Policy would block a request before Chromium makes it (and
    // before 'request' fires): bypassed here, so any address the page names shows up below.
    const tab = await (await browser.newContext({ viewport: { width: 1100, height: 900 }, bypassCSP: true })).newPage();
    const requests = watchRequests(tab);
    await tab.goto(`file://${page}`);
    await tab.screenshot({ path: path.join(artifacts, 'report.png'), fullPage: true });

    // Which run: its folder, model and manifest time.
    assert.equal(await tab.locator('[data-run=out]').innerText(), out);
    assert.equal(await tab.locator('[data-run=model]').innerText(), manifest.model.path);
    assert.equal(await tab.locator('[data-run=manifest-time]').innerText(), manifest.createdAt);

    // Counts: every figure shown is the manifest's.
    const shown = Object.fromEntries(
      await tab
        .locator('[data-count]')
        .evaluateAll((nodes) => nodes.map((node) => [node.getAttribute('data-count'), node.textContent ?? ''])),
    );
    for (const key of [
      'inputRows',
      'trainingImages',
      'extractedImages',
      'rows',
      'validationImages',
      'validationExtractedImages',
      'validationRows',
      'errors',
      'shards',
    ] as const) {
      assert.equal(numberIn(shown[key] ?? 'missing'), manifest.counts[key], `${key} shown as ${shown[key]}`);
    }

    // Errors by reason: the unreadable file and the missing one, each its own group.
    const groups = await tab
      .locator('tr[data-error-group]')
      .evaluateAll((rows) => rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '')));
    assert.equal(
      groups.reduce((sum, [count]) => sum + numberIn(count!), 0),
      manifest.counts.errors,
    );
    assert.deepEqual(groups.map((cells) => [cells[0], cells[1], cells[2]!.replace(/:.*/, ''), cells[4]]).sort(), [
      ['1', 'extract', 'image file … does not exist', 'missing.jpg'],
      ['1', 'extract', 'not an image in a format sharp decodes (JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG)', 'broken.jpg'],
    ]);

    // Shards: one row and one bar per attempt of every shard the manifest lists, with a rate.
    assert.equal(await tab.locator('tr[data-shard]').count(), manifest.shards.length);
    assert.equal(
      await tab.locator('svg.timeline rect.attempt').count(),
      manifest.shards.reduce((sum, shard) => sum + shard.attempts.length, 0),
    );
    const rates = await tab.locator('tr[data-shard] td[data-rate]').allInnerTexts();
    assert.ok(
      rates.every((rate) => Number(rate) > 0),
      `images/s of every extracted shard: ${rates.join(', ')}`,
    );

    // Images per class, as DuckDB counts them in the vectors file.
    const perClass = await duckdbRows(
      `SELECT target, count(DISTINCT file) FROM read_parquet('${path.join(out, 'vectors.parquet')}') GROUP BY target ORDER BY target`,
    );
    const classRows = await tab
      .locator('tr[data-class]')
      .evaluateAll((rows) =>
        rows.map((row) => [
          Number(row.getAttribute('data-class')),
          Number(row.querySelector('[data-class-images]')?.textContent),
        ]),
      );
    assert.deepEqual(
      classRows,
      perClass.map(([target, images]) => [target, Number(images)]),
    );
    assert.equal(classRows.length, CLASSES);

    // The scatter: one point per sampled image (all of them here), coloured as the legend says.
    const sampled = numberIn(await tab.locator('[data-sampled]').innerText());
    assert.equal(sampled, manifest.counts.extractedImages);
    const points = await tab
      .locator('svg.scatter circle.point')
      .evaluateAll((nodes) =>
        nodes.map((node) => [
          node.getAttribute('data-target'),
          node.ownerDocument.defaultView!.getComputedStyle(node).fill,
        ]),
      );
    assert.equal(points.length, sampled);
    const legend = await tab
      .locator('[data-legend] li')
      .evaluateAll((items) =>
        items.map((item) => [
          item.getAttribute('data-target'),
          item.ownerDocument.defaultView!.getComputedStyle(item.querySelector('.swatch')!).backgroundColor,
          item.textContent ?? '',
        ]),
      );
    assert.deepEqual(
      legend.map(([target]) => Number(target)),
      perClass.map(([target]) => Number(target)),
      'the legend lists every class',
    );
    const colourOf = new Map(legend.map(([target, colour]) => [target, colour]));
    assert.equal(new Set(colourOf.values()).size, CLASSES, 'a colour per class');
    for (const [target, fill] of points) assert.equal(fill, colourOf.get(target), `point of class ${target}`);
    const inVectors = new Map(perClass.map(([target, images]) => [String(target), Number(images)]));
    for (const [target, , text] of legend)
      assert.equal(text, `${target} (${inVectors.get(target!)})`, 'the class value and its images in the sample');

    // The accuracy figure: leave-one-out 1-NN (cosine) of the mean-pooled vectors, as computed
    // here from DuckDB's reading of the whole file.
    const accuracy = Number(await tab.locator('[data-accuracy]').getAttribute('data-accuracy'));
    const expected = leaveOneOutAccuracy(await meanPooledEmbeddings(path.join(out, 'vectors.parquet')));
    assert.ok(Math.abs(accuracy - expected) < 1e-6, `page ${accuracy}, computed ${expected}`);
    assert.match(await tab.locator('[data-accuracy]').innerText(), new RegExp(`^${(expected * 100).toFixed(1)} %$`));
    // Pretrained Lite0 tells these flowers apart far above chance (1 in 5 here); the generated images are easy too.
    assert.ok(accuracy >= 0.6, `1-NN accuracy ${accuracy}`);
    assert.match(await tab.locator('#vectors').innerText(), /cosine similarity/);

    assert.match(
      fs.readFileSync(page, 'utf8'),
      /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/,
      'and the page forbids loading anything',
    );
    assert.ok(
      requests.length >= 1 && requests.every((url) => url.startsWith('file://') || url.startsWith('data:')),
      `requests: ${requests.join(', ')}`,
    );
    assert.ok(fs.statSync(path.join(artifacts, 'report.png')).size > 20_000);
  } finally {
    await browser.close();
  }
});

test('`--sample N` caps the images sampled, and the page says how many and how they were read', async () => {
  const html = path.join(dir, 'sampled.html');
  const result = await tessera(['report', '--out', 'out', '--sample', '12', '--html', html]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `${html}\n`);
  const browser = await launchChromium();
  try {
    const tab = await (await browser.newContext({ bypassCSP: true })).newPage();
    const requests = watchRequests(tab);
    await tab.goto(`file://${html}`);
    const sampled = numberIn(await tab.locator('[data-sampled]').innerText());
    assert.ok(sampled > 0 && sampled <= 12, `${sampled} images sampled`);
    assert.equal(await tab.locator('svg.scatter circle.point').count(), sampled);
    assert.match(
      await tab.locator('#vectors').innerText(),
      new RegExp(
        `${sampled} images of the ${manifest.counts.extractedImages} in .*vectors\\.parquet: the first images of \\d+ of its \\d+ row groups, spread evenly over the file`,
      ),
    );
    assert.ok(
      requests.every((url) => url.startsWith('file://') || url.startsWith('data:')),
      `requests: ${requests.join(', ')}`,
    );
  } finally {
    await browser.close();
  }
});

test('a folder that holds no finished run: one clear message naming the folder and what is missing, exit 2', async () => {
  fs.mkdirSync(path.join(dir, 'empty'));
  const empty = await tessera(['report', 'empty']);
  assert.equal(empty.code, 2);
  assert.equal(empty.stdout, '');
  assert.equal(
    empty.stderr,
    `tessera report: no report: ${path.join(dir, 'empty')} is not a tessera output folder: it has no manifest.json (nor .tessera/folder.json); give the --out folder of a finished \`tessera run\`\n${HINT}`,
  );

  // A run that has not finished: its marker, no manifest yet.
  fs.mkdirSync(path.join(dir, 'unfinished', '.tessera'), { recursive: true });
  fs.copyFileSync(path.join(out, '.tessera', 'folder.json'), path.join(dir, 'unfinished', '.tessera', 'folder.json'));
  const unfinished = await tessera(['report', 'unfinished']);
  assert.equal(unfinished.code, 2);
  assert.match(
    unfinished.stderr,
    new RegExp(
      `^tessera report: no report: ${path.join(dir, 'unfinished')} holds a tessera run that has not finished: manifest\\.json is missing`,
    ),
  );

  // A finished run's manifest without the vectors file it lists.
  fs.mkdirSync(path.join(dir, 'partial'));
  for (const name of ['manifest.json', 'errors.csv'])
    fs.copyFileSync(path.join(out, name), path.join(dir, 'partial', name));
  const partial = await tessera(['report', 'partial']);
  assert.equal(partial.code, 2);
  assert.equal(
    partial.stderr,
    `tessera report: no report: ${path.join(dir, 'partial')} is not a complete finished run: vectors.parquet, which its manifest.json lists, is missing\n${HINT}`,
  );

  const missing = await tessera(['report', 'nowhere']);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, `tessera report: no report: ${path.join(dir, 'nowhere')} does not exist\n${HINT}`);
  assert.ok(
    !fs.existsSync(path.join(dir, 'empty', 'report.html')) && !fs.existsSync(path.join(dir, 'partial', 'report.html')),
    'no page is written',
  );
});
