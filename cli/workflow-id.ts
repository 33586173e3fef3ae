import { createHash } from 'node:crypto';
import path from 'node:path';

/** One workflow per output folder: the same command after a crash re-attaches to the same run. */
export function workflowIdForOutput(out: string): string {
  const absolute = path.resolve(out);
  const slug = path
    .basename(absolute)
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .slice(0, 40);
  return `tessera-${slug}-${createHash('sha256').update(absolute).digest('hex').slice(0, 12)}`;
}
