import fs from 'node:fs';

/** Facts about processes of this machine, read from /proc (Linux); elsewhere the checks degrade. */

export function readBootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

/** The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses). */
function procStat(pid: number): string[] | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function otherThreads(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).filter((task) => task !== String(pid)).length;
  } catch {
    return 0;
  }
}

/** Field 22 of /proc/PID/stat, the process's start time since boot; null without /proc. */
export function processStartTime(pid: number): string | null {
  return procStat(pid)?.[19] ?? null;
}

/**
 * Whether `pid` runs on this machine. A zombie whose threads are all gone counts as dead: it
 * holds no ports or files, and orphans are not always reaped (a container's init may not). With `start`, a process that got
 * the same pid later is not the one meant.
 */
export function processAlive(pid: number, start?: string | null): boolean {
  if (fs.existsSync('/proc/self/stat')) {
    const stat = procStat(pid);
    if (!stat || stat[0] === 'X') return false;
    // A killed multi-threaded process (Go's temporal) shows its main thread as a zombie while the
    // other threads still exit, holding its ports and files until the last one is gone.
    if (stat[0] === 'Z') return otherThreads(pid) > 0;
    return !start || stat[19] === start;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The argv of a live process on this machine, or null (gone, a zombie, or no /proc). */
export function processCommandLine(pid: number): string[] | null {
  try {
    const argv = fs
      .readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((arg) => arg !== '');
    return argv.length > 0 ? argv : null;
  } catch {
    return null;
  }
}
