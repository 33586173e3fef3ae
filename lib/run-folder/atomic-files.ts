import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** fsyncs a directory so that a rename inside it survives a power loss. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Publishes a finished temporary file under its final name: rename, then fsync the folder. */
export async function publishFile(tempPath: string, finalPath: string): Promise<void> {
  await fs.rename(tempPath, finalPath);
  await fsyncDirectory(path.dirname(finalPath));
}

/**
 * A temporary name next to `file`, unique per call: two attempts of the same activity (a retry
 * while a presumed-dead worker still runs) never write into each other's file.
 */
export function uniqueTempPath(file: string): string {
  return `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
}

/** Whether `candidate` is a temporary file of `name` (`name.PID-HEX.tmp`, as uniqueTempPath names it). */
export function isTempOf(name: string, candidate: string): boolean {
  return candidate.startsWith(`${name}.`) && /^\.\d+-[0-9a-f]{8}\.tmp$/.test(candidate.slice(name.length));
}

/**
 * Removes every temporary file in `dir` whose name starts with `prefix` (`<prefix>*.tmp`): those
 * of attempts that died before their rename. `dir` must exist.
 */
export async function removeTempFilesIn(dir: string, prefix = ''): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith(prefix) && name.endsWith('.tmp')) await fs.rm(path.join(dir, name), { force: true });
  }
}

/** Removes the temporary files of these files of `dir` (see isTempOf), if `dir` exists. */
export async function removeTempFilesOf(dir: string, names: readonly string[]): Promise<void> {
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) {
    if (names.some((name) => isTempOf(name, entry))) await fs.rm(path.join(dir, entry), { force: true });
  }
}

/** Writes `content` to a unique temporary file, fsyncs it and renames it over `file`. */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const temp = uniqueTempPath(file);
  const handle = await fs.open(temp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await publishFile(temp, file);
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** For a process about to exit (a signal handler): atomic by rename, not fsynced. */
export function writeJsonAtomicSync(file: string, value: unknown): void {
  const temp = uniqueTempPath(file);
  fsSync.writeFileSync(temp, JSON.stringify(value, null, 2) + '\n');
  fsSync.renameSync(temp, file);
}

export async function readJsonIfExists(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
