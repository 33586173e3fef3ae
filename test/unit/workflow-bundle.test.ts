import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { prebuiltWorkflowBundle, writeWorkflowBundle } from '../../bin/workflow-bundle.js';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { workflowCode } from '../../workers/workflow-bundle.ts';
import { tempDir } from '../support/temp-dir.ts';

/**
 * The prebuilt workflow bundle (bin/workflow-bundle.js) runs only while every file it was made
 * from is as its record says; otherwise a worker bundles workflows/ again (workers/workflow-bundle.ts).
 * Checked on a copy of the app (its workflows/, lib/ and bin/, the checkout's node_modules linked),
 * so that this checkout's own dist/ is left alone.
 */
const APP = ['bin', 'lib', 'workflows', 'package.json'];
let copy: string;

const stale = () => {
  const found = prebuiltWorkflowBundle(copy);
  return 'stale' in found ? found.stale : undefined;
};

/** Runs `change` on `file` (relative to the copy), then puts its bytes back (a newer mtime: hashed, not trusted by date). */
function whileChanged(file: string, change: (full: string) => void, check: () => void): void {
  const full = path.join(copy, file);
  const original = fs.existsSync(full) ? fs.readFileSync(full) : undefined;
  change(full);
  try {
    check();
  } finally {
    if (original) fs.writeFileSync(full, original);
    else fs.rmSync(full);
  }
}

before(async () => {
  copy = tempDir('workflow-bundle');
  for (const name of APP) fs.cpSync(path.join(PROJECT_ROOT, name), path.join(copy, name), { recursive: true });
  fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(copy, 'node_modules'));
  fs.mkdirSync(path.join(copy, 'dist'));
  assert.equal(await writeWorkflowBundle(copy, path.join(copy, 'dist')), true, 'no bundle yet: bundled');
});

test('a current bundle is used: its record names the workflow sources, what they import and the SDK it was made with', async () => {
  const found = prebuiltWorkflowBundle(copy);
  assert.ok('code' in found, JSON.stringify(found));
  assert.equal(found.code, fs.readFileSync(path.join(copy, 'dist', 'workflow-bundle.js'), 'utf8'));
  const sources = Object.keys(found.record.sources).map((file) => path.relative(copy, path.resolve(copy, file)));
  for (const file of [
    'workflows/extract-vectors.ts',
    'workflows/workflow-code.ts',
    'lib/core/run-config.ts',
    'node_modules/@temporalio/workflow/package.json',
    'node_modules/@temporalio/worker/package.json',
    'bin/workflow-bundle.js',
  ])
    assert.ok(
      sources.some((source) => source === file || source.endsWith(`/${file}`)),
      `${file} is in the record`,
    );
  assert.ok(!sources.includes('lib/dev/dev-server.ts'), 'a module workflows do not import is not');
  const later = new Date(Date.now() + 5_000);
  fs.utimesSync(path.join(copy, 'workflows', 'extract-vectors.ts'), later, later);
  assert.equal(stale(), undefined, 'touched with the same bytes: hashed, still current');
  assert.equal(await writeWorkflowBundle(copy, path.join(copy, 'dist')), false, 'a build keeps a current bundle');
  const loaded = await workflowCode(copy);
  assert.equal(loaded.code, found.code);
  assert.equal(loaded.bundledNow, undefined);
});

test('a stale bundle is never used: a changed workflow source or module it imports, a file appearing where the bundler looked, a changed bundle, no record', () => {
  whileChanged(
    'workflows/lanes.ts',
    (file) => fs.appendFileSync(file, '// changed\n'),
    () => assert.equal(stale(), 'workflows/lanes.ts changed since the bundle was built'),
  );
  whileChanged(
    'lib/core/uri.ts',
    (file) => {
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 2] = bytes[bytes.length - 2] === 0x20 ? 0x09 : 0x20; // same size, other bytes
      fs.writeFileSync(file, bytes);
    },
    () => assert.equal(stale(), 'lib/core/uri.ts changed since the bundle was built'),
  );
  whileChanged(
    'lib/dev/dev-server.ts',
    (file) => fs.appendFileSync(file, '// changed\n'),
    () => assert.equal(stale(), undefined, 'a module the workflows do not import changes nothing'),
  );
  whileChanged(
    'workflows/package.json',
    (file) => fs.writeFileSync(file, '{"type": "commonjs"}\n'),
    () => assert.equal(stale(), 'workflows/package.json appeared since the bundle was built'),
  );
  whileChanged(
    'dist/workflow-bundle.js',
    (file) => fs.appendFileSync(file, ';'),
    () => assert.equal(stale(), 'dist/workflow-bundle.js is not the bundle its record describes'),
  );
  whileChanged(
    'dist/workflow-bundle.json',
    (file) => fs.rmSync(file),
    () => assert.match(stale() ?? '', /^no dist\/workflow-bundle.json/),
  );
  assert.equal(stale(), undefined, 'every file back as it was: current again');
});

test('with the bundle stale, the worker bundles the workflow code as it is now: its code version, the one its memo records, is the new one', async () => {
  const versionFile = path.join(copy, 'workflows', 'workflow-code.ts');
  const original = fs.readFileSync(versionFile, 'utf8');
  assert.match(original, /WORKFLOW_CODE_VERSION = \d+;/);
  fs.writeFileSync(versionFile, original.replace(/WORKFLOW_CODE_VERSION = \d+;/, 'WORKFLOW_CODE_VERSION = 987654;'));
  try {
    const loaded = await workflowCode(copy);
    assert.equal(loaded.bundledNow?.reason, 'workflows/workflow-code.ts changed since the bundle was built');
    assert.match(loaded.code, /WORKFLOW_CODE_VERSION = 987654/);
    assert.doesNotMatch(fs.readFileSync(path.join(copy, 'dist', 'workflow-bundle.js'), 'utf8'), /987654/);
  } finally {
    fs.writeFileSync(versionFile, original);
  }
});
