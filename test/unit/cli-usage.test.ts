import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRunConfig, UsageError } from '../../cli/run-options.ts';
import { nearestFlag, parseCommandArgs, usageOf } from '../../cli/usage.ts';

const usageError = (pattern: RegExp) => (error: Error) => error instanceof UsageError && pattern.test(error.message);

test('a mistyped flag names the nearest known one, and the message is that alone (main adds one line pointing to --help)', () => {
  const options = {
    'batch-size': { type: 'string' },
    'shard-size': { type: 'string' },
    quiet: { type: 'boolean' },
  } as const;
  assert.throws(
    () => parseCommandArgs('run', ['--batchsize', '3'], options),
    usageError(/^unknown flag --batchsize: did you mean --batch-size\?$/),
  );
  assert.throws(() => parseCommandArgs('run', ['--colour', 'red'], options), usageError(/^unknown flag --colour$/));
  assert.throws(() => parseCommandArgs('run', ['--batch-size'], options), usageError(/^--batch-size needs a value$/));
  assert.deepEqual(
    { ...parseCommandArgs('run', ['--quiet', '--shard-size', '8'], options).values },
    { quiet: true, 'shard-size': '8' },
  );
});

test('nearest flags: close typos only', () => {
  assert.equal(nearestFlag('--allow-rot', ['allow-root', 'address']), 'allow-root');
  assert.equal(nearestFlag('--Seed', ['seed', 'splits']), 'seed');
  assert.equal(nearestFlag('--colour', ['seed', 'splits', 'normalize']), undefined);
});

test("each command's usage is its own block of the help text", () => {
  assert.match(usageOf('status'), /^ {2}tessera status \(--out DIR \| --workflow-id ID\)/);
  assert.doesNotMatch(usageOf('status'), /tessera cancel/);
  assert.match(usageOf('worker'), /--allow-root DIR {2}required/);
  // run's usage lists every run option with its default, from the config schema.
  const run = usageOf('run');
  for (const line of [
    '--data TEXT  (required)',
    '--img-size N  (default 256)',
    '--normalize none|imagenet  (default none)',
    '--splits train[,val]  (default train)',
    '--output N|NAME  (default 4)',
    '--force  (default false)',
  ]) {
    assert.ok(run.includes(line), line);
  }
});

test('required run options say so, by flag', () => {
  assert.throws(
    () => buildRunConfig({ out: '/tmp/out' }, undefined),
    usageError(/^--data is required \(or "data" in --config\)$/),
  );
  assert.throws(() => buildRunConfig({}, undefined), usageError(/^--data is required; --out is required/));
});
