import { watch, type FSWatcher } from 'node:fs';

/**
 * Waits for a change in a folder (a file created, renamed or written there) or a time limit,
 * whichever comes first: a poller that wakes at once where the filesystem sends change events
 * and still polls where it sends none (network filesystems).
 */
export class FolderChanges {
  private readonly waiting = new Set<() => void>();
  private readonly watcher: FSWatcher | undefined;

  constructor(folder: string) {
    try {
      this.watcher = watch(folder, { persistent: false }, () => this.wakeAll());
      this.watcher.on('error', () => this.close());
    } catch {
      this.watcher = undefined; // no change events here: polling only
    }
  }

  /** Resolves at the next change, or after `ms`. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiting.add(wake);
    });
  }

  close(): void {
    this.watcher?.close();
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const wake of [...this.waiting]) wake();
  }
}
