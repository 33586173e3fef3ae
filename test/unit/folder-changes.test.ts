import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { FolderChanges } from '../../lib/core/folder-changes.ts';
import { tempDir } from '../support/environment.ts';

// Each wait below is far longer than the test's timeout: only the change (or close) can end it.
const LONG = 60_000;

test(
  'a file renamed into the folder wakes a waiter at once (how a shard report is written)',
  { timeout: 20_000 },
  async () => {
    const folder = tempDir('folder-changes');
    const changes = new FolderChanges(folder);
    try {
      const woken = changes.next(LONG);
      fs.writeFileSync(path.join(folder, 'report.json.tmp'), '{}');
      fs.renameSync(path.join(folder, 'report.json.tmp'), path.join(folder, 'report.json'));
      await woken;
    } finally {
      changes.close();
    }
  },
);

test(
  'close wakes whoever waits; with nothing to watch, the time limit still ends the wait',
  { timeout: 20_000 },
  async () => {
    const changes = new FolderChanges(tempDir('folder-changes'));
    const waiting = changes.next(LONG);
    changes.close();
    await waiting;
    const nowhere = new FolderChanges(path.join(tempDir('folder-changes'), 'not-there'));
    await nowhere.next(10);
    nowhere.close();
  },
);
