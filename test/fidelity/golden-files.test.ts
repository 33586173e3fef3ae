/**
 * The golden files `npm test` compares tessera with (test/fixtures/golden/) are what pandas and
 * PyTorch make today: infra/make-golden.sh runs again with the torch environment into a temp
 * folder, and its files must agree with the committed ones (the split's bytes exactly; the
 * features, committed from onnxruntime on the exported model, within 1e-4 of PyTorch's).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { before, test } from 'node:test';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { requireSetup, tempDir } from '../support/environment.ts';
import { readNotebookFeatures, referenceRows } from '../support/notebook-golden.ts';
import { SPLIT_GOLDEN, SplitGoldenSchema } from '../support/split-golden.ts';

const run = promisify(execFile);
let fresh: string;

before(async () => {
  requireSetup('python');
  fresh = tempDir('golden');
  await run('bash', [path.join(PROJECT_ROOT, 'infra', 'make-golden.sh'), fresh, '--features-engine', 'torch'], {
    timeout: 600_000,
    maxBuffer: 1 << 24,
  });
});

const readSplit = (file: string) => SplitGoldenSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));

test('pandas splits every case as the committed split-pandas.json says, byte for byte', () => {
  assert.deepEqual(readSplit(path.join(fresh, 'split-pandas.json')).cases, readSplit(SPLIT_GOLDEN).cases);
});

test('PyTorch computes the committed notebook features of the default model, within 1e-4', () => {
  const committed = readNotebookFeatures();
  const regenerated = readNotebookFeatures(path.join(fresh, 'notebook-features.json'));
  assert.match(regenerated.engine, /^torch /);
  assert.equal(regenerated.modelSha256, committed.modelSha256);
  assert.deepEqual(Object.keys(regenerated.levels).sort(), Object.keys(committed.levels).sort());
  for (const level of Object.keys(committed.levels).map(Number)) {
    const [ours, theirs] = [referenceRows(committed, level), referenceRows(regenerated, level)];
    assert.deepEqual(
      ours.map(({ file, x, y, target }) => [file, x, y, target]),
      theirs.map(({ file, x, y, target }) => [file, x, y, target]),
      `level ${level}: the same tiles`,
    );
    ours.forEach((row, r) => {
      const other = theirs[r]!.vector;
      let [scale, diff] = [0, 0];
      for (let k = 0; k < other.length; k++) {
        scale = Math.max(scale, Math.abs(other[k]!));
        diff = Math.max(diff, Math.abs(row.vector[k]! - other[k]!));
      }
      assert.ok(diff <= 1e-4 * scale, `level ${level} ${row.file} (${row.x}, ${row.y}): ${diff} against ${scale}`);
    });
  }
});
