import path from 'node:path';
import type { RunConfig } from '../lib/core/run-config.ts';

/** The one line the Temporal UI shows for a run in its workflow list and on the run's page. */
export function runStaticSummary(config: RunConfig): string {
  return `tessera: tile vectors of ${path.basename(config.data)} → ${config.out}`;
}

/** The run's options as a Markdown table on the run's page in the Temporal UI. */
export function runStaticDetails(config: RunConfig): string {
  const rows = Object.entries(config).map(
    ([key, value]) => `| ${key} | \`${Array.isArray(value) ? value.join(',') : String(value)}\` |`,
  );
  return ['| option | value |', '| --- | --- |', ...rows].join('\n');
}
