/**
 * A record without a format version (a pre-release tessera's) or of a format this version does not
 * read ends the run with a message naming the file, and the folder is left as it is, --force
 * included (docs/compatibility.md). Real Temporal, real files, real onnxruntime and DuckDB.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { RunFailedError, submitRun } from '../../cli/submit-run.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { RunConfigSchema } from '../../lib/core/run-config.ts';
import { outputLayout } from '../../lib/run-folder/layout.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { photoFile, preparePhotos } from '../support/photos.ts';

let dir: string;
let temporal: TemporalHarness;
const IDS = [1, 2, 3, 4, 5, 81, 82, 83, 84, 85].map((n) => `image_${String(n).padStart(4, '0')}.jpg`);

before(async () => {
  requireSetup('model', 'temporal');
  await preparePhotos(IDS);
  dir = tempDir('formats');
  temporal = await startTemporal(dir);
});

after(async () => {
  await temporal?.stop();
});

/** 10 photos of 2 classes (flowers17-mini, or generated: test/support/photos.ts): 8 training images in shards of 4, 2 validation images. */
function writeDataset(data: string): void {
  fs.mkdirSync(path.join(data, 'images'), { recursive: true });
  const ids = IDS;
  for (const id of ids) fs.copyFileSync(photoFile(id), path.join(data, 'images', id));
  fs.writeFileSync(
    path.join(data, 'train.csv'),
    'image_id,hotel_id\n' + ids.map((id, k) => `${id},${k < 5 ? 1 : 2}\n`).join(''),
  );
}

function run(data: string, out: string, options: { keepShards?: boolean; force?: boolean } = {}) {
  const config = RunConfigSchema.parse({ data, out, model: DEFAULT_MODEL, shardSize: 4, batchSize: 4, ...options });
  return submitRun(config, { target: temporal.target, quiet: true });
}

function withoutFormat(record: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...record };
  delete copy.format;
  return copy;
}

/** Rewrites every JSON record under .tessera/ (and the attempt lines) as pre-release versions wrote them: no `format`. */
function stripFormats(out: string): number {
  let stripped = 0;
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const file = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.jsonl')) {
        const lines = fs
          .readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Record<string, unknown>);
        fs.writeFileSync(file, lines.map((line) => JSON.stringify(withoutFormat(line)) + '\n').join(''));
        stripped += lines.length;
      } else if (
        entry.name.endsWith('.json') &&
        !folder.includes(`${path.sep}shards${path.sep}`) &&
        entry.name !== 'lease.json'
      ) {
        // Shard reports carried a format before the other records did: they keep theirs.
        fs.writeFileSync(
          file,
          JSON.stringify(withoutFormat(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>)),
        );
        stripped++;
      }
    }
  };
  walk(outputLayout(out).work);
  return stripped;
}

/** Every file under `folder` and its bytes. */
function snapshot(folder: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of fs.readdirSync(folder, { recursive: true }) as string[]) {
    const file = path.join(folder, name);
    if (fs.statSync(file).isFile()) files.set(name, fs.readFileSync(file).toString('base64'));
  }
  return files;
}

test('a folder whose records carry no format version (a pre-release tessera) is refused by name; --force leaves it as it is', async () => {
  const data = path.join(dir, 'data');
  const out = path.join(dir, 'out');
  writeDataset(data);
  await run(data, out, { keepShards: true });
  assert.ok(stripFormats(out) >= 6, 'marker, run.json, split, classes, plans and attempt lines were rewritten');
  const before = snapshot(out);
  const { marker } = outputLayout(out);
  for (const force of [false, true]) {
    await assert.rejects(
      run(data, out, { keepShards: true, force }),
      (error: Error) =>
        error instanceof RunFailedError &&
        error.message.includes(`${marker} records no format version, which this tessera version does not read`),
      `force: ${force}`,
    );
    assert.deepEqual(snapshot(out), before, `the folder is left byte-identical (force: ${force})`);
  }
});

test('a record of a format this version does not read ends the run naming the file', async () => {
  const data = path.join(dir, 'data-newer');
  const out = path.join(dir, 'out-newer');
  writeDataset(data);
  await run(data, out);
  const { runOptions } = outputLayout(out);
  fs.writeFileSync(runOptions, JSON.stringify({ ...JSON.parse(fs.readFileSync(runOptions, 'utf8')), format: 7 }));
  await assert.rejects(
    run(data, out),
    (error: Error) =>
      error instanceof RunFailedError &&
      error.message.includes(`${runOptions} is of format 7, which this tessera version does not read`),
  );
});
