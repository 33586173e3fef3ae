import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationFlag, UsageError } from '../../cli/run-options.ts';

test('duration flags: ms-format durations become milliseconds; anything else is a usage error naming the flag', () => {
  assert.equal(durationFlag('every', '24h'), 86_400_000);
  assert.equal(durationFlag('every', '90s'), 90_000);
  assert.equal(durationFlag('catchup-window', '1 day'), 86_400_000);
  assert.equal(durationFlag('shutdown-grace', '0', { allowZero: true }), 0);
  assert.throws(
    () => durationFlag('every', 'daily'),
    (error: Error) => error instanceof UsageError && /--every must be a duration/.test(error.message),
  );
  assert.throws(() => durationFlag('every', '0s'), /--every must be longer than 0/);
  assert.throws(() => durationFlag('every', '-5m'), /--every must be longer than 0/);
});
