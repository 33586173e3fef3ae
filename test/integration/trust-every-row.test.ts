/**
 * Every row provably from the inputs it names: a re-run after any data change gives exactly the
 * output of a fresh run of the changed data (re-extracting only shards whose images changed),
 * damaged shard files are extracted again at once, and tessera never writes into or deletes from
 * a folder it did not create. Real Temporal, real files, real onnxruntime and DuckDB.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { RunFailedError, submitRun } from '../../cli/submit-run.ts';
import { RunConfigSchema, type RunConfigInput } from '../../lib/core/run-config.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { ManifestSchema } from '../../lib/run-folder/records.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { photoFile, preparePhotos } from '../support/photos.ts';
import { writeModelWithOtherBytes } from '../support/onnx-models.ts';
import { startTessera, waitForFile } from '../support/processes.ts';
import { assertSameOutput, vectorRows } from '../support/outputs.ts';

let dir: string;
let temporal: TemporalHarness;

/** 24 real photos, 6 from each of 4 classes: 20 training images (shards of 8: 8, 8, 4), 4 validation. */
const BASE_ROWS = ['1', '2', '3', '4'].flatMap((cls, c) =>
  Array.from({ length: 6 }, (_, k) => ({ id: `image_${String(c * 80 + k + 1).padStart(4, '0')}.jpg`, cls })),
);

function writeDataset(folder: string, rows: { id: string; cls: string }[]): void {
  fs.mkdirSync(path.join(folder, 'images'), { recursive: true });
  for (const { id } of rows) {
    const target = path.join(folder, 'images', id);
    if (!fs.existsSync(target)) fs.copyFileSync(photoFile(id), target);
  }
  fs.writeFileSync(
    path.join(folder, 'train.csv'),
    'image_id,hotel_id\n' + rows.map((r) => `${r.id},${r.cls}\n`).join(''),
  );
}

function readRows(folder: string): { id: string; cls: string }[] {
  return fs
    .readFileSync(path.join(folder, 'train.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [id, cls] = line.split(',') as [string, string];
      return { id, cls };
    });
}

function run(data: string, out: string, options: Partial<RunConfigInput> = {}) {
  const config = RunConfigSchema.parse({ data, out, model: DEFAULT_MODEL, shardSize: 8, batchSize: 4, ...options });
  return submitRun(config, { target: temporal.target, quiet: true });
}

/** Each shard's attempt outcomes in the latest run (manifest.json lists all runs' attempts). */
function lastOutcomes(out: string): string[] {
  const shards = ManifestSchema.parse(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'))).shards;
  return shards.map((s) => s.attempts.at(-1)!.outcome);
}

/** A folder's files (under .tessera too) with their bytes, to show that nothing was touched. */
function snapshot(folder: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.set(path.relative(folder, full), fs.readFileSync(full).toString('base64'));
    }
  };
  walk(folder);
  return files;
}

before(async () => {
  requireSetup('model', 'temporal');
  await preparePhotos([
    ...BASE_ROWS.map((row) => row.id),
    'image_0170.jpg',
    'image_0247.jpg',
    'image_0248.jpg',
    'image_0249.jpg',
  ]);
  dir = tempDir('trust');
  temporal = await startTemporal(dir);
});

after(async () => {
  await temporal?.stop();
});

/** The shard (of 8) that holds `imageId` in a finished folder's training.csv. */
function shardOf(out: string, imageId: string): number {
  const ids = fs
    .readFileSync(path.join(out, 'training.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(',')[1]);
  assert.ok(ids.includes(imageId), `${imageId} is a training image`);
  return Math.floor(ids.indexOf(imageId) / 8);
}

/**
 * Changes made one after another to one finished run's data. The image is replaced first, on the
 * data of the first run, so that the one image through the model is known; each later change starts
 * from the folder the run before it left.
 */
const dataChanges: { name: string; change: (data: string) => void; redone?: string }[] = [
  {
    // Another photo copied over one training image, keeping its name, size-independent and with
    // the old mtime (as `cp -p` would): only its shard is extracted again.
    name: 'image bytes replaced',
    change: (data) => {
      const victim = path.join(data, 'images', 'image_0164.jpg');
      const { atime, mtime } = fs.statSync(victim);
      fs.copyFileSync(photoFile('image_0170.jpg'), victim);
      fs.utimesSync(victim, atime, mtime);
    },
    redone: 'image_0164.jpg',
  },
  {
    name: 'rows deleted',
    change: (data) =>
      writeDataset(
        data,
        readRows(data).filter((_, k) => ![2, 9, 20].includes(k)),
      ),
  },
  {
    name: 'rows relabelled',
    change: (data) =>
      writeDataset(
        data,
        readRows(data).map((r, k) => (k === 3 || k === 14 ? { ...r, cls: '2' } : r)),
      ),
  },
  {
    name: 'rows appended',
    change: (data) =>
      writeDataset(data, [
        ...readRows(data),
        ...['0247', '0248', '0249'].map((n) => ({ id: `image_${n}.jpg`, cls: '4' })),
      ]),
  },
];

test("data changed after a finished run: the same command gives exactly a fresh run's output", async (t) => {
  const data = path.join(dir, 'data-changed');
  const out = path.join(dir, 'out-changed');
  writeDataset(data, BASE_ROWS);
  await run(data, out);
  for (const [step, { name, change, redone }] of dataChanges.entries()) {
    await t.test(name, async () => {
      change(data);
      const again = await run(data, out);
      const fresh = path.join(dir, `fresh-changed-${step}`);
      await run(data, fresh);
      await assertSameOutput(out, fresh);
      assert.equal(
        again.summary!.counts.extractedImages + again.summary!.counts.errors,
        again.summary!.counts.trainingImages,
      );
      // The finished run's shard files are gone: its shards are extracted again, copying the vectors
      // of unchanged images from its outputs, so only new or changed images go through the model.
      assert.ok(again.summary!.counts.reusedImages > 0, 'unchanged images were copied');
      if (redone) {
        assert.equal(
          again.summary!.counts.extractedImages - again.summary!.counts.reusedImages,
          1,
          `only ${redone} went through the model`,
        );
        assert.ok(shardOf(out, redone) >= 0);
      }
    });
  }
});

test('with --keep-shards a finished folder keeps its shard files, and only the shard of a replaced image is extracted again', async () => {
  const data = path.join(dir, 'data-keep-shards');
  const out = path.join(dir, 'out-keep-shards');
  writeDataset(data, BASE_ROWS);
  await run(data, out, { keepShards: true });
  assert.ok(fs.existsSync(path.join(out, 'shards', 'shard-00000.parquet')));
  fs.copyFileSync(photoFile('image_0170.jpg'), path.join(data, 'images', 'image_0164.jpg'));
  await run(data, out, { keepShards: true });
  const outcomes = lastOutcomes(out);
  assert.deepEqual(
    outcomes.map((o, shard) => (o === 'extracted' ? shard : -1)).filter((s) => s >= 0),
    [shardOf(out, 'image_0164.jpg')],
    `outcomes ${outcomes.join(', ')}`,
  );
});

const shardDamage: { name: string; damage: (shards: string) => void }[] = [
  {
    name: 'bytes flipped inside',
    damage: (shards) => {
      const file = path.join(shards, 'shard-00001.parquet');
      const bytes = fs.readFileSync(file);
      for (const offset of [5000, 9000, 13000, 17000]) bytes[offset] = bytes[offset]! ^ 0xff; // inside vector pages
      fs.writeFileSync(file, bytes);
    },
  },
  { name: 'truncated', damage: (shards) => fs.truncateSync(path.join(shards, 'shard-00001.parquet'), 20_000) },
  {
    name: 'replaced by another shard',
    damage: (shards) =>
      fs.copyFileSync(path.join(shards, 'shard-00000.parquet'), path.join(shards, 'shard-00001.parquet')),
  },
];

// One finished folder for the three kinds of damage, one after another: each repair leaves the
// folder as it was (its shard files kept and whole), which is where the next damage starts from.
test('a damaged shard file is extracted again at once and the output is unchanged', async (t) => {
  const data = path.join(dir, 'data-damage');
  writeDataset(data, BASE_ROWS);
  const out = path.join(dir, 'out-damage');
  await run(data, out, { keepShards: true });
  const reference = await vectorRows(path.join(out, 'vectors.parquet'));
  for (const { name, damage } of shardDamage) {
    await t.test(`a shard file ${name}`, async () => {
      damage(path.join(out, 'shards'));
      fs.writeFileSync(path.join(out, 'training.csv.4242-0badf00d.tmp'), 'a split killed mid-write');
      await run(data, out, { keepShards: true });
      assert.deepEqual(lastOutcomes(out), ['reused', 'extracted', 'reused']);
      assert.deepEqual(await vectorRows(path.join(out, 'vectors.parquet')), reference);
      assert.ok(
        !fs.existsSync(path.join(out, 'training.csv.4242-0badf00d.tmp')),
        'temporary files of killed attempts are removed',
      );
    });
  }
});

test('a folder tessera did not create is refused, and its files are left byte-identical', async () => {
  const data = path.join(dir, 'data-foreign');
  writeDataset(data, BASE_ROWS);
  const out = path.join(dir, 'foreign');
  fs.mkdirSync(out);
  for (const [file, text] of Object.entries({
    'training.csv': 'my,own\n',
    'vectors.parquet': 'PAR1 mine',
    'manifest.json': '{"mine":true}',
  }))
    fs.writeFileSync(path.join(out, file), text);
  const before = snapshot(out);
  for (const force of [false, true]) {
    await assert.rejects(
      run(data, out, { force }),
      (error: Error) => error instanceof RunFailedError && /not created by tessera.*training\.csv/.test(error.message),
    );
  }
  // The embedded default refuses before its lease or server would create anything in the folder.
  const embedded = startTessera(['run', '--data', data, '--out', out, '--model', DEFAULT_MODEL, '--force']);
  assert.equal(await embedded.exited, 1, embedded.output());
  assert.match(
    embedded.output(),
    /run failed: output folder .* is not empty and was not created by tessera \(it holds manifest\.json, training\.csv, vectors\.parquet\)/,
  );
  assert.deepEqual(snapshot(out), before);
});

test('--force replaces only what tessera wrote: a user file inside the output folder stays', async () => {
  const data = path.join(dir, 'data-force');
  writeDataset(data, BASE_ROWS);
  const out = path.join(dir, 'out-force');
  await run(data, out, { keepShards: true });
  fs.writeFileSync(path.join(out, 'shards', 'precious.txt'), 'keep me');
  fs.writeFileSync(path.join(out, 'notes.md'), 'mine too');
  await assert.rejects(run(data, out, { seed: 7 }), /other options: seed \(42 → 7\)/);
  await run(data, out, { seed: 7, force: true });
  assert.equal(fs.readFileSync(path.join(out, 'shards', 'precious.txt'), 'utf8'), 'keep me');
  assert.equal(fs.readFileSync(path.join(out, 'notes.md'), 'utf8'), 'mine too');
  assert.equal(
    ManifestSchema.parse(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'))).config.seed,
    7,
  );
});

test('--out equal to, inside or containing the inputs is refused, and the inputs are left byte-identical', async () => {
  const data = path.join(dir, 'data-overlap');
  writeDataset(data, BASE_ROWS);
  fs.copyFileSync(path.join(data, 'train.csv'), path.join(data, 'training.csv'));
  const before = snapshot(data);
  const cases: [string, string, Partial<RunConfigInput>][] = [
    ['the data folder itself', data, { csv: 'training.csv', force: true }],
    ['inside the image folder', path.join(data, 'images', 'out'), {}],
    ['the parent of the data folder', dir, { force: true }],
  ];
  for (const [what, out, options] of cases) {
    await assert.rejects(run(data, out, options), /choose an --out apart from the inputs/, what);
  }
  assert.deepEqual(snapshot(data), before);
});

test('an open run is checked before the same command attaches: other options are refused, changed data restarts it', async () => {
  const data = path.join(dir, 'data-open');
  writeDataset(data, BASE_ROWS);
  const out = path.join(dir, 'out-open');
  const markers = path.join(dir, 'markers-open');
  fs.mkdirSync(markers);
  const model = path.join(dir, 'open-model.onnx');
  fs.copyFileSync(DEFAULT_MODEL, model);
  const args = [
    'run',
    '--quiet',
    '--data',
    data,
    '--out',
    out,
    '--model',
    model,
    '--shard-size',
    '4',
    '--batch-size',
    '2',
    '--parallel-shards',
    '1',
    '--heartbeat-seconds',
    '3',
  ];
  const first = startTessera(args, { failpoint: 'extract-mid-shard', failpointDir: markers, failpointShard: 2 });
  await waitForFile(path.join(markers, 'extract-mid-shard'), first);
  await first.killHard();

  // Other options and another dataset: the attach check speaks first, naming each changed option,
  // before any activity of the open run meets this command's workers (which serve its own data).
  const otherData = path.join(dir, 'data-open-other');
  writeDataset(otherData, BASE_ROWS);
  const other = startTessera([...args, '--seed', '7', '--img-size', '224', '--data', otherData]);
  assert.equal(await other.exited, 1, other.output());
  assert.match(other.output(), /open run with other options: imgSize \(256 → 224\), seed \(42 → 7\)/);
  assert.doesNotMatch(other.output(), /outside the folders this worker may use/);
  assert.ok(!fs.existsSync(path.join(out, 'manifest.json')));

  writeDataset(
    data,
    readRows(data).filter((_, k) => ![1, 7, 13].includes(k)),
  );
  const again = startTessera(args.filter((arg) => arg !== '--quiet'));
  assert.equal(await again.exited, 0, again.output());
  assert.match(again.output(), /starts over: .*train\.csv changed/);
  const fresh = path.join(dir, 'fresh-open');
  await run(data, fresh, { shardSize: 4, batchSize: 2, model });
  await assertSameOutput(out, fresh);

  // Open again (the first row gone: every shard is extracted anew; every image re-encoded, so none
  // has vectors to copy and each goes through the model), then the model file replaced in place,
  // same path: compared with what the run recorded, not with the path.
  writeDataset(data, readRows(data).slice(1));
  for (const { id } of readRows(data)) {
    const file = path.join(data, 'images', id);
    fs.writeFileSync(file, await sharp(file).jpeg({ quality: 85 }).toBuffer());
  }
  fs.rmSync(path.join(markers, 'extract-mid-shard'));
  const reopened = startTessera(args, { failpoint: 'extract-mid-shard', failpointDir: markers, failpointShard: 2 });
  await waitForFile(path.join(markers, 'extract-mid-shard'), reopened);
  await reopened.killHard();
  writeModelWithOtherBytes(DEFAULT_MODEL, model);
  const otherModel = startTessera(args);
  assert.equal(await otherModel.exited, 1, otherModel.output());
  // The attach check refuses the other model; or, when the open run's next shard got there first,
  // that shard fails the run: either way the message names the model's change.
  assert.match(
    otherModel.output(),
    /open run with other options: model \(sha256 |model file .*open-model\.onnx changed \(sha256 /,
  );
  assert.ok(!fs.existsSync(path.join(out, 'manifest.json')), 'no output of two models');
});
