import fs from 'node:fs';
import path from 'node:path';

/**
 * Named points where a test can crash a worker at an exact moment with a real SIGKILL. With
 * `TESSERA_FAILPOINT=<name>` and `TESSERA_FAILPOINT_DIR=<dir>` in its environment, a process that
 * reaches the point writes `<dir>/<name>` (holding its pid) and waits there to be killed.
 * `TESSERA_FAILPOINT_SHARD=<n>` limits a shard's points to shards numbered n or more, so a run can
 * be stopped after some shards are finished. Without those variables a failpoint does nothing.
 */
export type Failpoint =
  'extract-first-batch' | 'extract-mid-shard' | 'extract-before-rename' | 'extract-after-rename' | 'compact-mid';

export async function failpoint(name: Failpoint, shard?: number): Promise<void> {
  if (process.env.TESSERA_FAILPOINT !== name) return;
  if (shard !== undefined && shard < Number(process.env.TESSERA_FAILPOINT_SHARD ?? 0)) return;
  const dir = process.env.TESSERA_FAILPOINT_DIR;
  if (!dir) throw new Error('TESSERA_FAILPOINT needs TESSERA_FAILPOINT_DIR');
  fs.writeFileSync(path.join(dir, name), String(process.pid));
  await new Promise<never>(() => {});
}
