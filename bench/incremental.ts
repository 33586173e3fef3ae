/**
 * The incremental-run benchmark (issue "Incremental runs"), on real photos:
 *
 *   npm run bench:incremental -- [--images 2000] [--repeat 3]
 *
 * A dataset of N photos in 17 classes (flowers17-256: its 1,360 photos and their mirror images,
 * so N may exceed 1,360), then the same dataset grown as a nightly one is: 5 % new images, 1 % of
 * the images' bytes changed (re-encoded), 1 % of the rows deleted, 1 % relabelled. For each
 * repetition, real `tessera run` commands (embedded server, default model, both splits):
 *
 *   full         the first dataset, from nothing
 *   incremental  the grown dataset into a new folder, --reuse the full run's folder
 *   fresh        the grown dataset, from nothing: what the incremental output must equal, byte for byte
 *   in place     the grown dataset into the full run's own folder (its outputs are set aside and reused)
 *   no-op        the same command again on that finished folder
 *
 * Workflow time is the manifest's `timings.total` (start-up of the embedded server excluded);
 * the targets are incremental ≤ 10 % of full, and the no-op ≤ 5 s wall. Prints a table of medians;
 * raw figures go to bench/results/incremental-<time>.json.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../lib/core/project-paths.ts';
import { ManifestSchema } from '../lib/run-folder/records.ts';
import { median, runMeasured } from './measure.ts';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '2000' },
    repeat: { type: 'string', default: '3' },
    photos: { type: 'string', default: path.join(PROJECT_ROOT, '..', 'shared', 'data', 'flowers17-256') },
  },
});
const images = Number(values.images);
const repeat = Number(values.repeat);
const work = path.join(PROJECT_ROOT, 'bench', '.data', 'incremental');
const TESSERA = path.join(PROJECT_ROOT, 'bin', 'tessera.js');

interface Row {
  id: string;
  cls: string;
}

/** The photos and their mirror images (made once, kept in bench/.data), with their classes. */
async function photoPool(): Promise<{ folder: string; rows: Row[] }> {
  const csv = path.join(values.photos, 'train.csv');
  if (!fs.existsSync(csv))
    throw new Error(`no photos at ${values.photos} (--photos DIR: a folder with train.csv and images/)`);
  const originals = fs
    .readFileSync(csv, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [id, cls] = line.split(',') as [string, string];
      return { id, cls };
    });
  const folder = path.join(work, 'pool');
  fs.mkdirSync(folder, { recursive: true });
  const rows: Row[] = [];
  for (const { id, cls } of originals) {
    const source = path.join(values.photos, 'images', id);
    const copy = path.join(folder, id);
    if (!fs.existsSync(copy)) fs.copyFileSync(source, copy);
    const mirror = path.join(folder, `mirror_${id}`);
    if (!fs.existsSync(mirror)) await sharp(source).flop().jpeg({ quality: 92 }).toFile(mirror);
    rows.push({ id, cls }, { id: `mirror_${id}`, cls });
  }
  return { folder, rows };
}

/** A fixed pseudo-random order (the same every time the benchmark runs). */
function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  let state = 12345;
  for (let k = out.length - 1; k > 0; k--) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const j = state % (k + 1);
    [out[k], out[j]] = [out[j]!, out[k]!];
  }
  return out;
}

function writeDataset(folder: string, rows: Row[], pool: string, changed: ReadonlyMap<string, Buffer>): void {
  fs.rmSync(folder, { recursive: true, force: true });
  fs.mkdirSync(path.join(folder, 'images'), { recursive: true });
  for (const { id } of rows) {
    const target = path.join(folder, 'images', id);
    const bytes = changed.get(id);
    if (bytes) fs.writeFileSync(target, bytes);
    else fs.linkSync(path.join(pool, id), target);
  }
  fs.writeFileSync(
    path.join(folder, 'train.csv'),
    'image_id,hotel_id\n' + rows.map((r) => `${r.id},${r.cls}\n`).join(''),
  );
}

/** The first dataset and the grown one: +5 % new, 1 % changed bytes, 1 % deleted, 1 % relabelled. */
async function datasets(): Promise<{ first: string; second: string; changes: Record<string, number> }> {
  const pool = await photoPool();
  const order = shuffled(pool.rows);
  const added = Math.round(images * 0.05);
  if (images + added > order.length)
    throw new Error(
      `--images ${images}: at most ${Math.floor(order.length / 1.05)} (the pool holds ${order.length} photos)`,
    );
  const base = order.slice(0, images);
  const percent = Math.max(1, Math.round(images * 0.01));
  // Disjoint picks, spread over the dataset: changed, deleted, relabelled.
  const picks = shuffled(base.map((_, k) => k)).slice(0, 3 * percent);
  const [changedAt, deletedAt, relabelledAt] = [
    picks.slice(0, percent),
    new Set(picks.slice(percent, 2 * percent)),
    new Set(picks.slice(2 * percent)),
  ];
  const changed = new Map<string, Buffer>();
  for (const k of changedAt)
    changed.set(base[k]!.id, await sharp(path.join(pool.folder, base[k]!.id)).jpeg({ quality: 80 }).toBuffer());
  const grown = [
    ...base.flatMap((row, k) =>
      deletedAt.has(k) ? [] : [relabelledAt.has(k) ? { ...row, cls: String((Number(row.cls) % 17) + 1) } : row],
    ),
    ...order.slice(images, images + added),
  ];
  const first = path.join(work, 'data-1');
  const second = path.join(work, 'data-2');
  writeDataset(first, base, pool.folder, new Map());
  writeDataset(second, grown, pool.folder, changed);
  return {
    first,
    second,
    changes: { images, added, changed: changed.size, deleted: deletedAt.size, relabelled: relabelledAt.size },
  };
}

interface Measured {
  wall: number;
  workflow: number;
  extract: number;
  compact: number;
  images: number;
  reused: number;
}

async function tesseraRun(data: string, out: string, extra: string[] = []): Promise<Measured> {
  const args = [TESSERA, 'run', '--quiet', '--data', data, '--out', out, '--splits', 'train,val', ...extra];
  const { seconds } = await runMeasured(process.execPath, args);
  const m = ManifestSchema.parse(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')));
  const c = m.counts;
  return {
    wall: seconds,
    workflow: m.timings.total,
    extract: m.timings.extract,
    compact: m.timings.compact,
    images: c.extractedImages + c.validationExtractedImages,
    reused: c.reusedImages + c.validationReusedImages,
  };
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function sameVectors(a: string, b: string): boolean {
  return ['vectors.parquet', 'validation-vectors.parquet'].every(
    (name) => sha256(path.join(a, name)) === sha256(path.join(b, name)),
  );
}

/** Images of the grown dataset that were in the first one but changed split (one shared random state). */
function movedBetweenSplits(first: string, second: string): number {
  const ids = (out: string, file: string) =>
    new Set(
      fs
        .readFileSync(path.join(out, file), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => line.split(',')[1]!),
    );
  const [train1, val1, train2, val2] = [
    ids(first, 'training.csv'),
    ids(first, 'validation.csv'),
    ids(second, 'training.csv'),
    ids(second, 'validation.csv'),
  ];
  return [...train2].filter((id) => val1.has(id)).length + [...val2].filter((id) => train1.has(id)).length;
}

async function main(): Promise<void> {
  const { first, second, changes } = await datasets();
  const runs: Record<string, Measured[]> = { full: [], incremental: [], fresh: [], 'in place': [], 'no-op': [] };
  const identical: boolean[] = [];
  let moved = 0;
  for (let r = 1; r <= repeat; r++) {
    const out = (name: string) => path.join(work, `run-${r}-${name}`);
    for (const name of ['full', 'incremental', 'fresh']) fs.rmSync(out(name), { recursive: true, force: true });
    process.stderr.write(`repetition ${r}/${repeat}: full run\n`);
    runs.full!.push(await tesseraRun(first, out('full')));
    process.stderr.write(`repetition ${r}/${repeat}: incremental run (--reuse)\n`);
    runs.incremental!.push(await tesseraRun(second, out('incremental'), ['--reuse', out('full')]));
    process.stderr.write(`repetition ${r}/${repeat}: fresh full run of the grown dataset\n`);
    runs.fresh!.push(await tesseraRun(second, out('fresh')));
    moved = movedBetweenSplits(out('full'), out('fresh'));
    process.stderr.write(
      `repetition ${r}/${repeat}: the grown dataset into the first run's folder, then again (no-op)\n`,
    );
    runs['in place']!.push(await tesseraRun(second, out('full')));
    const noop = await runMeasured(process.execPath, [
      TESSERA,
      'run',
      '--quiet',
      '--data',
      second,
      '--out',
      out('full'),
      '--splits',
      'train,val',
    ]);
    if (!/already complete/.test(noop.output)) throw new Error(`the repeated command was not a no-op:\n${noop.output}`);
    runs['no-op']!.push({ ...runs['in place']!.at(-1)!, wall: noop.seconds, workflow: 0, extract: 0, compact: 0 });
    identical.push(sameVectors(out('incremental'), out('fresh')) && sameVectors(out('full'), out('fresh')));
  }

  const full = median(runs.full!.map((m) => m.workflow));
  process.stdout.write(
    `\ntessera incremental bench: ${changes.images} photos in 17 classes, then +${changes.added} new, ${changes.changed} changed, ${changes.deleted} deleted, ` +
      `${changes.relabelled} relabelled (${moved} images changed split); default model, train+val; ${repeat} repetitions, ${os.availableParallelism()} cores\n\n`,
  );
  const header = [
    'run',
    'wall s',
    'workflow s',
    'extract s',
    'compact s',
    'images',
    'reused',
    'via model',
    'workflow / full',
  ];
  const widths = [12, 8, 11, 10, 10, 7, 7, 10, 16];
  const line = (cells: string[]) =>
    cells.map((cell, k) => (k === 0 ? cell.padEnd(widths[k]!) : cell.padStart(widths[k]!))).join('  ') + '\n';
  process.stdout.write(line(header));
  for (const [name, list] of Object.entries(runs)) {
    const med = (pick: (m: Measured) => number) => median(list.map(pick));
    const ratio = name === 'no-op' ? '-' : `${((med((m) => m.workflow) / full) * 100).toFixed(1)} %`;
    process.stdout.write(
      line([
        name,
        med((m) => m.wall).toFixed(2),
        med((m) => m.workflow).toFixed(2),
        med((m) => m.extract).toFixed(2),
        med((m) => m.compact).toFixed(2),
        String(med((m) => m.images)),
        String(med((m) => m.reused)),
        String(med((m) => m.images - m.reused)),
        ratio,
      ]),
    );
  }
  process.stdout.write(
    `\nvectors files of the incremental and in-place runs byte-identical to the fresh run's: ${identical.map((same) => (same ? 'yes' : 'NO')).join(', ')}\n`,
  );
  const resultsDir = path.join(PROJECT_ROOT, 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `incremental-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ changes, moved, repeat, runs, identical }, null, 2));
  process.stdout.write(`raw figures: ${file}\n`);
  if (identical.includes(false)) process.exitCode = 1;
}

await main();
