import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../core/errors.ts';
import type { Body, ObjectStore, StoredObject, WriteResult } from './object-store.ts';

const tagOf = (stats: fs.Stats) => `${stats.size}-${Math.round(stats.mtimeMs * 1000)}-${stats.ino}`;
const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/** A folder on local disk (or a mounted volume) as an object store. */
export class LocalStore implements ObjectStore {
  constructor(readonly root: string) {}

  describe(key: string): string {
    return this.pathOf(key);
  }

  /** The file of `key`; keys never climb out of the root. */
  pathOf(key: string): string {
    const file = path.resolve(this.root, ...key.split('/'));
    const relative = path.relative(this.root, file);
    if (relative.startsWith('..') || path.isAbsolute(relative))
      throw new InputError(`${key}: outside the folder ${this.root}`);
    return file;
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    try {
      return await fs.promises.readFile(this.pathOf(key));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const handle = await fs.promises.open(this.pathOf(key), 'r');
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const stats = await fs.promises.stat(this.pathOf(key));
      return stats.isFile() ? { key, size: stats.size, tag: tagOf(stats) } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const files: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return;
        throw error;
      }
      for (const entry of entries) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(file);
        else if (entry.isFile()) files.push(path.relative(this.root, file).split(path.sep).join('/'));
      }
    };
    await walk(this.root);
    for (const key of files.filter((key) => key.startsWith(prefix)).sort()) {
      const found = await this.stat(key);
      if (found) yield found;
    }
  }

  /** A temp file beside the target, fsynced, then renamed over it: readers see old or new, whole. */
  async write(key: string, body: Body): Promise<WriteResult> {
    const file = this.pathOf(key);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    const hash = createHash('sha256');
    const handle = await fs.promises.open(temp, 'w');
    try {
      for await (const chunk of body instanceof Uint8Array ? [body] : body) {
        hash.update(chunk);
        await handle.write(chunk);
      }
      await handle.sync();
    } catch (error) {
      await handle.close();
      await fs.promises.rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    await fs.promises.rename(temp, file);
    const stats = await fs.promises.stat(file);
    return { size: stats.size, tag: tagOf(stats), sha256: hash.digest('hex') };
  }

  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.pathOf(key), { force: true });
  }
}
