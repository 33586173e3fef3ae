/**
 * The README's loading examples run as a user pastes them. A small embedded `tessera run` (as
 * cli.test.ts makes one) writes `runs/demo` under a temp folder, the examples' working directory,
 * and the fenced ```sql and ```python blocks under the README's "Load the vectors" heading run
 * there as written: the SQL through DuckDB (what the `duckdb` CLI runs), the Python with a Python
 * that has pyarrow, numpy and pandas, or the Python tests are skipped naming what they need.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { before, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { requireSetup, tempDir } from '../support/environment.ts';
import { TESSERA_BIN } from '../support/processes.ts';
import { configKeys, kebabCase } from '../../cli/run-options.ts';
import { workerFlags } from '../../cli/worker-options.ts';
import { runTargetFlags } from '../../cli/temporal-target.ts';
import { USAGE } from '../../cli/usage.ts';

const execFileAsync = promisify(execFile);

/** The README section whose examples this test runs, as the user reads it. */
const SECTION = '### Load the vectors';
const IMAGES = 12;
const CLASSES = 3;

interface Snippet {
  language: string;
  code: string;
}

/** The fenced blocks of one language between SECTION and the next heading of its level or above. */
function snippetsOf(markdown: string, language: string): Snippet[] {
  const start = markdown.indexOf(`\n${SECTION}\n`);
  assert.ok(start >= 0, `README.md has no "${SECTION}" heading`);
  const rest = markdown.slice(start + SECTION.length + 2);
  const end = rest.search(/^#{1,3} /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)]
    .filter((match) => match[1] === language)
    .map((match) => ({ language, code: match[2]! }));
}

const readme = fs.readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
let work: string;

/** A Python that imports what the examples import: TESSERA_DOCS_PYTHON, else python3. */
function examplesPython(): string | null {
  for (const candidate of [process.env.TESSERA_DOCS_PYTHON, 'python3']) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ['-c', 'import pyarrow, numpy, pandas'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  return null;
}

before(async () => {
  requireSetup();
  work = tempDir('docs-snippets');
  await generateSampleData({ dir: path.join(work, 'sample-data'), images: IMAGES, classes: CLASSES });
  const run = await execFileAsync(
    process.execPath,
    [TESSERA_BIN, 'run', '--quiet', '--data', 'sample-data', '--out', 'runs/demo', '--batch-size', '4'],
    { cwd: work, timeout: 180_000 },
  );
  assert.match(run.stdout, /tessera: done/);
  // A train-only run says why its validation images have no vectors.
  assert.match(
    run.stdout,
    /images +9 extracted of 9 \(validation: 3 held out by the split, not extracted: add --splits train,val\)/,
  );
});

test('the report, as the demo writes it, says the same of the held-out validation images', async () => {
  const { stdout } = await execFileAsync(process.execPath, [TESSERA_BIN, 'report', 'runs/demo'], { cwd: work });
  const page = fs.readFileSync(stdout.trim(), 'utf8');
  assert.match(page, /validation images held out by the split, not extracted: add --splits train,val/);
});

test('docs/cli.md has a section for every command and names every run option, worker flag and connection flag', () => {
  const cliDoc = fs.readFileSync(path.join(PROJECT_ROOT, 'docs', 'cli.md'), 'utf8');
  const flags = [
    ...configKeys.map(kebabCase),
    ...Object.keys(workerFlags),
    ...Object.keys(runTargetFlags),
    'config',
    'detach',
    'quiet',
    'verbose',
    'no-wait',
    'json',
  ];
  const missing = flags.filter((flag) => !new RegExp(`--${flag}(?![\\w-])`).test(cliDoc));
  assert.deepEqual(missing, [], 'flags docs/cli.md does not name');
  const commands = [...new Set([...USAGE.matchAll(/^ {2}tessera ([a-z-]+)/gm)].map((match) => match[1]!))];
  const undocumented = commands.filter((command) => !cliDoc.includes(`\n## tessera ${command}\n`));
  assert.deepEqual(undocumented, [], 'commands of the usage text without a section in docs/cli.md');
});

test('the README names its examples: SQL for DuckDB and Python for pyarrow/numpy and pandas', () => {
  assert.equal(snippetsOf(readme, 'sql').length, 1);
  assert.equal(snippetsOf(readme, 'python').length, 2);
  for (const { code } of [...snippetsOf(readme, 'sql'), ...snippetsOf(readme, 'python')])
    assert.match(code, /runs\/demo/, 'each example reads the demo output');
});

test("the README's DuckDB SQL runs as written on a run's output", async () => {
  const [sql] = snippetsOf(readme, 'sql');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  // Relative paths as in the README, from the folder the user pastes in (this file's process only).
  const cwd = process.cwd();
  process.chdir(work);
  try {
    const statements = await connection.extractStatements(sql!.code);
    const results: unknown[][][] = [];
    for (let k = 0; k < statements.count; k++)
      results.push((await (await statements.prepare(k)).runAndReadAll()).getRows());
    assert.equal(results.length, 2);
    const [perClass, firstImage] = results as [[number, bigint, bigint, bigint][], [number, string, number, number][]];
    const trainingImages = IMAGES - CLASSES; // one validation image per class, not extracted
    assert.equal(perClass.length, CLASSES, 'one row per class, every class present');
    assert.equal(
      perClass.reduce((sum, row) => sum + Number(row[2]), 0),
      trainingImages,
    );
    assert.equal(
      perClass.reduce((sum, row) => sum + Number(row[3]), 0),
      trainingImages * 64,
    );
    assert.deepEqual(
      firstImage.map((row) => [row[0], row[2], row[3]]),
      [
        [0, 0, 0],
        [1, 0, 1],
        [2, 0, 2],
      ],
    );
  } finally {
    process.chdir(cwd);
    connection.closeSync();
    instance.closeSync();
  }
});

for (const [index, expected] of [
  [0, /^\(\d+, 320\) \(9, 320\) 3 classes$/],
  [1, /^\(9, 320\) 3 images of class \d+$/],
] as const) {
  test(`the README's Python example ${index + 1} runs as written on a run's output`, async (t) => {
    const python = examplesPython();
    if (!python) {
      t.skip(
        'needs a Python with pyarrow, numpy and pandas: python3 -c "import pyarrow, numpy, pandas" fails here (pip install pyarrow numpy pandas, or set TESSERA_DOCS_PYTHON)',
      );
      return;
    }
    const snippet = snippetsOf(readme, 'python')[index]!;
    const { stdout } = await execFileAsync(python, ['-c', snippet.code], { cwd: work, timeout: 120_000 });
    assert.match(stdout.trim(), expected);
  });
}
