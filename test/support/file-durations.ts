/**
 * Each test file's time in a suite run, longest first, with their sum: test/run-suite.ts adds this
 * node:test reporter beside the spec report (whose lines name tests, not files) and writes its
 * table to .test-artifacts/test-durations.txt. A file's time is its process's, start to end, as
 * the runner reports it. Node loads a reporter without tsx's loader, so the reporter is written
 * out as plain JavaScript.
 */
import fs from 'node:fs';
import path from 'node:path';

const REPORTER = `import path from 'node:path';
export default async function* fileDurations(source) {
  const rows = [];
  for await (const { type, data } of source) {
    if (type === 'test:complete' && data.file && data.name === data.file)
      rows.push([path.relative(process.cwd(), data.file), (data.details?.duration_ms ?? 0) / 1000]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  for (const [file, s] of rows) yield s.toFixed(1).padStart(8) + ' s  ' + file + '\\n';
  const total = rows.reduce((sum, [, s]) => sum + s, 0);
  yield total.toFixed(1).padStart(8) + ' s  all ' + rows.length + ' files (summed; files run at once overlap)\\n';
}
`;

/** Writes the reporter into `folder`; returns the runner's flags for it, its table going to `table`. */
export function fileDurationsReporter(folder: string, table: string): string[] {
  const file = path.join(folder, 'file-durations-reporter.mjs');
  fs.writeFileSync(file, REPORTER);
  return [`--test-reporter=${file}`, `--test-reporter-destination=${table}`];
}
