import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { before, test } from 'node:test';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { tempDir } from '../support/temp-dir.ts';

/**
 * bin/tessera.js runs dist/ only while it is the build of the sources as they are: checked on a
 * copy of the app (its sources, bin/ and package.json, the checkout's node_modules linked), so
 * that this checkout's own dist/ is left alone. The copy's built --help is marked, which tells
 * which of the two answered: the mark is in dist/ alone, and a stale build must not show it.
 */
const APP = ['bin', 'cli', 'lib', 'workers', 'activities', 'workflows', 'package.json', 'tsconfig.json'];
const MARK = 'tessera (built copy):';
let copy: string;

async function tessera(args: string[], env: NodeJS.ProcessEnv = {}) {
  return promisify(execFile)(process.execPath, [path.join(copy, 'bin', 'tessera.js'), ...args], {
    cwd: copy,
    env: { ...process.env, TESSERA_FROM_SOURCE: undefined, ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ ...error }),
  );
}

async function build(): Promise<void> {
  await promisify(execFile)(process.execPath, [path.join(copy, 'bin', 'build.js'), '--force'], { cwd: copy });
  const usage = path.join(copy, 'dist', 'cli', 'usage-text.js');
  fs.writeFileSync(
    usage,
    fs.readFileSync(usage, 'utf8').replace('tessera: CNN tile vectors', `${MARK} CNN tile vectors`),
  );
}

const ranBuilt = async () => (await tessera(['--help'])).stdout.startsWith(MARK);

before(async () => {
  copy = tempDir('cli-build');
  for (const name of APP) fs.cpSync(path.join(PROJECT_ROOT, name), path.join(copy, name), { recursive: true });
  fs.rmSync(path.join(copy, 'dist'), { recursive: true, force: true });
  fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(copy, 'node_modules'));
  await build();
});

test('a current build runs; a source touched with the same bytes keeps it; TESSERA_FROM_SOURCE=1 runs the TypeScript', async () => {
  assert.ok(await ranBuilt(), 'the build answered');
  const source = path.join(copy, 'lib', 'core', 'errors.ts');
  const later = new Date(Date.now() + 5_000);
  fs.utimesSync(source, later, later);
  assert.ok(await ranBuilt(), 'same bytes, newer mtime: still the build of these sources');
  const fromSource = await tessera(['--help'], { TESSERA_FROM_SOURCE: '1' });
  assert.match(fromSource.stdout, /^tessera: CNN tile vectors/);
});

test('a stale build never runs: a changed source (also one of the same size), a deleted one, a missing record', async () => {
  // Not a module of the workflow bundle's (test/unit/workflow-bundle.test.ts): each build then keeps it, in a second.
  const source = path.join(copy, 'lib', 'core', 'hashing.ts');
  const original = fs.readFileSync(source);
  fs.appendFileSync(source, '// changed\n');
  assert.ok(!(await ranBuilt()), 'a changed source: the TypeScript answers');
  await build();
  assert.ok(await ranBuilt(), 'built again: the build answers');

  const sameSize = Buffer.from(fs.readFileSync(source));
  sameSize[sameSize.length - 2] = 'X'.charCodeAt(0); // `// changeX`
  fs.writeFileSync(source, sameSize);
  assert.ok(!(await ranBuilt()), 'the same size, other bytes (a new mtime): hashed, and stale');
  fs.writeFileSync(source, original);
  await build();

  const thread = path.join(copy, 'lib', 'extract', 'decode-thread.ts');
  const threadSource = fs.readFileSync(thread);
  fs.rmSync(thread);
  assert.ok(!(await ranBuilt()), 'a source the build holds is gone');
  fs.writeFileSync(thread, threadSource);
  assert.ok(await ranBuilt(), 'written again (a new mtime) with the same bytes: hashed, current');
  fs.rmSync(path.join(copy, 'dist', 'build.json'));
  assert.ok(!(await ranBuilt()), 'no record: not a build to trust');
});

test('the build and the TypeScript answer a missing dataset alike, before anything starts, from the copy they belong to', async () => {
  await build();
  fs.mkdirSync(path.join(copy, 'data', 'images'), { recursive: true });
  fs.writeFileSync(path.join(copy, 'data', 'train.csv'), 'image_id,hotel_id\n');
  const answers = [];
  for (const env of [{}, { TESSERA_FROM_SOURCE: '1' }]) {
    for (const data of ['nope', 'data']) {
      const result = await tessera(['run', '--data', data, '--out', 'out'], env);
      assert.equal(result.code, 2);
      answers.push(result.stderr);
      assert.ok(!fs.existsSync(path.join(copy, 'out')), 'nothing written');
    }
  }
  assert.deepEqual(answers.slice(2), answers.slice(0, 2), 'the build and the TypeScript say the same');
  assert.deepEqual(answers.slice(0, 2), [
    `tessera run: dataset folder ${path.join(copy, 'nope')} does not exist or is not a folder\nTry 'tessera run --help' for its usage.\n`,
    // The copy has no models/: the default model is looked for in the copy, not in its dist/.
    `tessera run: model file ${path.join(copy, 'models', 'efficientnet-lite0.onnx')} does not exist\nTry 'tessera run --help' for its usage.\n`,
  ]);
});
