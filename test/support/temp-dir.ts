import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Folders made by tempDir in this test process: removed when it exits after its tests passed. */
const madeFolders: string[] = [];

/**
 * A new folder under the system's temp folder. When the test file's process ends with its tests
 * passed, the folder goes with it (hundreds of runs' outputs once filled this machine's disk);
 * a failing file keeps its folders for inspection and names them.
 */
export function tempDir(prefix: string): string {
  if (madeFolders.length === 0) process.once('exit', removeMadeFolders);
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), `tessera-${prefix}-`));
  madeFolders.push(folder);
  return folder;
}

function removeMadeFolders(code: number): void {
  if (code !== 0 || process.env.TESSERA_KEEP_TEST_DIRS) {
    process.stderr.write(`kept for inspection: ${madeFolders.join(', ')}\n`);
    return;
  }
  for (const folder of madeFolders) fs.rmSync(folder, { recursive: true, force: true, maxRetries: 3 });
}
