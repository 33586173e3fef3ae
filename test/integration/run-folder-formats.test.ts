/**
 * Output folders written before records carried a format version still resume (every shard
 * reused, the same vectors), and a record of a format this version does not read ends the run
 * with a message naming the file. Real Temporal, real files, real onnxruntime and DuckDB.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { RunFailedError, submitRun } from '../../cli/submit-run.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { RunConfigSchema } from '../../lib/core/run-config.ts';
import { outputLayout } from '../../lib/run-folder/layout.ts';
import { ManifestSchema } from '../../lib/run-folder/records.ts';
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

function run(data: string, out: string, options: { keepShards?: boolean } = {}) {
  const config = RunConfigSchema.parse({ data, out, model: DEFAULT_MODEL, shardSize: 4, batchSize: 4, ...options });
  return submitRun(config, { target: temporal.target, quiet: true });
}

function withoutFormat(record: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...record };
  delete copy.format;
  return copy;
}

/** Rewrites every JSON record under .tessera/ (and the attempt lines) as the previous version wrote them: no `format`. */
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
        // Shard reports were already format 2 in the previous version: they keep it.
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

test('a folder whose records carry no format version (the previous version) resumes: every shard reused, the same vectors', async () => {
  const data = path.join(dir, 'data');
  const out = path.join(dir, 'out');
  writeDataset(data);
  await run(data, out, { keepShards: true }); // the previous version kept its shard files
  const layout = outputLayout(out);
  const vectorsBefore = fs.readFileSync(layout.split('train').vectors);
  fs.rmSync(layout.manifest); // an unfinished run of the previous version: the run goes on from its records
  assert.ok(stripFormats(out) >= 6, 'marker, run.json, split, classes, plans and attempt lines were rewritten');

  const again = await run(data, out);
  assert.equal(again.summary!.counts.extractedImages, 8);
  const manifest = ManifestSchema.parse(JSON.parse(fs.readFileSync(layout.manifest, 'utf8')));
  assert.deepEqual(
    manifest.shards.map((shard) => shard.attempts.at(-1)!.outcome),
    ['reused', 'reused'],
  );
  assert.ok(fs.readFileSync(layout.split('train').vectors).equals(vectorsBefore), 'vectors.parquet is byte-identical');
  assert.equal(
    JSON.parse(fs.readFileSync(layout.runOptions, 'utf8')).format,
    1,
    'records written again carry their format',
  );
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
