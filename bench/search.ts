/**
 * The search benchmark (issue "Compare by distance"), on the 1,360 real photos of flowers17-256:
 *
 *   npm run bench:search -- [--repeat 3] [--threads N] [--photos DIR]
 *
 * One real run (`tessera run --splits train,val --val-samples 10`: 1,190 training images, 170
 * occluded validation queries), made once and kept in bench/.data/search. Then, each repetition:
 * the index built from nothing (default settings), and beside it usearch's add alone (every tile,
 * already in memory, in one call into a fresh index, on the bench's threads and on one): the
 * ceiling of a build on this machine at this moment; `evaluate` (MAP@5, top-1 of the vote rule,
 * recall@10 against exact search on every tile of 20 query images); the index's time per query
 * image over every validation image, its 64 tile searches and the votes apart; and `tessera
 * search`'s whole time per query image (decode, inference with the session loaded, index, votes)
 * over 20 photos.
 * Beside them, the plain baseline from the same files: one mean-pooled vector per image, exact
 * cosine, classes in the order of the nearest images (1-NN for top-1). Prints medians; raw
 * figures go to bench/results/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../lib/core/project-paths.ts';
import { annNeighbours, newIndex } from '../lib/search/ann-engine.ts';
import { buildIndex } from '../lib/search/build-index.ts';
import { evaluateOutput, queryImages, type QueryImage } from '../lib/search/evaluate.ts';
import { keyLookup } from '../lib/search/open-index.ts';
import { IndexSettingsSchema } from '../lib/search/records.ts';
import { Searcher } from '../lib/search/searcher.ts';
import { streamTilePages } from '../lib/search/tile-stream.ts';
import { averagePrecisionAt5, rankByVotes } from '../lib/search/votes.ts';
import { median, runMeasured } from './measure.ts';

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    photos: { type: 'string', default: path.join(PROJECT_ROOT, '..', 'shared', 'data', 'flowers17-256') },
  },
});
const repeat = Number(values.repeat);
const threads = Number(values.threads);
const out = path.join(PROJECT_ROOT, 'bench', '.data', 'search');
const TILES = 64;
/** Query images whose every tile is searched exactly for recall: 1,280 tiles (5, evaluate's default, overstated it by ~0.015). */
const RECALL_IMAGES = 20;

async function ensureOutput(): Promise<void> {
  if (fs.existsSync(path.join(out, 'manifest.json'))) return;
  process.stderr.write(`bench:search: extracting ${values.photos} into ${out} (once)\n`);
  const args = ['run', '--data', values.photos, '--out', out, '--splits', 'train,val', '--val-samples', '10'];
  await runMeasured(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'tessera.js'), ...args, '--quiet']);
}

async function allImages(file: string): Promise<QueryImage[]> {
  const images: QueryImage[] = [];
  for await (const image of queryImages(file, TILES)) images.push(image);
  return images;
}

function meanUnit(vectors: Float32Array, dimensions: number): Float32Array {
  const mean = new Float32Array(dimensions);
  for (let at = 0; at < vectors.length; at += dimensions)
    for (let c = 0; c < dimensions; c++) mean[c] = mean[c]! + vectors[at + c]!;
  const norm = Math.hypot(...mean) || 1;
  return mean.map((v) => v / norm);
}

/** The baseline: mean-pooled image vectors, exact cosine, classes ranked by their nearest image. */
function baseline(training: QueryImage[], queries: QueryImage[], dimensions: number) {
  const pooled = training.map((image) => ({ target: image.target, vector: meanUnit(image.vectors, dimensions) }));
  let ap = 0;
  let top1 = 0;
  for (const query of queries) {
    const q = meanUnit(query.vectors, dimensions);
    const ranked = pooled
      .map(({ target, vector }) => ({ target, similarity: vector.reduce((sum, v, c) => sum + v * q[c]!, 0) }))
      .sort((a, b) => b.similarity - a.similarity);
    const classes = [...new Set(ranked.map((r) => r.target))];
    ap += averagePrecisionAt5(classes, query.target);
    if (classes[0] === query.target) top1++;
  }
  return { map5: ap / queries.length, top1: top1 / queries.length };
}

/** CPU seconds this process used since `since` (all its threads): a rate that other processes' load does not dilute. */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/** Every tile of the vectors file in memory, keyed by `i`: what usearch's add alone is timed on. */
async function allTiles(file: string): Promise<{ keys: BigUint64Array; vectors: Float32Array; dimensions: number }> {
  const pages = [];
  for await (const page of streamTilePages(file)) pages.push(page);
  const dimensions = pages[0]!.dimensions;
  const rows = pages.reduce((sum, page) => sum + page.keys.length, 0);
  const keys = new BigUint64Array(rows);
  const vectors = new Float32Array(rows * dimensions);
  let at = 0;
  for (const page of pages) {
    page.keys.forEach((key, row) => (keys[at + row] = BigInt(key)));
    vectors.set(page.vectors, at * dimensions);
    at += page.keys.length;
  }
  return { keys, vectors, dimensions };
}

/** usearch's add alone: every tile in one call into a fresh index (default settings), wall and CPU. */
function addAlone(tiles: Awaited<ReturnType<typeof allTiles>>, addThreads: number) {
  const index = newIndex(tiles.dimensions, IndexSettingsSchema.parse({}));
  const started = performance.now();
  const cpu = process.cpuUsage();
  index.add(tiles.keys, tiles.vectors, addThreads);
  const seconds = (performance.now() - started) / 1000;
  return { tilesPerSecond: tiles.keys.length / seconds, tilesPerCpuSecond: tiles.keys.length / cpuSeconds(cpu) };
}

async function buildFigures(tiles: Awaited<ReturnType<typeof allTiles>>) {
  fs.rmSync(path.join(out, 'index'), { recursive: true, force: true });
  const started = performance.now();
  const cpu = process.cpuUsage();
  const { record } = await buildIndex(out, {}, { threads });
  const buildSeconds = (performance.now() - started) / 1000;
  const buildCpuSeconds = cpuSeconds(cpu);
  const alone = addAlone(tiles, threads);
  const aloneOneThread = addAlone(tiles, 1);
  const vectorBytes = record.entries * record.dimensions * 2;
  return {
    tilesPerSecond: record.entries / buildSeconds,
    tilesPerCpuSecond: record.entries / buildCpuSeconds,
    buildSeconds,
    addAloneTilesPerSecond: alone.tilesPerSecond,
    addAloneTilesPerCpuSecond: alone.tilesPerCpuSecond,
    addAloneOneThreadTilesPerSecond: aloneOneThread.tilesPerSecond,
    indexBytes: record.indexBytes,
    vectorBytes,
    graphBytes: record.indexBytes - vectorBytes,
    parquetBytes: record.vectors.bytes,
    entries: record.entries,
  };
}

/** The index's part of a query, per image: its 64 tile searches, then the votes, each timed. */
function indexFigures(searcher: Searcher, queries: QueryImage[]) {
  const lookup = keyLookup(searcher.opened);
  const annMs: number[] = [];
  const votesMs: number[] = [];
  const cpu = process.cpuUsage();
  for (const query of queries) {
    const started = performance.now();
    const neighbours = annNeighbours(searcher.opened.index, query.vectors, searcher.neighbours, threads);
    const searched = performance.now();
    rankByVotes(neighbours, lookup, 5);
    annMs.push(searched - started);
    votesMs.push(performance.now() - searched);
  }
  return {
    annMsPerImage: median(annMs),
    votesMsPerImage: median(votesMs),
    indexCpuMsPerImage: (cpuSeconds(cpu) * 1000) / queries.length,
  };
}

/** `tessera search`'s own time per query photo, the session loaded: decode and inference, then index and votes. */
async function searchFigures(searcher: Searcher) {
  const photos = fs.readFileSync(path.join(out, 'validation.csv'), 'utf8').trim().split('\n').slice(1, 21);
  const modelMs: number[] = [];
  const totalMs: number[] = [];
  for (const row of photos) {
    const file = path.join(values.photos, 'images', row.split(',')[1]!);
    const { timings } = await searcher.search(fs.readFileSync(file), file);
    modelMs.push(timings.embedMs);
    totalMs.push(timings.embedMs + timings.searchMs);
  }
  return { modelMsPerImage: median(modelMs), searchMsPerImage: median(totalMs) };
}

async function repetition(queries: QueryImage[], tiles: Awaited<ReturnType<typeof allTiles>>) {
  const build = await buildFigures(tiles);
  const evaluation = await evaluateOutput(out, { threads, recallImages: RECALL_IMAGES });
  const searcher = await Searcher.open(out, { threads });
  try {
    return {
      ...build,
      map5: evaluation.map5,
      top1: evaluation.top1,
      recall10: evaluation.recall.value,
      ...indexFigures(searcher, queries),
      ...(await searchFigures(searcher)),
    };
  } finally {
    await searcher.close();
  }
}

async function main(): Promise<void> {
  await ensureOutput();
  const training = await allImages(path.join(out, 'vectors.parquet'));
  const queries = await allImages(path.join(out, 'validation-vectors.parquet'));
  const plain = baseline(training, queries, training[0]!.vectors.length / TILES);
  const tiles = await allTiles(path.join(out, 'vectors.parquet'));
  const runs: Awaited<ReturnType<typeof repetition>>[] = [];
  for (let r = 0; r < repeat; r++) {
    runs.push(await repetition(queries, tiles));
    process.stderr.write(`bench:search: repetition ${r + 1}/${repeat} ${JSON.stringify(runs.at(-1))}\n`);
  }
  const m = (key: keyof (typeof runs)[number]) => median(runs.map((run) => run[key]));
  const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
  const lines = [
    `flowers17-256: ${training.length} training images (${m('entries')} tiles), ${queries.length} occluded validation ` +
      `queries; ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}; medians of ${repeat}`,
    '',
    '| figure | value |',
    '|---|---|',
    `| MAP@5, vote rule (k = 10) | ${m('map5').toFixed(4)} |`,
    `| MAP@5, baseline (mean-pooled, exact cosine) | ${plain.map5.toFixed(4)} |`,
    `| top-1, vote rule / baseline 1-NN | ${m('top1').toFixed(4)} / ${plain.top1.toFixed(4)} |`,
    `| ANN recall@10 against exact search (${RECALL_IMAGES * TILES} query tiles) | ${m('recall10').toFixed(4)} |`,
    `| index build, wall (streaming, hashing, adding, saving) | ${m('tilesPerSecond').toFixed(0)} tiles/s (${m('buildSeconds').toFixed(1)} s) |`,
    `| index build, per CPU second of the process | ${m('tilesPerCpuSecond').toFixed(0)} tiles/s |`,
    `| usearch's add alone, one call, ${threads} threads: wall / per CPU second | ${m('addAloneTilesPerSecond').toFixed(0)} / ${m('addAloneTilesPerCpuSecond').toFixed(0)} tiles/s |`,
    `| usearch's add alone, one call, 1 thread, wall | ${m('addAloneOneThreadTilesPerSecond').toFixed(0)} tiles/s |`,
    `| search per query photo (decode, inference, index, votes; session loaded) | ${m('searchMsPerImage').toFixed(1)} ms |`,
    `| of which the model (decode + inference) | ${m('modelMsPerImage').toFixed(1)} ms |`,
    `| index per query image: 64 tile searches / votes, wall; CPU of both | ${m('annMsPerImage').toFixed(1)} / ${m('votesMsPerImage').toFixed(2)}; ${m('indexCpuMsPerImage').toFixed(1)} ms |`,
    `| index size | ${mb(m('indexBytes'))} = vectors ${mb(m('vectorBytes'))} (f16) + graph and keys ${mb(m('graphBytes'))}; vectors.parquet ${mb(m('parquetBytes'))} |`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const results = path.join(PROJECT_ROOT, 'bench', 'results');
  fs.mkdirSync(results, { recursive: true });
  fs.writeFileSync(
    path.join(results, `search-${new Date().toISOString().replaceAll(':', '-')}.json`),
    JSON.stringify({ baseline: plain, runs, threads, load: os.loadavg() }, null, 2) + '\n',
  );
}

await main();
