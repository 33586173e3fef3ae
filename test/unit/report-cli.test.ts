import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reportCommand } from '../../cli/report-command.ts';
import { UsageError } from '../../cli/run-options.ts';
import { USAGE, usageOf } from '../../cli/usage.ts';

const usageError = (pattern: RegExp) => (error: Error) => error instanceof UsageError && pattern.test(error.message);

test('`tessera report` has its own usage block in the help text', () => {
  assert.match(USAGE, /\n {2}tessera report OUT \[--html FILE\] \[--sample N\]\n/);
  assert.match(usageOf('report'), /^ {2}tessera report OUT .*\n {6}Writes OUT\/report\.html/);
  assert.doesNotMatch(usageOf('report'), /tessera (run|status|dev) /);
});

test('`tessera report` needs exactly one folder and a whole --sample', async () => {
  await assert.rejects(reportCommand([]), usageError(/^needs the output folder of a finished run$/));
  await assert.rejects(reportCommand(['a', '--out', 'b']), usageError(/^takes one output folder, got a, b$/));
  await assert.rejects(
    reportCommand(['a', '--sample', '0']),
    usageError(/^--sample 0: expected a whole number of images, at least 1$/),
  );
  await assert.rejects(
    reportCommand(['a', '--smaple', '3']),
    usageError(/^unknown flag --smaple: did you mean --sample\?/),
  );
});
