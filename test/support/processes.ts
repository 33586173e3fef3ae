import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Failpoint } from '../../lib/core/failpoints.ts';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';

export const TESSERA_BIN = path.join(PROJECT_ROOT, 'bin', 'tessera.js');

export interface TesseraProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  output(): string;
  /** SIGKILL to the process and everything it started (its own process group). */
  killHard(): Promise<void>;
}

/**
 * `node bin/tessera.js ARGS` as its own process group, optionally set to stop at a failpoint
 * (it writes `failpointDir/<name>` when it gets there) so the test can SIGKILL it at that moment.
 */
export function startTessera(
  args: string[],
  options: { failpoint?: Failpoint; failpointDir?: string; failpointShard?: number; cwd?: string } = {},
): TesseraProcess {
  const env = { ...process.env };
  if (options.failpoint) {
    env.TESSERA_FAILPOINT = options.failpoint;
    env.TESSERA_FAILPOINT_DIR = options.failpointDir;
    if (options.failpointShard !== undefined) env.TESSERA_FAILPOINT_SHARD = String(options.failpointShard);
  }
  const child = spawn(process.execPath, [TESSERA_BIN, ...args], {
    cwd: options.cwd ?? PROJECT_ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    async killHard() {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    },
  };
}

/**
 * Polls `check` until it holds. Fails with the watched process's output when that process exits
 * first, or when time runs out.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  options: { watched?: TesseraProcess; timeoutMs?: number } = {},
): Promise<void> {
  const { watched, timeoutMs = 120_000 } = options;
  const deadline = Date.now() + timeoutMs;
  const output = () => (watched ? `:\n${watched.output().slice(-3000)}` : '');
  while (!(await check())) {
    if (watched && (watched.child.exitCode !== null || watched.child.signalCode !== null))
      throw new Error(`process exited before ${what}${output()}`);
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until `file` exists; fails with the process's output when it exits first or time runs out. */
export function waitForFile(file: string, watched: TesseraProcess, timeoutMs = 120_000): Promise<void> {
  return waitUntil(() => fs.existsSync(file), path.basename(file), { watched, timeoutMs });
}

/** The live (not zombie) children of `pid`, from /proc (Linux): e.g. the servers a tessera process spawned. */
export function childProcesses(pid: number): { pid: number; argv: string[] }[] {
  const children: { pid: number; argv: string[] }[] = [];
  for (const name of fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== pid || state === 'Z') continue;
      children.push({
        pid: Number(name),
        argv: fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean),
      });
    } catch {
      // exited while being read
    }
  }
  return children;
}
