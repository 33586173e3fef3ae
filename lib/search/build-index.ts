import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import type { Index } from 'usearch';
import { InputError } from '../core/errors.ts';
import { sha256File } from '../core/hashing.ts';
import { TESSERA_VERSION } from '../core/version.ts';
import { publishFile, uniqueTempPath } from '../run-folder/atomic-files.ts';
import { readRecord, writeRecord } from '../run-folder/records-io.ts';
import { ManifestSchema } from '../run-folder/records.ts';
import { estimateIndexBytes, newIndex, USEARCH_VERSION } from './ann-engine.ts';
import {
  IndexRecordSchema,
  IndexSettingsSchema,
  searchLayout,
  type IndexedImage,
  type IndexRecord,
  type IndexSettings,
} from './records.ts';
import { streamTilePages, vectorsFooter } from './tile-stream.ts';

/** A folder that holds no finished run, or no training vectors: nothing to index. */
export class NothingToIndexError extends InputError {
  override name = 'NothingToIndexError';
}

export interface BuildOptions {
  /** Told after every batch added (the activity heartbeats it; the CLI may print it). */
  onProgress?: (progress: { tiles: number; total: number }) => void;
  /** usearch's threads for adding (0: all cores). */
  threads?: number;
  /**
   * Tiles per call into usearch. Its calls hold this thread until they return: a batch of 8,192
   * takes well under a second here, so timers (heartbeats) run between batches.
   */
  batchTiles?: number;
  /** Memory the build may use, in bytes (default: what the system reports available). */
  availableBytes?: number;
}

export interface BuildResult {
  record: IndexRecord;
  /** False when the index on disk already held these vectors with these settings. */
  built: boolean;
}

const sameSettings = (a: IndexSettings, b: IndexSettings) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The finished run's manifest, its training vectors file as it is now (which file, how long, when
 * written: the build compares them after it), and their sha256, still being computed: a build
 * streams the file meanwhile, and only the check of an existing index waits for it.
 */
async function indexInputs(outFolder: string) {
  const layout = searchLayout(outFolder);
  const manifest = await readRecord(layout.manifest, ManifestSchema);
  if (!manifest) throw new NothingToIndexError(`${layout.out} holds no finished run (no manifest.json)`);
  const stat = await fs.stat(layout.vectors).catch(() => {
    throw new NothingToIndexError(`${layout.out} has no vectors.parquet (a run with --splits train) to index`);
  });
  const hashing = sha256File(layout.vectors);
  hashing.catch(() => {}); // awaited below; a build that fails first must not leave it unhandled
  return { layout, manifest, stat, hashing };
}

/** The same file with the same bytes, as far as the file system tells: same inode, size and mtime. */
const sameFile = (a: Stats, b: Stats) => a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

/**
 * Builds (or confirms) the index of a finished output's vectors.parquet, one entry per tile with
 * key `i`, streaming the vectors page by page and adding them in batches. The index is written
 * under a temporary name and published, then its record: an interrupted build leaves the
 * previous index and record (or none), never a record that names the wrong file. An index whose
 * record names the same vectors bytes and settings is kept as it is.
 */
export async function buildIndex(
  outFolder: string,
  requested: Partial<IndexSettings> = {},
  options: BuildOptions = {},
): Promise<BuildResult> {
  const settings = IndexSettingsSchema.parse(requested);
  const { layout, manifest, stat, hashing } = await indexInputs(outFolder);
  const existing = await readRecord(layout.indexRecord, IndexRecordSchema).catch(() => undefined);
  if (existing && sameSettings(existing.settings, settings) && existing.vectors.sha256 === (await hashing)) {
    const size = await fs.stat(layout.indexFile).then(
      (s) => s.size,
      () => -1,
    );
    if (size === existing.indexBytes) return { record: existing, built: false };
  }
  const { rows, width } = await vectorsFooter(layout.vectors);
  const dimensions = width / 4;
  const estimate = estimateIndexBytes(rows, dimensions, settings);
  const available = options.availableBytes ?? os.freemem();
  if (estimate > available)
    throw new InputError(
      `an index of ${rows} tiles × ${dimensions} dimensions at ${settings.precision} needs about ${gib(estimate)} ` +
        `of memory; ${gib(available)} is available (use --index-precision i8 or f16, or a machine with more memory)`,
    );
  const started = performance.now();
  const index = newIndex(dimensions, settings);
  const tiles = manifest.counts.tilesPerImage;
  const added = await addAllTiles(index, layout.vectors, rows, tiles, options);
  const vectorsSha256 = await hashing;
  // Hashed while it was streamed: the sha256 names the bytes indexed only if the file stayed as it was.
  if (!sameFile(stat, await fs.stat(layout.vectors)))
    throw new Error(`${layout.vectors} changed while it was indexed: build again`);

  await fs.mkdir(layout.indexDir, { recursive: true });
  const temp = uniqueTempPath(layout.indexFile);
  index.save(temp);
  await publishFile(temp, layout.indexFile);
  const record = await writeRecord(layout.indexRecord, IndexRecordSchema, {
    tessera: TESSERA_VERSION,
    engine: { name: 'usearch', version: USEARCH_VERSION },
    builtAt: new Date().toISOString(),
    seconds: (performance.now() - started) / 1000,
    vectors: { file: 'vectors.parquet', sha256: vectorsSha256, rows, bytes: stat.size },
    modelSha256: manifest.model.sha256,
    settings,
    dimensions,
    tilesPerImage: tiles,
    grid: added.grid,
    entries: index.size(),
    indexFile: 'index/tiles.usearch',
    indexBytes: (await fs.stat(layout.indexFile)).size,
    images: added.images,
  });
  return { record, built: true };
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** Streams every tile into the index in batches, yielding to the event loop between them. */
async function addAllTiles(
  index: Index,
  file: string,
  total: number,
  tiles: number,
  { onProgress, threads = os.availableParallelism(), batchTiles = 8192 }: BuildOptions,
): Promise<{ images: IndexedImage[]; grid: [number, number] }> {
  const images = new Map<number, IndexedImage>();
  let grid: [number, number] = [0, 0];
  let keys = new BigUint64Array(batchTiles);
  let vectors: Float32Array | undefined;
  let filled = 0;
  let done = 0;
  const flush = async () => {
    if (filled === 0 || !vectors) return;
    index.add(keys.subarray(0, filled), vectors.subarray(0, filled * index.dimensions()), threads);
    done += filled;
    filled = 0;
    onProgress?.({ tiles: done, total });
    await new Promise((resolve) => setImmediate(resolve));
  };
  for await (const page of streamTilePages(file)) {
    vectors ??= new Float32Array(batchTiles * page.dimensions);
    for (let row = 0; row < page.keys.length; row++) {
      const key = page.keys[row]!;
      const ordinal = Math.floor(key / tiles);
      if (!images.has(ordinal)) images.set(ordinal, [ordinal, page.files[row]!, page.targets[row]!]);
      grid = [Math.max(grid[0], page.xs[row]! + 1), Math.max(grid[1], page.ys[row]! + 1)];
      keys[filled] = BigInt(key);
      vectors.set(page.vectors.subarray(row * page.dimensions, (row + 1) * page.dimensions), filled * page.dimensions);
      if (++filled === batchTiles) await flush();
    }
  }
  await flush();
  keys = new BigUint64Array(0);
  if (grid[0] * grid[1] !== tiles)
    throw new InputError(`${file}: a ${grid[0]}×${grid[1]} grid does not make the manifest's ${tiles} tiles per image`);
  return { images: [...images.values()].sort((a, b) => a[0] - b[0]), grid };
}
