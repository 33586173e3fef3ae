import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { before, test } from 'node:test';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { requireSetup, tempDir } from '../support/environment.ts';

const execFileAsync = promisify(execFile);
const tessera = path.join(PROJECT_ROOT, 'bin', 'tessera.js');
let dir: string;

async function runTessera(args: string[], cwd: string) {
  return execFileAsync(process.execPath, [tessera, ...args], { cwd, timeout: 180_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

before(async () => {
  requireSetup();
  dir = tempDir('cli');
  await generateSampleData({ dir: path.join(dir, 'data'), images: 10, classes: 2 });
});

test('`tessera run` embedded: own dev server, in-process worker, summary, exit 0; the same command again re-uses the finished shards', async () => {
  // Relative paths from another working directory, as a user would type them.
  const first = await runTessera(['run', '--data', 'data', '--out', 'out', '--batch-size', '4', '--shard-size', '4'], dir);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /images +8 extracted of 8/);
  assert.match(first.stdout, /rows +512 \(64 tiles × 320 channels per image\)/);
  assert.match(first.stdout, /errors +0/);
  assert.match(first.stdout, /images\/s/);
  assert.ok(fs.existsSync(path.join(dir, 'out', 'vectors.parquet')));
  assert.ok(fs.existsSync(path.join(dir, 'out', '.tessera', 'temporal', 'state.db')), 'server state lives under --out');

  const shardFile = path.join(dir, 'out', 'shards', 'shard-00000.parquet');
  const before = fs.statSync(shardFile).mtimeMs;
  const outputs = ['vectors.parquet', 'manifest.json', 'errors.csv'].map((name) => path.join(dir, 'out', name));
  const written = outputs.map((file) => fs.statSync(file).mtimeMs);
  const second = await runTessera(['run', '--data', 'data', '--out', 'out', '--batch-size', '4', '--shard-size', '4'], dir);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^tessera: already complete, nothing to run: the options, model, input CSV, images and outputs are those of the run that finished \d{4}-/);
  assert.match(second.stdout, /images +8 extracted of 8/, 'with the finished run\'s summary');
  assert.doesNotMatch(second.stderr, /Temporal dev server/, 'no server was started');
  assert.deepEqual(outputs.map((file) => fs.statSync(file).mtimeMs), written, 'nothing was rewritten');
  assert.equal(fs.statSync(shardFile).mtimeMs, before, 'a finished shard is not extracted again');

  // An image replaced since: the same command says which and runs again.
  const [imageId] = fs.readFileSync(path.join(dir, 'out', 'training.csv'), 'utf8').trim().split('\n')[1]!.split(',').slice(1);
  const image = path.join(dir, 'data', 'images', imageId!);
  fs.writeFileSync(image, fs.readFileSync(path.join(dir, 'data', 'images', fs.readdirSync(path.join(dir, 'data', 'images')).find((name) => name !== imageId)!)));
  const third = await runTessera(['run', '--data', 'data', '--out', 'out', '--batch-size', '4', '--shard-size', '4'], dir);
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stderr, new RegExp(`image ${imageId!.replace('.', '\\.')} changed since the run finished: running again`));
  assert.match(third.stdout, /^tessera: done in/);
});

test('an output folder of another run is refused (naming what differs) unless --force', async () => {
  const args = ['run', '--data', 'data', '--out', 'out', '--batch-size', '4', '--shard-size', '4'];
  const refused = await runTessera([...args, '--seed', '7'], dir);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /output folder .*out holds a run with other options: seed \(42 → 7\)\. Use the same options, another --out, or --force/);
  const forced = await runTessera([...args, '--seed', '7', '--force'], dir);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /images +8 extracted of 8/);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'manifest.json'), 'utf8'));
  assert.equal(manifest.config.seed, 7);
});

test('bad flags exit 2 naming the flag; a failing run exits 1 naming the input', async () => {
  const badFlag = await runTessera(['run', '--data', 'data', '--out', 'out2', '--batch-size', '0'], dir);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /batchSize \(--batch-size\): Too small/);

  const unknown = await runTessera(['run', '--data', 'data', '--out', 'out2', '--colour', 'red'], dir);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--colour/);

  const noCsv = await runTessera(['run', '--data', 'data', '--out', 'out3', '--csv', 'absent.csv'], dir);
  assert.equal(noCsv.code, 1);
  assert.match(noCsv.stderr, /run failed: input CSV .*absent\.csv does not exist/);
});

test('preflight ends a run before any shard when the model, its output or the image folder is wrong', async () => {
  const noOutput = await runTessera(['run', '--data', 'data', '--out', 'out-pre1', '--output', 'level_9'], dir);
  assert.equal(noOutput.code, 1);
  assert.match(noOutput.stderr, /run failed: model .* has no output "level_9"; its outputs are 0: level_0, .*4: level_4/);
  assert.ok(!fs.existsSync(path.join(dir, 'out-pre1', 'training.csv')), 'stopped before the split');

  fs.writeFileSync(path.join(dir, 'not-a-model.onnx'), 'hello');
  const badModel = await runTessera(['run', '--data', 'data', '--out', 'out-pre2', '--model', 'not-a-model.onnx'], dir);
  assert.equal(badModel.code, 1);
  assert.match(badModel.stderr, /run failed: model .*not-a-model\.onnx cannot be loaded/);

  const noImages = await runTessera(['run', '--data', 'data', '--out', 'out-pre3', '--images', 'pictures'], dir);
  assert.equal(noImages.code, 1);
  assert.match(noImages.stderr, /run failed: image folder .*pictures does not exist or is not a folder/);
});

test('asking for CUDA where its provider is not installed fails clearly instead of falling back to the CPU', async (t) => {
  const ortBin = path.join(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin');
  const hasCuda = fs.readdirSync(ortBin, { recursive: true }).some((f) => String(f).includes('providers_cuda'));
  if (hasCuda) {
    t.skip('onnxruntime-node was installed with its CUDA provider here: this check is for machines without it');
    return;
  }
  const result = await runTessera(['run', '--data', 'data', '--out', 'out-cuda', '--execution-provider', 'cuda'], dir);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /run failed: cannot load model .* \(cuda\)/);
  assert.ok(!fs.existsSync(path.join(dir, 'out-cuda', 'vectors.parquet')), 'nothing was extracted on the CPU instead');
});
