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
import { StatusReportSchema } from '../../lib/run/run-status.ts';

const execFileAsync = promisify(execFile);
const tessera = path.join(PROJECT_ROOT, 'bin', 'tessera.js');
let dir: string;

async function runTessera(args: string[], cwd: string) {
  return execFileAsync(process.execPath, [tessera, ...args], { cwd, timeout: 180_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('cli');
  await generateSampleData({ dir: path.join(dir, 'data'), images: 10, classes: 2 });
});

test('`tessera run` embedded: own dev server, in-process worker, summary, exit 0; the same command again re-uses the finished shards', async () => {
  // Relative paths from another working directory, as a user would type them.
  const first = await runTessera(
    ['run', '--data', 'data', '--out', 'out', '--batch-size', '4', '--shard-size', '4'],
    dir,
  );
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /images +8 extracted of 8/);
  assert.match(first.stdout, /rows +512 \(64 tiles × 320 channels per image\)/);
  assert.match(first.stdout, /errors +0/);
  assert.match(first.stdout, /images\/s/);
  assert.ok(fs.existsSync(path.join(dir, 'out', 'vectors.parquet')));
  assert.ok(fs.existsSync(path.join(dir, 'out', '.tessera', 'temporal', 'state.db')), 'server state lives under --out');
  // The session loaded while the worker started is the one every shard used: loaded once, this model.
  const loads =
    fs.readFileSync(path.join(dir, 'out', '.tessera', 'tessera.log'), 'utf8').match(/inference session loaded.*/g) ??
    [];
  assert.equal(loads.length, 1, loads.join('\n'));
  assert.match(
    loads[0]!,
    new RegExp(`sha256: '${JSON.parse(fs.readFileSync(path.join(dir, 'out', 'manifest.json'), 'utf8')).model.sha256}'`),
  );

  // The run and its server are gone: status answers from the folder, with no server and no --address.
  const status = await runTessera(['status', '--out', 'out', '--json'], dir);
  assert.equal(status.code, 0, status.stderr);
  const finished = StatusReportSchema.parse(JSON.parse(status.stdout));
  assert.equal(finished.source, 'folder');
  assert.equal(finished.state, 'completed');
  assert.equal(finished.result?.counts.extractedImages, 8);
  assert.equal(finished.result?.vectors, path.join(dir, 'out', 'vectors.parquet'));
  assert.equal(finished.note, null, 'no server was tried');
  const text = await runTessera(['status', '--out', 'out'], dir);
  assert.match(text.stdout, /^state {5}completed\n/);
  assert.match(text.stdout, /\noutput {4}.*vectors\.parquet\n/);
  const cancel = await runTessera(['cancel', '--out', 'out'], dir);
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.match(cancel.stdout, /no tessera run works on .*out now \(completed\); nothing to cancel/);

  // vectors.parquet verified and the manifest written, the shard files are gone: one copy of the vectors.
  assert.ok(!fs.existsSync(path.join(dir, 'out', 'shards')), 'shard files removed once the run finished');
  const outputs = ['vectors.parquet', 'manifest.json', 'errors.csv'].map((name) => path.join(dir, 'out', name));
  const written = outputs.map((file) => fs.statSync(file).mtimeMs);
  const second = await runTessera(
    ['run', '--data', 'data', '--out', 'out', '--batch-size', '4', '--shard-size', '4'],
    dir,
  );
  assert.equal(second.code, 0, second.stderr);
  assert.match(
    second.stdout,
    /^tessera: already complete, nothing to run: the options, model, input CSV, images and outputs are those of the run that finished \d{4}-/,
  );
  assert.match(second.stdout, /images +8 extracted of 8/, "with the finished run's summary");
  assert.doesNotMatch(second.stderr, /Temporal dev server/, 'no server was started');
  assert.deepEqual(
    outputs.map((file) => fs.statSync(file).mtimeMs),
    written,
    'nothing was rewritten',
  );

  // An image replaced since: the same command says which and runs again.
  const [imageId] = fs
    .readFileSync(path.join(dir, 'out', 'training.csv'), 'utf8')
    .trim()
    .split('\n')[1]!
    .split(',')
    .slice(1);
  const image = path.join(dir, 'data', 'images', imageId!);
  fs.writeFileSync(
    image,
    fs.readFileSync(
      path.join(
        dir,
        'data',
        'images',
        fs.readdirSync(path.join(dir, 'data', 'images')).find((name) => name !== imageId)!,
      ),
    ),
  );
  const third = await runTessera(
    ['run', '--data', 'data', '--out', 'out', '--batch-size', '4', '--shard-size', '4'],
    dir,
  );
  assert.equal(third.code, 0, third.stderr);
  assert.match(
    third.stderr,
    new RegExp(
      `image ${imageId!.replace('.', '\\.')} changed since the run finished: running again \\(the vectors of unchanged images are reused\\)`,
    ),
  );
  assert.match(third.stdout, /^tessera: done in/);
  // Nothing went through the model: the unchanged images' vectors came from the finished outputs,
  // and the replaced image now holds another image's bytes, whose vectors they hold too (by sha256).
  assert.match(third.stdout, /reused +8 images' vectors copied from earlier outputs; 0 through the model/);
  assert.ok(!fs.existsSync(path.join(dir, 'out', '.tessera', 'previous')), 'the replaced outputs are gone');
});

test("`tessera run --reuse DIR` (repeatable, relative to the working directory) copies an earlier output's vectors; a source that is not a finished run is named in a warning", async () => {
  const args = [
    'run',
    '--data',
    'data',
    '--out',
    'out-reused',
    '--batch-size',
    '4',
    '--shard-size',
    '4',
    '--reuse',
    'out',
    '--reuse',
    'not-a-run',
  ];
  const reused = await runTessera(args, dir);
  assert.equal(reused.code, 0, reused.stderr);
  assert.match(reused.stdout, /reused +8 images' vectors copied from earlier outputs; 0 through the model/);
  assert.match(
    reused.stdout,
    new RegExp(
      `warning +reuse source ${path.join(dir, 'not-a-run')} skipped for training images: it has no manifest.json`,
    ),
  );
  const vectors = (out: string) => fs.readFileSync(path.join(dir, out, 'vectors.parquet'));
  assert.deepEqual(vectors('out-reused'), vectors('out'), 'the same vectors file as the source run wrote');
});

test('an output folder of another run is refused (naming what differs) unless --force', async () => {
  const args = ['run', '--data', 'data', '--out', 'out', '--batch-size', '4', '--shard-size', '4'];
  const refused = await runTessera([...args, '--seed', '7'], dir);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /output folder .*out holds a run with other options: seed \(42 → 7\)\. Use the same options, another --out, or --force/,
  );
  const forced = await runTessera([...args, '--seed', '7', '--force'], dir);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /images +8 extracted of 8/);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'manifest.json'), 'utf8'));
  assert.equal(manifest.config.seed, 7);
});

test('bad flags and missing inputs exit 2 before anything starts: the mistake, one line pointing to --help, nothing written', async () => {
  const hint = "Try 'tessera run --help' for its usage.\n";
  const refusals: [string[], string][] = [
    [['--batch-size', '0'], 'invalid run config: batchSize (--batch-size): Too small'],
    [['--colour', 'red'], 'unknown flag --colour'],
    [['--batchsize', '3'], 'unknown flag --batchsize: did you mean --batch-size?'],
    [['--data', 'nope'], `dataset folder ${path.join(dir, 'nope')} does not exist or is not a folder`],
    [['--csv', 'absent.csv'], `input CSV ${path.join(dir, 'data', 'absent.csv')} does not exist`],
    [['--images', 'pictures'], `image folder ${path.join(dir, 'data', 'pictures')} does not exist or is not a folder`],
    [['--model', 'absent.onnx'], `model file ${path.join(dir, 'absent.onnx')} does not exist`],
  ];
  for (const [args, message] of refusals) {
    // The last --data wins: `--data nope` replaces the dataset.
    const refused = await runTessera(['run', '--data', 'data', '--out', 'out-refused', ...args], dir);
    assert.equal(refused.code, 2, args.join(' '));
    assert.ok(refused.stderr.startsWith(`tessera run: ${message}`), refused.stderr);
    assert.ok(refused.stderr.endsWith(`\n${hint}`), `one line pointing to --help: ${refused.stderr}`);
    assert.equal(refused.stderr.split('\n').length, 3, `the mistake and the hint alone: ${refused.stderr}`);
    assert.equal(refused.stdout, '');
    assert.ok(!fs.existsSync(path.join(dir, 'out-refused')), `${args.join(' ')}: nothing written`);
  }
  const unknownCommand = await runTessera(['stauts', '--out', 'out'], dir);
  assert.equal(unknownCommand.code, 2);
  assert.equal(
    unknownCommand.stderr,
    `tessera: unknown command "stauts": did you mean status?\nTry 'tessera --help' for the commands.\n`,
  );
});

test('a failing run prints one clear message and where its log is, no SDK warnings or stacks; status then tells the failure from the folder; --verbose shows the log live', async () => {
  const args = ['run', '--data', 'data', '--out', 'out-fail', '--output', 'level_9', '--quiet'];
  const failed = await runTessera(args, dir);
  assert.equal(failed.code, 1);
  const log = path.join(dir, 'out-fail', '.tessera', 'tessera.log');
  const [message, details, ...rest] = failed.stderr.split('\n');
  assert.match(
    message!,
    /^tessera run: run failed: model .* has no output "level_9"; its outputs are 0: level_0, .*4: level_4$/,
  );
  assert.equal(details, `tessera run: details in ${log}`);
  assert.deepEqual(rest, ['']);
  assert.equal(failed.stdout, '');
  const logged = fs.readFileSync(log, 'utf8');
  assert.match(logged, /\[WARN\] Activity failed/, "the SDK's lines went to the log");
  assert.match(logged, /has no output "level_9"/);
  assert.ok(!fs.existsSync(path.join(dir, 'out-fail', 'training.csv')), 'preflight stopped it before the split');

  const status = await runTessera(['status', '--out', 'out-fail', '--json'], dir);
  assert.equal(status.code, 0, status.stderr);
  const report = StatusReportSchema.parse(JSON.parse(status.stdout));
  assert.equal(report.state, 'failed');
  assert.equal(report.source, 'folder');
  assert.match(report.failure ?? '', /has no output "level_9"/);
  assert.equal(report.log, log);
  assert.equal(report.resume, `tessera ${args.join(' ')}`);

  const verbose = await runTessera([...args, '--verbose'], dir);
  assert.equal(verbose.code, 1);
  assert.match(verbose.stderr, /\[WARN\] Activity failed/);

  const notARun = await runTessera(['status', '--out', 'data'], dir);
  assert.equal(notARun.code, 2);
  assert.match(notARun.stderr, /data is not a tessera output folder \(it has no \.tessera\/folder\.json\)/);
});

test('preflight ends a run before any shard when the model cannot be loaded', async () => {
  fs.writeFileSync(path.join(dir, 'not-a-model.onnx'), 'hello');
  const badModel = await runTessera(['run', '--data', 'data', '--out', 'out-pre2', '--model', 'not-a-model.onnx'], dir);
  assert.equal(badModel.code, 1);
  assert.match(badModel.stderr, /run failed: model .*not-a-model\.onnx cannot be loaded/);
  assert.ok(!fs.existsSync(path.join(dir, 'out-pre2', 'training.csv')), 'stopped before the split');
});

test('asking for CUDA where its provider is not installed fails clearly instead of falling back to the CPU', async (t) => {
  const ortBin = path.join(
    path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')),
    'bin',
  );
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
