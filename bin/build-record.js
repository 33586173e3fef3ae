// What proves that something built (dist/'s JavaScript, dist/'s workflow bundle) is still the build
// of the files it was made from: each file's size, mtime and sha256 when it was read. Plain
// JavaScript, shared by bin/build.js and bin/workflow-bundle.js: it runs before anything can load
// TypeScript.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** node:crypto loads only when a file must be hashed: a start whose files all match skips it. */
export const sha256 = (bytes) => require('node:crypto').createHash('sha256').update(bytes).digest('hex');

/** The record of `bytes` read from a file whose stat, taken before the read, is `stat`. */
export const fileRecord = (stat, bytes) => ({ size: bytes.length, mtimeMs: stat.mtimeMs, sha256: sha256(bytes) });

/**
 * The first of `sources` (file → its record, paths relative to `root` or absolute) that is not as
 * recorded, or undefined when all are. A file whose size or mtime differs from the record is
 * hashed, so one touched or checked out again with the same bytes still matches, and one whose
 * bytes changed never does. A stat per file; hashing only for those touched.
 */
export function changedSource(root, sources) {
  for (const [file, built] of Object.entries(sources)) {
    const source = path.resolve(root, file);
    let stat;
    try {
      stat = fs.statSync(source);
    } catch {
      return file; // gone
    }
    if (stat.size !== built.size) return file;
    if (stat.mtimeMs !== built.mtimeMs && sha256(fs.readFileSync(source)) !== built.sha256) return file;
  }
  return undefined;
}
