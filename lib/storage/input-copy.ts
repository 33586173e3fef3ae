import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../core/errors.ts';
import { sha256Bytes, sha256File } from '../core/hashing.ts';
import { isUri } from '../core/uri.ts';
import { parseLocation } from './location.ts';
import type { Stores } from './open-store.ts';

/** An input file on local disk: the file itself, or a copy of an object in this worker's temp folder. */
export interface LocalCopy {
  /** Where to read it. */
  file: string;
  /** How messages name it: the path or URI the user gave. */
  name: string;
  /** Removes the copy (nothing for a local file). */
  remove(): Promise<void>;
}

function s3LocationOf(name: string) {
  const location = isUri(name) ? parseLocation(name) : undefined;
  return location?.kind === 's3' ? location : undefined;
}

/**
 * `name` readable as a local file. An object (the input CSV under an s3:// data prefix) is
 * downloaded once into a temp folder of this worker's own: passes over it then read one version,
 * however the object changes meanwhile. `what` names it in errors ("input CSV").
 */
export async function localCopy(name: string, stores: Stores, what: string): Promise<LocalCopy> {
  const location = s3LocationOf(name);
  if (!location) return { file: name, name, remove: async () => {} };
  const bytes = await stores.openS3(location).read('');
  if (bytes === undefined) throw new InputError(`${what} ${name} does not exist`);
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'tessera-input-'));
  const file = path.join(folder, path.posix.basename(location.key) || 'object');
  await fs.writeFile(file, bytes);
  return { file, name, remove: () => fs.rm(folder, { recursive: true, force: true }) };
}

/** The sha256 of the input `name` now (a file or an object), or null when it cannot be read. */
export async function sha256OfInput(name: string, stores: Stores): Promise<string | null> {
  const location = s3LocationOf(name);
  if (!location) return sha256File(name).catch(() => null);
  // A missing object is null, as a missing file is; the store failing is not a change: it throws.
  const bytes = await stores.openS3(location).read('');
  return bytes === undefined ? null : sha256Bytes(bytes);
}
