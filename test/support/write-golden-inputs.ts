/**
 * Writes the inputs infra/make_golden.py turns into golden files: each split case's CSV as
 * DIR/split/<name>/train.csv, and DIR/split/cases.json naming them with their valSamples and seed.
 *
 *     node --import tsx test/support/write-golden-inputs.ts DIR
 */
import fs from 'node:fs';
import path from 'node:path';
import { splitCases } from './split-cases.ts';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node --import tsx test/support/write-golden-inputs.ts DIR\n');
  process.exit(2);
}
const cases = splitCases();
for (const { name, csv } of cases) {
  fs.mkdirSync(path.join(dir, 'split', name), { recursive: true });
  fs.writeFileSync(path.join(dir, 'split', name, 'train.csv'), csv());
}
fs.writeFileSync(
  path.join(dir, 'split', 'cases.json'),
  JSON.stringify(cases.map(({ name, valSamples, seed }) => ({ name, valSamples, seed }))),
);
