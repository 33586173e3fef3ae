import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { before, test } from 'node:test';
import { FLOWERS_DIR, requireSetup, tempDir } from '../support/environment.ts';
import { startTessera } from '../support/processes.ts';
import { launchChromium } from '../support/browser.ts';
import sharp from 'sharp';
import { Searcher } from '../../lib/search/searcher.ts';
import { startSearchServer } from '../../lib/search/search-server.ts';
import { MockActivityEnvironment } from '@temporalio/testing';
import { RunConfigSchema } from '../../lib/core/run-config.ts';
import { resolveWorkerRoots } from '../../lib/run-folder/confinement.ts';
import { createSearchActivities, type IndexSummary } from '../../activities/search-activities.ts';
import { EvaluationSchema, IndexRecordSchema } from '../../lib/search/records.ts';

/**
 * tessera index, search and evaluate on the real photos of flowers17-mini (17 classes × 20),
 * through the real default model, with real indexes: what the commands print, what they write,
 * and that a stale index is refused.
 */

let dir: string;
let out: string;

async function tessera(...args: string[]): Promise<{ code: number | null; output: string }> {
  const process = startTessera(args);
  const code = await process.exited;
  return { code, output: process.output() };
}

async function mustRun(...args: string[]): Promise<string> {
  const { code, output } = await tessera(...args);
  assert.equal(code, 0, `tessera ${args.join(' ')} failed:\n${output}`);
  return output;
}

/** A dataset of `images` of flowers17-mini's images (their first rows), as its own folder. */
function copyDataset(folder: string, ids: string[]): string {
  const rows = fs.readFileSync(path.join(FLOWERS_DIR, 'train.csv'), 'utf8').trim().split('\n').slice(1);
  const classOf = new Map(rows.map((row) => row.split(',') as [string, string]));
  fs.mkdirSync(path.join(folder, 'images'), { recursive: true });
  for (const id of ids) fs.copyFileSync(path.join(FLOWERS_DIR, 'images', id), path.join(folder, 'images', id));
  fs.writeFileSync(
    path.join(folder, 'train.csv'),
    ['image_id,hotel_id', ...ids.map((id) => `${id},${classOf.get(id)}`)].join('\n') + '\n',
  );
  return folder;
}

/** The first training image of each class in an output's training.csv (pandas' index column first). */
function firstOfEachClass(output: string): string[] {
  const seen = new Map<string, string>();
  for (const row of fs.readFileSync(path.join(output, 'training.csv'), 'utf8').trim().split('\n').slice(1)) {
    const [, id, target] = row.split(',');
    if (!seen.has(target!)) seen.set(target!, id!);
  }
  return [...seen.values()];
}

/** The run of `out`, with its search stages. */
function runWithSearch(): string[] {
  return ['run', '--data', FLOWERS_DIR, '--out', out, '--splits', 'train,val', '--index', '--evaluate'];
}

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('search');
  out = path.join(dir, 'out');
  // The run's own search stages build the index and evaluate it (--index --evaluate).
  await mustRun(...runWithSearch(), '--quiet');
});

test('the run builds the index with its record and evaluates it, also on a finished folder; tessera index finds the same index current, or builds one', async () => {
  assert.ok(fs.existsSync(path.join(out, 'evaluation.json')), 'the run evaluated its index');
  const kept = JSON.parse(await mustRun('index', out, '--json')) as { built: boolean };
  assert.equal(
    kept.built,
    false,
    'the index the run built is the one tessera index builds: same vectors, same settings',
  );

  // The same command on the finished folder, its index and evaluation gone: nothing is extracted
  // again (the manifest stays), the search stages build the index and score it once more.
  const manifestBytes = fs.readFileSync(path.join(out, 'manifest.json'));
  fs.rmSync(path.join(out, 'index'), { recursive: true });
  fs.rmSync(path.join(out, 'evaluation.json'));
  const again = await mustRun(...runWithSearch());
  assert.match(again, /already complete, nothing to run/);
  assert.match(again, /index built: 20672 tiles in [\d.]+ s \(index\/tiles\.usearch\)/);
  assert.match(again, /evaluated: MAP@5 [\d.]+, top-1 [\d.]+, recall@10 [\d.]+ over 17 queries/);
  assert.deepEqual(fs.readFileSync(path.join(out, 'manifest.json')), manifestBytes, 'nothing extracted again');
  assert.ok(fs.existsSync(path.join(out, 'evaluation.json')));
  const current = JSON.parse(await mustRun('index', out, '--json')) as { built: boolean };
  assert.equal(current.built, false, 'the index that run built is current');

  fs.rmSync(path.join(out, 'index'), { recursive: true });
  const first = JSON.parse(await mustRun('index', out, '--json')) as { built: boolean; entries: number };
  assert.equal(first.built, true);
  const record = IndexRecordSchema.parse(JSON.parse(fs.readFileSync(path.join(out, 'index', 'index.json'), 'utf8')));
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as {
    outputs: Record<string, { sha256: string; rows: number }>;
    model: { sha256: string };
  };
  assert.equal(record.format, 1);
  assert.equal(record.vectors.sha256, manifest.outputs['vectors.parquet']!.sha256, 'lineage: the bytes indexed');
  assert.equal(record.entries, manifest.outputs['vectors.parquet']!.rows, 'one entry per tile');
  assert.equal(record.modelSha256, manifest.model.sha256);
  assert.deepEqual(record.grid, [8, 8]);
  assert.equal(record.images.length * 64, record.entries);
  assert.equal(fs.statSync(path.join(out, 'index', 'tiles.usearch')).size, record.indexBytes);
  const second = JSON.parse(await mustRun('index', out, '--json')) as { built: boolean };
  assert.equal(second.built, false, 'an index of the same bytes and settings is kept');
});

test('tessera report shows the evaluation, its settings and validation queries beside their nearest training images', async () => {
  const page = (await mustRun('report', out)).trim();
  const html = fs.readFileSync(page, 'utf8');
  const evaluation = EvaluationSchema.parse(JSON.parse(fs.readFileSync(path.join(out, 'evaluation.json'), 'utf8')));
  assert.match(html, new RegExp(`data-map5="${evaluation.map5}">${evaluation.map5.toFixed(4)}<`));
  assert.match(html, new RegExp(`data-top1="${evaluation.top1}"`));
  assert.match(html, new RegExp(`data-recall="${evaluation.recall.value}"`));
  assert.match(html, /metric cos · precision f16 · connectivity 16 · expansion 32 \(add\) \/ 160 \(search\)/);
  assert.match(html, /data-count="indexEntries">20,672</);
  assert.doesNotMatch(html, /data-stale|data-problem/, 'the index and the evaluation are current');

  const ids = (csv: string) =>
    new Set(
      fs
        .readFileSync(path.join(out, csv), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((row) => row.split(',')[1]!),
    );
  const [validation, training] = [ids('validation.csv'), ids('training.csv')];
  const queries = [...html.matchAll(/data-query="([^"]+)"/g)].map((m) => m[1]!);
  const nearest = [...html.matchAll(/data-nearest="([^"]+)"/g)].map((m) => m[1]!);
  assert.equal(queries.length, 4, 'four validation queries');
  assert.ok(
    queries.every((id) => validation.has(id)),
    `validation images: ${queries.join(', ')}`,
  );
  assert.equal(nearest.length, 4 * 4, 'four nearest images each');
  assert.ok(
    nearest.every((id) => training.has(id)),
    `training images: ${nearest.join(', ')}`,
  );

  // In Chromium with the page's own policy: its pictures are inline and show; nothing is fetched.
  assert.match(html, /content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"/);
  const browser = await launchChromium();
  try {
    const tab = await browser.newPage();
    const requested: string[] = [];
    tab.on('request', (request) => requested.push(request.url()));
    await tab.goto(`file://${page}`);
    const widths = await tab
      .locator('#search img')
      .evaluateAll((images) => images.map((img) => (img as unknown as { naturalWidth: number }).naturalWidth));
    assert.deepEqual(widths, new Array<number>(4 + 16).fill(96), 'every query and nearest image shows');
    assert.ok(
      requested.every((url) => url.startsWith('file://') || url.startsWith('data:')),
      requested.join(' '),
    );
  } finally {
    await browser.close();
  }
});

test('tessera search: a training image finds itself and its class, in text and JSON; a non-image is a clear error', async () => {
  const [id] = firstOfEachClass(out).slice(3);
  const image = path.join(FLOWERS_DIR, 'images', id!);
  const target = Number(
    fs.readFileSync(path.join(FLOWERS_DIR, 'train.csv'), 'utf8').match(new RegExp(`${id},(\\d+)`))![1],
  );
  const text = await mustRun('search', out, image);
  assert.match(text, new RegExp(`classes {2}1\\. ${target} \\(`));
  assert.match(text, new RegExp(`1\\. ${id} {2}class ${target} {2}score 1\\.000`));
  const json = JSON.parse(await mustRun('search', out, image, '--json', '--top', '3')) as {
    vote: { rule: string; neighbours: number };
    answers: {
      classes: { target: number }[];
      images: { file: string; matches: { distance: number; tile: number[] }[] }[];
    }[];
  };
  assert.equal(json.vote.neighbours, 10);
  const [answer] = json.answers;
  assert.equal(answer!.classes.length, 3);
  assert.equal(answer!.classes[0]!.target, target);
  assert.equal(answer!.images[0]!.file, id);
  assert.equal(answer!.images[0]!.matches.length, 64, 'each of its tiles is some query tile’s nearest');
  assert.ok(answer!.images[0]!.matches[0]!.distance < 1e-3, 'the same preprocessing: its own tile at distance ~0');

  const notImage = path.join(dir, 'notes.jpg');
  fs.writeFileSync(notImage, 'not an image');
  const refused = await tessera('search', out, notImage);
  assert.equal(refused.code, 1);
  assert.match(refused.output, /tessera search: .*notes\.jpg is not an image tessera can decode/);
  assert.doesNotMatch(refused.output, /\n\s+at /, 'no stack trace');
});

test('tessera evaluate scores the occluded validation images; copies of training images score MAP@5 = 1', async () => {
  const printed = await mustRun('evaluate', out);
  assert.match(printed, /MAP@5\s+0\.\d{4}|MAP@5\s+1\.0000/);
  const evaluation = EvaluationSchema.parse(JSON.parse(fs.readFileSync(path.join(out, 'evaluation.json'), 'utf8')));
  assert.equal(evaluation.queries.images, 17);
  assert.ok(evaluation.map5 >= evaluation.top1 && evaluation.map5 <= 1);
  assert.ok(evaluation.map5 > 0.5, `MAP@5 ${evaluation.map5}: real vectors rank the right class high`);
  assert.equal(evaluation.recall.tiles, 5 * 64);
  assert.ok(evaluation.recall.value >= 0.9, `ANN recall@10 against exact search ${evaluation.recall.value}`);

  const copies = copyDataset(path.join(dir, 'copies'), firstOfEachClass(out));
  const copiesOut = path.join(dir, 'copies-out');
  await mustRun('run', '--data', copies, '--out', copiesOut, '--val-samples', '0', '--quiet');
  const exact = JSON.parse(
    await mustRun('evaluate', out, '--queries', copiesOut, '--json', '--recall-images', '17'),
  ) as {
    map5: number;
    top1: number;
    queries: { images: number };
    recall: { value: number };
  };
  assert.equal(exact.queries.images, 17);
  assert.equal(exact.map5, 1);
  assert.equal(exact.top1, 1);
  assert.ok(exact.recall.value >= 0.9);
});

test('an incremental run makes the index stale: refused, rebuilt by tessera index; a run with --index updates it', async () => {
  const ids = firstOfEachClass(out).slice(0, 4);
  const data = copyDataset(path.join(dir, 'grow'), ids);
  const grown = path.join(dir, 'grow-out');
  await mustRun('run', '--data', data, '--out', grown, '--val-samples', '0', '--index', '--quiet');
  const query = path.join(FLOWERS_DIR, 'images', ids[0]!);
  await mustRun('search', grown, query);

  copyDataset(data, firstOfEachClass(out).slice(0, 6));
  await mustRun('run', '--data', data, '--out', grown, '--val-samples', '0', '--quiet');
  const stale = await tessera('search', grown, query);
  assert.equal(stale.code, 1);
  assert.match(stale.output, /is stale: it indexes vectors\.parquet sha256 .*rebuild it with `tessera index/);
  assert.equal((await tessera('evaluate', grown, '--queries', grown)).code, 1, 'evaluate refuses it too');
  const report = fs.readFileSync((await mustRun('report', grown)).trim(), 'utf8');
  assert.match(report, /data-stale="index">This index was made from other vectors than the manifest lists now/);
  assert.doesNotMatch(report, /data-query=/, 'a stale index answers no example query');

  const rebuilt = JSON.parse(await mustRun('index', grown, '--json')) as { built: boolean; entries: number };
  assert.equal(rebuilt.built, true);
  assert.equal(rebuilt.entries, 6 * 64);
  await mustRun('search', grown, query);

  // A run with --index updates the index of the vectors it changed: current at once.
  copyDataset(data, firstOfEachClass(out).slice(0, 8));
  await mustRun('run', '--data', data, '--out', grown, '--val-samples', '0', '--index', '--quiet');
  await mustRun('search', grown, query);
  const record = IndexRecordSchema.parse(JSON.parse(fs.readFileSync(path.join(grown, 'index', 'index.json'), 'utf8')));
  assert.equal(record.entries, 8 * 64);
});

test('tessera serve: the page in headless Chromium shows the classes and the matching tiles; bad uploads get a 4xx', async () => {
  await mustRun('index', out);
  const searcher = await Searcher.open(out);
  const server = await startSearchServer(searcher, { port: 0, maxBytes: 200_000, maxPixels: 1_000_000 });
  const browser = await launchChromium();
  try {
    const [id] = firstOfEachClass(out).slice(5);
    const target = Number(
      fs.readFileSync(path.join(FLOWERS_DIR, 'train.csv'), 'utf8').match(new RegExp(`${id},(\\d+)`))![1],
    );
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(server.url);
    await page.locator('#pick').setInputFiles(path.join(FLOWERS_DIR, 'images', id!));
    await page.locator('figure.result').first().waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('li.class').first().textContent(), `class ${target} (1.000)`);
    assert.match(
      (await page.locator('figure.result figcaption').first().textContent())!,
      new RegExp(`^${id} · class ${target}`),
    );
    assert.equal(
      await page.locator('figure.result').first().locator('.tile').count(),
      64,
      'its matching tiles outlined',
    );
    const loaded = await page
      .locator('figure.result img')
      .first()
      .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth);
    assert.ok(loaded > 0, 'the training image is served');
    assert.ok(
      requested.every((url) => url.startsWith(server.url) || url.startsWith('blob:')),
      `nothing from elsewhere: ${requested.join(' ')}`,
    );

    const post = (body: Buffer | string, headers: Record<string, string> = {}) =>
      rawRequest(server.url, 'POST', '/search', body, headers);
    const notImage = await post('hello, not an image');
    assert.equal(notImage.status, 415);
    assert.match(notImage.body, /not an image tessera can decode/);
    assert.equal((await post(Buffer.alloc(300_000, 1))).status, 413, 'over the byte limit');
    const empty = await post('');
    assert.equal(empty.status, 400);
    assert.match(empty.body, /empty/);
    const big = await sharp({ create: { width: 1200, height: 1000, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    assert.equal((await post(big)).status, 413, 'over the pixel limit, refused from its header');
    assert.equal((await rawRequest(server.url, 'GET', '/health', '', { host: 'evil.example:80' })).status, 421);
    assert.equal((await post('x', { origin: 'http://evil.example' })).status, 403);
    const health = await rawRequest(server.url, 'GET', '/health', '', {});
    assert.equal(health.status, 200);
    assert.equal((JSON.parse(health.body) as { entries: number }).entries, 323 * 64);
    assert.equal(health.headers['access-control-allow-origin'], undefined, 'no CORS');
    // The server still answers after all that.
    assert.equal((await post(fs.readFileSync(path.join(FLOWERS_DIR, 'images', id!)))).status, 200);
  } finally {
    await browser.close();
    await server.close();
    await searcher.close();
  }
});

/** One HTTP request with the given headers (fetch would not let a test set Host). */
function rawRequest(
  base: string,
  method: string,
  pathname: string,
  body: Buffer | string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const url = new URL(pathname, base);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method,
        headers: { 'content-length': Buffer.byteLength(body), ...headers },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode!, body: text, headers: response.headers }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

test('the index activity heartbeats its progress while it builds, and gives the results tessera index gives', async () => {
  const config = RunConfigSchema.parse({ data: FLOWERS_DIR, out, splits: ['train', 'val'] });
  const built = JSON.parse(await mustRun('index', out, '--json')) as { vectors: { sha256: string }; entries: number };
  const queries = firstOfEachClass(out).map((id) => fs.readFileSync(path.join(FLOWERS_DIR, 'images', id)));
  const answers = async () => {
    const searcher = await Searcher.open(out);
    try {
      const ranked = [];
      for (const bytes of queries) {
        const answer = await searcher.search(bytes, 'query');
        ranked.push([answer.classes[0]!.target, answer.images[0]!.file]);
      }
      return ranked;
    } finally {
      await searcher.close();
    }
  };
  const byCommand = await answers();
  fs.rmSync(path.join(out, 'index'), { recursive: true });

  const activities = createSearchActivities(await resolveWorkerRoots([dir, FLOWERS_DIR]));
  const environment = new MockActivityEnvironment();
  const beats: { tiles?: number; total?: number }[] = [];
  environment.on('heartbeat', (details: { tiles?: number; total?: number }) => beats.push(details));
  const summary = (await environment.run(activities.indexOutput, config, {})) as IndexSummary;
  assert.equal(summary.built, true);
  assert.equal(summary.entries, built.entries);
  assert.equal(summary.vectorsSha256, built.vectors.sha256);
  const counted = beats.filter((beat) => (beat.tiles ?? 0) > 0).map((beat) => beat.tiles!);
  assert.ok(
    counted.length >= Math.floor(built.entries / 8192),
    `a heartbeat per batch of 8,192 tiles: ${counted.join(', ')}`,
  );
  assert.equal(counted.at(-1), built.entries);
  assert.deepEqual(await answers(), byCommand, 'the same top class and image for every query');
  const second = (await environment.run(activities.indexOutput, config, {})) as IndexSummary;
  assert.equal(second.built, false, 'a retry after the build finished keeps it');
});
