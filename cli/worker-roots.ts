import fs from 'node:fs';
import path from 'node:path';
import { ALLOW_ROOTS_ENV, rootsFromEnv } from '../lib/run-folder/confinement.ts';
import { isUri } from '../lib/core/uri.ts';
import { formatLocation, parseLocation } from '../lib/storage/location.ts';
import { UsageError } from './run-options.ts';

/**
 * The folders `tessera worker` serves: --allow-root and TESSERA_ALLOW_ROOTS together. None at
 * all is a usage error, not a default such as the working directory (often / or the install
 * folder): anyone who reaches the Temporal frontend chooses a run's paths, so what a worker
 * exposes must be its operator's explicit choice. Each must be an existing folder, so that a
 * typo stops the worker now instead of showing later as every run being refused. An object-store
 * prefix (`s3://bucket/prefix`, for datasets) is checked for its form; the store is asked by the run.
 */
export function workerRoots(flags: readonly string[], env: string | undefined): string[] {
  const given = [...flags, ...rootsFromEnv(env)];
  const uris = given.filter(isUri).map((uri) => {
    try {
      return formatLocation(parseLocation(uri));
    } catch (error) {
      throw new UsageError(`allowed root ${uri}: ${(error as Error).message}`);
    }
  });
  const roots = given.filter((dir) => !isUri(dir)).map((dir) => path.resolve(dir));
  if (roots.length === 0 && uris.length === 0) {
    throw new UsageError(
      `no folder to serve: give --allow-root DIR (repeatable) or ${ALLOW_ROOTS_ENV}=DIR${path.delimiter}DIR, ` +
        "the folders holding the runs' data, outputs and models (tessera's own models folder is always allowed for the model)",
    );
  }
  for (const root of roots) {
    if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
      throw new UsageError(
        `allowed root ${root} (--allow-root or ${ALLOW_ROOTS_ENV}) does not exist or is not a folder`,
      );
    }
  }
  return [...roots, ...uris];
}
