// docs/search.md tells people who query the index elsewhere to open index/tiles.usearch with
// usearch's own Python package at the same version (infra/requirements.txt pins it). This checks
// that it does: a real run's index (the default model on generated images, built by the run's
// --index stage), read back by bench/reference/read_index.py as the docs show, holds every tile,
// says its own settings, stores the vectors of vectors.parquet at f16, and answers the same 10
// nearest tiles as tessera's search of the same file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'node:test';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { annNeighbours, USEARCH_VERSION } from '../../lib/search/ann-engine.ts';
import { openIndex } from '../../lib/search/open-index.ts';
import { streamTilePages } from '../../lib/search/tile-stream.ts';
import { PYTHON, requireSetup, tempDir } from '../support/environment.ts';
import { startTessera } from '../support/processes.ts';

const run = promisify(execFile);

interface ReadBack {
  usearch: string;
  size: number;
  ndim: number;
  metric: string;
  dtype: string;
  all_keys_present: boolean;
  max_stored_error: number;
  queries: number[];
  neighbours: number[][];
  distances: number[][];
}

/** The float32 vectors of the given keys, in that order, from vectors.parquet. */
async function vectorsOf(file: string, keys: number[]): Promise<Float32Array> {
  const wanted = new Map(keys.map((key, at) => [key, at]));
  let found: Float32Array | undefined;
  for await (const page of streamTilePages(file)) {
    found ??= new Float32Array(keys.length * page.dimensions);
    page.keys.forEach((key, row) => {
      const at = wanted.get(key);
      if (at !== undefined)
        found!.set(page.vectors.subarray(row * page.dimensions, (row + 1) * page.dimensions), at * page.dimensions);
    });
  }
  return found!;
}

test("usearch's own Python package reads tessera's index: every tile, its settings, its vectors, the same neighbours", async () => {
  requireSetup('model', 'temporal', 'python');
  const dir = tempDir('python-index');
  const data = path.join(dir, 'data');
  const out = path.join(dir, 'out');
  await generateSampleData({ dir: data, images: 24, classes: 3 });
  const tessera = startTessera(['run', '--data', data, '--out', out, '--index', '--quiet']);
  assert.equal(await tessera.exited, 0, tessera.output());

  const { stdout } = await run(PYTHON, [path.join(PROJECT_ROOT, 'bench', 'reference', 'read_index.py'), out]);
  const read = JSON.parse(stdout) as ReadBack;
  const opened = await openIndex(out);
  const { record } = opened;
  assert.equal(read.usearch, USEARCH_VERSION, 'the Python package at the npm package’s version');
  assert.equal(read.size, record.entries);
  assert.equal(read.ndim, record.dimensions);
  assert.deepEqual([read.metric, read.dtype], ['Cos', 'F16'], 'the default settings, from the file itself');
  assert.ok(read.all_keys_present, 'every i of vectors.parquet is a key');
  assert.ok(read.max_stored_error < 1e-3, `stored vectors within f16 of the float32 ones: ${read.max_stored_error}`);

  const queries = await vectorsOf(opened.layout.vectors, read.queries);
  const ours = annNeighbours(opened.index, queries, 10);
  assert.deepEqual(
    ours.keys.map((keys) => [...keys]),
    read.neighbours,
    'the same 10 nearest tiles, in the same order',
  );
  ours.distances.forEach((distances, q) =>
    distances.forEach((d, n) => assert.ok(Math.abs(d - read.distances[q]![n]!) < 1e-6, `query ${q}, neighbour ${n}`)),
  );
});
