import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { confineActivities } from '../../activities/confine.ts';
import { parseRunConfig, type RunConfig } from '../../lib/core/run-config.ts';
import {
  checkRunConfigPaths,
  isInside,
  realPathAllowingMissing,
  resolveWorkerRoots,
  RootsError,
  rootsFromEnv,
  describeInputProblems,
  type WorkerRoots,
} from '../../lib/run-folder/confinement.ts';
import { InputError } from '../../lib/core/errors.ts';
import { DEFAULT_MODEL, PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { tempDir } from '../support/temp-dir.ts';

// A worker root with a dataset, an output folder and a model, and a folder outside it with a
// secret, a dataset and a run's outputs. The temp folder's own path may run through a symlink
// (macOS /tmp), so everything is compared by real path.
let dir: string;
let root: string;
let outside: string;
let roots: WorkerRoots;

before(async () => {
  dir = fs.realpathSync(tempDir('confinement'));
  root = path.join(dir, 'root');
  outside = path.join(dir, 'outside');
  fs.mkdirSync(path.join(root, 'data', 'images'), { recursive: true });
  fs.writeFileSync(path.join(root, 'data', 'train.csv'), 'image_id,hotel_id\n');
  fs.writeFileSync(path.join(root, 'model.onnx'), 'model');
  fs.mkdirSync(path.join(outside, 'data', 'images'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'secret.csv'), 'image_id,hotel_id\n');
  fs.symlinkSync(outside, path.join(root, 'escape'));
  fs.symlinkSync(path.join(outside, 'secret.csv'), path.join(root, 'data', 'linked.csv'));
  fs.symlinkSync(path.join(outside, 'data', 'images'), path.join(root, 'data', 'linked-images'));
  fs.symlinkSync(path.join(root, 'nowhere'), path.join(root, 'dangling'));
  roots = await resolveWorkerRoots([root]);
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

function config(overrides: Record<string, unknown>): RunConfig {
  const parsed = parseRunConfig({
    data: path.join(root, 'data'),
    out: path.join(root, 'out'),
    model: path.join(root, 'model.onnx'),
    ...overrides,
  });
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.message);
  return parsed.config;
}

/** Asserts the config is refused with an InputError whose message matches every pattern. */
async function refused(overrides: Record<string, unknown>, ...patterns: RegExp[]): Promise<string> {
  let message = '';
  await assert.rejects(checkRunConfigPaths(config(overrides), roots), (error: Error) => {
    assert.ok(error instanceof InputError, `an InputError, got ${error.name}: ${error.message}`);
    message = error.message;
    return true;
  });
  for (const pattern of patterns) assert.match(message, pattern);
  return message;
}

test('TESSERA_ALLOW_ROOTS splits on `:` as before, except the `:` of a URI, and ignores empty entries', () => {
  assert.deepEqual(rootsFromEnv(undefined), []);
  assert.deepEqual(rootsFromEnv('/a::/b c'), ['/a', '/b c']);
  assert.deepEqual(rootsFromEnv('/data:s3://bucket/prefix:/out:s3://other'), [
    '/data',
    's3://bucket/prefix',
    '/out',
    's3://other',
  ]);
});

test('every path outside the roots is named in one message, with what the schema refused', async () => {
  const message = await refused(
    { out: path.join(outside, 'out'), model: path.join(outside, 'model.onnx'), csv: '../secret.csv' },
    /out .*outside the folders this worker may use/,
    /model .*outside the folders this worker may use/,
    /csv \.\.\/secret\.csv leads outside the dataset folder/,
  );
  assert.doesNotMatch(message, /^data /);
  const all = await describeInputProblems(
    { data: 'rooms', out: path.join(outside, 'x'), model: path.join(root, 'model.onnx'), batchSize: -3 },
    roots,
  );
  assert.match(all, /^invalid run config: /);
  assert.match(all, /data: a relative path means nothing to a worker on another machine/);
  assert.match(all, /batchSize: /);
  assert.match(all, /out .*outside the folders this worker may use/);
  assert.doesNotMatch(all, /model /, 'a model inside the roots is no problem');
});

test('inside means the root itself or below it, never a sibling sharing its prefix', () => {
  assert.ok(isInside('/data', '/data'));
  assert.ok(isInside('/data/x/y', '/data'));
  assert.ok(!isInside('/data2/x', '/data'));
  assert.ok(!isInside('/', '/data'));
  assert.ok(isInside('/anything', '/'));
});

test('a missing path resolves through its nearest existing ancestor; a dangling symlink is refused', async () => {
  assert.equal(await realPathAllowingMissing(path.join(root, 'new', 'deeper')), path.join(root, 'new', 'deeper'));
  assert.equal(await realPathAllowingMissing(path.join(root, 'escape', 'new')), path.join(outside, 'new'));
  await assert.rejects(realPathAllowingMissing(path.join(root, 'dangling', 'x')), RootsError);
});

test("roots are resolved at start; none at all is refused; tessera's models folder is allowed for the model", async () => {
  await assert.rejects(resolveWorkerRoots([]), /at least one folder.*--allow-root/);
  await assert.rejects(resolveWorkerRoots(['']), RootsError);
  const viaLink = await resolveWorkerRoots([path.join(root, 'escape')]);
  assert.deepEqual(viaLink.roots, [outside], 'a root given through a symlink is where it leads');
  assert.deepEqual(roots.modelRoots, [fs.realpathSync(path.join(PROJECT_ROOT, 'models'))]);
});

test('a run inside the roots passes, with an output folder that does not exist yet and the default model', async () => {
  await checkRunConfigPaths(config({}), roots);
  await checkRunConfigPaths(
    config({ out: path.join(root, 'runs', 'new', 'out'), model: DEFAULT_MODEL, images: '.' }),
    roots,
  );
  await checkRunConfigPaths(config({ csv: 'images/../train.csv' }), roots);
});

test('data, out and model outside the roots are refused, naming the field, the path, the roots and the fix', async () => {
  const message = await refused(
    { data: path.join(outside, 'data') },
    /^data /,
    new RegExp(`${outside}/data`),
    new RegExp(`serves ${root}`),
    /--allow-root/,
    /TESSERA_ALLOW_ROOTS/,
  );
  assert.doesNotMatch(message, /csv|images/);
  await refused({ out: path.join(outside, 'run') }, /^out /, /outside the folders this worker may use/);
  await refused({ out: path.join(root, 'escape', 'run') }, /^out /, new RegExp(`resolves to ${outside}/run`));
  await refused({ out: path.join(root, 'dangling', 'run') }, /^out .*does not exist/);
  await refused({ model: path.join(outside, 'secret.csv') }, /^model /, /models also from/);
  await refused({ data: '/' }, /^data \/ /);
});

test('csv and images are named inside data; links from there may not leave the roots', async () => {
  await refused(
    { csv: '../../outside/secret.csv' },
    /^csv \.\.\/\.\.\/outside\/secret\.csv leads outside the dataset folder/,
    /relative paths inside data: move it into/,
  );
  await refused({ csv: path.join(root, 'data', 'train.csv') }, /^csv .* is an absolute path/);
  await refused(
    { csv: 'linked.csv' },
    new RegExp(`^csv linked\\.csv in .* leads to ${outside}/secret\\.csv, outside the folders this worker may use`),
    new RegExp(`serves ${root}`),
    /--allow-root/,
  );
  await refused({ images: '/' }, /^images \/ is an absolute path/);
  await refused({ images: '..' }, /^images \.\. leads outside the dataset folder/);
  await refused(
    { images: 'linked-images' },
    /^images linked-images in .* leads to .*, outside the folders this worker/,
  );
});

test('a link from data into the roots is followed; the embedded run follows links anywhere', async () => {
  fs.mkdirSync(path.join(root, 'store', 'images'), { recursive: true });
  fs.symlinkSync(path.join(root, 'store', 'images'), path.join(root, 'data', 'images-in-store'));
  await checkRunConfigPaths(config({ images: 'images-in-store' }), roots);
  const embedded = await resolveWorkerRoots([root], [], { followLinks: true });
  await checkRunConfigPaths(config({ images: 'linked-images', csv: 'linked.csv' }), embedded);
  await assert.rejects(checkRunConfigPaths(config({ images: '..' }), embedded), /leads outside the dataset folder/);
});

test('an input that is not a run config is refused as input, not retried', async () => {
  await assert.rejects(
    checkRunConfigPaths({ data: 3 }, roots),
    (error: Error) => error instanceof InputError && /invalid run config: data/.test(error.message),
  );
});

test('confined activities check their config before they run, and refuse it as a non-retryable InputError', async () => {
  const calls: unknown[][] = [];
  const activities = confineActivities(roots, {
    async extract(config: RunConfig, split: string, shard: number) {
      calls.push([config.data, split, shard]);
      return shard;
    },
  });
  assert.equal(await activities.extract(config({}), 'train', 3), 3);
  assert.deepEqual(calls, [[path.join(root, 'data'), 'train', 3]]);
  await assert.rejects(activities.extract(config({ out: path.join(outside, 'run') }), 'train', 4), (error: Error) => {
    assert.ok(error instanceof ApplicationFailure);
    assert.equal(error.type, 'InputError');
    assert.equal(error.nonRetryable, true);
    assert.match(error.message, /^out /);
    return true;
  });
  assert.equal(calls.length, 1, 'the refused activity never ran');
  assert.ok(!fs.existsSync(path.join(outside, 'run')));
});

test('a dataset prefix is served only under an allowed s3:// root; csv and images stay inside it', async () => {
  const mixed = await resolveWorkerRoots([root, 's3://datasets-bucket/teams/vision/']);
  assert.deepEqual(mixed.uriRoots, ['s3://datasets-bucket/teams/vision']);
  const inside = { ...config({}), data: 's3://datasets-bucket/teams/vision/rooms' };
  assert.equal((await checkRunConfigPaths(inside, mixed)).data, inside.data);
  for (const data of ['s3://datasets-bucket/teams/visionary', 's3://other-bucket/teams/vision/rooms'])
    await assert.rejects(
      checkRunConfigPaths({ ...inside, data }, mixed),
      new RegExp(
        `^InputError: data ${data} is outside the prefixes this worker may use; .*--allow-root s3://BUCKET/PREFIX`,
      ),
    );
  await assert.rejects(
    checkRunConfigPaths({ ...inside, images: '../../secrets' }, mixed),
    /images \.\.\/\.\.\/secrets leads outside the dataset prefix/,
  );
  await assert.rejects(checkRunConfigPaths(inside, roots), /outside the prefixes this worker may use/);
  await assert.rejects(
    checkRunConfigPaths({ ...inside, out: 's3://datasets-bucket/teams/vision/out' }, mixed),
    /out s3:\/\/datasets-bucket\/teams\/vision\/out: this version of tessera reads the dataset and the model from object storage/,
  );
  await assert.rejects(resolveWorkerRoots(['s3://Bad_Bucket/x']), RootsError);
});
