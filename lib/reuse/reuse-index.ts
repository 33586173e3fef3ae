import fs from 'node:fs/promises';
import path from 'node:path';
import type { Split } from '../core/run-config.ts';
import { outputLayout } from '../run-folder/layout.ts';
import type { ExtractionKey } from '../run-folder/records.ts';
import { openReuseSource, reuseLookupKey, type ReuseSource } from './reuse-source.ts';

export interface ReuseHit {
  source: ReuseSource;
  sourceOrdinal: number;
}

/** The verified sources of one split under one extraction key, in the order given (the first that has an image serves it). */
export class ReuseIndex {
  constructor(readonly sources: readonly ReuseSource[]) {}

  /** What a source recorded of an object it read (sha256 and ETag), for a HEAD instead of a download. */
  recorded(imageId: string): { sha256: string; tag: string } | undefined {
    for (const source of this.sources) {
      const hashed = source.hashed.get(imageId);
      if (hashed) return hashed;
    }
    return undefined;
  }

  find(split: Split, sha256: string, imageId: string): ReuseHit | undefined {
    const lookup = reuseLookupKey(split, sha256, imageId);
    for (const source of this.sources) {
      const sourceOrdinal = source.ordinals.get(lookup);
      if (sourceOrdinal !== undefined) return { source, sourceOrdinal };
    }
    return undefined;
  }
}

/** The sources that pass verification; the run's planReuse has already told the user why the others do not. */
export async function openReuseIndex(
  folders: readonly string[],
  split: Split,
  key: ExtractionKey,
  out: string,
): Promise<ReuseIndex> {
  const sources: ReuseSource[] = [];
  for (const folder of new Set(folders.map((f) => path.resolve(f)))) {
    if (folder === path.resolve(out)) continue; // a run never reads the vectors it is replacing
    const opened = await openReuseSource(folder, split, key);
    if ('source' in opened) sources.push(opened.source);
  }
  return new ReuseIndex(sources);
}

/**
 * A worker's reuse indexes, kept between the shards of a run (a source's lineage is read once,
 * not once per shard) and opened afresh when a source's manifest changes. The two latest are kept:
 * one per split of the current run.
 */
export class ReuseIndexes {
  private readonly indexes = new Map<string, Promise<ReuseIndex>>();

  async get(folders: readonly string[], split: Split, key: ExtractionKey, out: string): Promise<ReuseIndex> {
    const stamps = await Promise.all(
      folders.map((folder) =>
        fs.stat(outputLayout(folder).manifest).then(
          (s) => `${s.mtimeMs}:${s.size}`,
          () => 'none',
        ),
      ),
    );
    const id = JSON.stringify([folders, stamps, split, key, out]);
    let index = this.indexes.get(id);
    if (!index) {
      index = openReuseIndex(folders, split, key, out);
      index.catch(() => this.indexes.delete(id));
      this.indexes.set(id, index);
      for (const old of [...this.indexes.keys()].slice(0, -2)) this.indexes.delete(old);
    }
    return index;
  }
}
